package agent

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/agent/cri"
	"github.com/navarch/navarch/internal/agent/volume"
)

// withVolumes gives the harness's syncer a volume manager on a temp
// root and returns it.
func (h *syncHarness) withVolumes() *volume.Manager {
	h.t.Helper()
	root := filepath.Join(h.t.TempDir(), "volumes")
	m, err := volume.New(volume.Config{Root: root, NodeName: "n1"}, h.client, h.recorder)
	if err != nil {
		h.t.Fatal(err)
	}
	h.syncer.volumes = m
	return m
}

func withConfigVolume(pod *corev1.Pod) {
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "config", VolumeSource: corev1.VolumeSource{
		ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "x"}}}})
	c := &pod.Spec.Containers[0]
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "config", MountPath: "/etc/config"})
	c.TerminationMessagePath = "/dev/termination-log"
}

// TestSyncPodWaitsForVolumes: a pod whose ConfigMap is missing stays
// Pending (ContainerCreating, FailedMount, retried after a back-off), then
// starts once the ConfigMap exists, with the volume mounted read-only;
// its termination message is read back; deletion removes its volumes.
func TestSyncPodWaitsForVolumes(t *testing.T) {
	h := newSyncHarness(t)
	m := h.withVolumes()
	h.runtime.AddImage("localhost/app:1")
	pod := h.createPod(testPod("web", withConfigVolume))

	after, result := h.sync(pod)
	if calls := h.runtime.Calls(); len(calls) != 0 {
		t.Errorf("runtime calls = %v, want none before the volumes are ready", calls)
	}
	if after.Status.Phase != corev1.PodPending || waitingReasonOf(after) != reasonContainerCreating {
		t.Errorf("phase %s waiting %q, want Pending and ContainerCreating", after.Status.Phase, waitingReasonOf(after))
	}
	if result.requeueAfter != time.Second {
		t.Errorf("requeueAfter = %v, want the first mount back-off (1s)", result.requeueAfter)
	}
	want := `Warning FailedMount MountVolume.SetUp failed for volume "config" : configmap "x" not found`
	if events := h.events(); !slices.Contains(events, want) {
		t.Errorf("events %q lack %q", events, want)
	}

	if _, err := h.client.CoreV1().ConfigMaps("default").Create(context.Background(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "default"}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	after, result = h.sync(after)
	if after.Status.Phase != corev1.PodRunning {
		t.Fatalf("phase %s after the ConfigMap appeared, want Running", after.Status.Phase)
	}
	if result.requeueAfter < volume.DefaultResyncInterval {
		t.Errorf("requeueAfter = %v, want the volume resync (about 1m)", result.requeueAfter)
	}
	id := h.containerID("app")
	mounts := h.runtime.ContainerConfig(id).Mounts
	var config, term *runtimeapi.Mount
	for _, mnt := range mounts {
		switch mnt.ContainerPath {
		case "/etc/config":
			config = mnt
		case "/dev/termination-log":
			term = mnt
		}
	}
	if config == nil || !config.Readonly || !fileHas(filepath.Join(config.HostPath, "k"), "v") {
		t.Fatalf("mounts = %v, want /etc/config read-only from the ConfigMap", mounts)
	}
	if term == nil {
		t.Fatalf("mounts = %v, want a termination-message file", mounts)
	}

	if err := os.WriteFile(term.HostPath, []byte("bye now"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := h.runtime.Exit(id, 3, ""); err != nil {
		t.Fatal(err)
	}
	after, _ = h.sync(after)
	last := after.Status.ContainerStatuses[0].LastTerminationState.Terminated
	if cur := after.Status.ContainerStatuses[0].State.Terminated; cur != nil {
		last = cur
	}
	if last == nil || last.Message != "bye now" || last.ExitCode != 3 {
		t.Errorf("terminated state = %+v, want exit 3 with the message \"bye now\"", last)
	}

	podDir := m.PodDir(pod.UID)
	if _, err := os.Stat(podDir); err != nil {
		t.Fatalf("pod volume dir: %v", err)
	}
	after.DeletionTimestamp = ptr.To(metav1.Now())
	if _, err := h.syncer.syncPod(context.Background(), after); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(podDir); !os.IsNotExist(err) {
		t.Errorf("pod volume dir after deletion: %v, want it removed", err)
	}
}

// TestSyncPodSubPathSymlinkRefused: a subPath through a symlink planted
// in the volume is a CreateContainerConfigError with upstream's message.
func TestSyncPodSubPathSymlinkRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("subPath bind mounts need root")
	}
	h := newSyncHarness(t)
	m := h.withVolumes()
	h.runtime.AddImage("localhost/app:1")
	pod := h.createPod(testPod("web", func(p *corev1.Pod) {
		p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data", SubPath: "evil"}}
	}))
	// What another container of the pod would have left in the emptyDir.
	dir := filepath.Join(m.PodDir(pod.UID), "volumes", "kubernetes.io~empty-dir", "data")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/", filepath.Join(dir, "evil")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.TearDown(context.Background(), pod.UID); err != nil {
			t.Error(err)
		}
	})

	after, _ := h.sync(pod)
	msg := `failed to prepare subPath for volumeMount "data" of container "app"`
	w := after.Status.ContainerStatuses[0].State.Waiting
	if w == nil || w.Reason != reasonCreateContainerConfigError || w.Message != msg {
		t.Errorf("container waiting = %+v, want CreateContainerConfigError %q", w, msg)
	}
	if events := h.events(); !slices.Contains(events, "Warning Failed Error: "+msg) {
		t.Errorf("events %q lack the Failed event", events)
	}
	if slices.Contains(h.runtime.Calls(), "CreateContainer app") {
		t.Error("the container was created")
	}
}

func fileHas(path, want string) bool {
	data, err := os.ReadFile(path)
	return err == nil && string(data) == want
}

// TestCleanupOrphanVolumes: at start, the volume directories of pods
// neither in the API nor in the runtime are removed.
func TestCleanupOrphanVolumes(t *testing.T) {
	h := newSyncHarness(t)
	m := h.withVolumes()
	if _, err := h.runtime.RunPodSandbox(context.Background(), &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: "running", Namespace: "default", Uid: "uid-running"},
		Labels:   map[string]string{cri.LabelPodUID: "uid-running"},
	}); err != nil {
		t.Fatal(err)
	}
	for _, uid := range []string{"uid-running", "uid-known", "uid-gone"} {
		if err := os.MkdirAll(filepath.Join(m.PodDir(types.UID(uid)), "volumes"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cleanupOrphanVolumes(context.Background(), h.runtime, m, func(uid types.UID) bool { return uid == "uid-known" })
	for uid, want := range map[string]bool{"uid-running": true, "uid-known": true, "uid-gone": false} {
		if _, err := os.Stat(m.PodDir(types.UID(uid))); (err == nil) != want {
			t.Errorf("volumes of %s exist = %v, want %v", uid, err == nil, want)
		}
	}
}
