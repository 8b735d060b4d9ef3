package agent_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/agent"
	cm "github.com/navarch/navarch/internal/controllermanager"
	"github.com/navarch/navarch/internal/controllermanager/builtin"
	"github.com/navarch/navarch/test/framework"
)

// volumeResync is the agent's volume refresh period in this test (the
// default is a minute).
const volumeResync = 2 * time.Second

// TestVolumesEndToEnd runs pods with volumes on a real containerd: a
// ConfigMap file read inside the container and updated in place, an
// emptyDir shared by two containers, downward API and Secret files, a
// missing ConfigMap that holds the pod until it is created, a subPath
// symlink escape refused, a termination message read back, and a
// local-path claim provisioned by the volume controller, used, and
// cleaned up by the agent when released.
func TestVolumesEndToEnd(t *testing.T) {
	h := startE2EHost(t, framework.Options{Controllers: volumeController(t)}, func(cfg *agent.Config) { cfg.VolumeResyncInterval = volumeResync })
	client, dataDir := h.client, h.cfg.DataDir
	ctx := context.Background()
	volumeRoot := filepath.Join(dataDir, "volumes")

	t.Run("configMap, secret, downward API and a shared emptyDir", func(t *testing.T) {
		mustCreate(t, client, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app-config", Namespace: "default"},
			Data: map[string]string{"greeting": "hello"}})
		mustCreate(t, client, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "app-secret", Namespace: "default"},
			Data: map[string][]byte{"token": []byte("s3cret")}})
		pod := volumePod("files")
		pod.Spec.Volumes = []corev1.Volume{
			{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "app-config"}}}},
			{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "app-secret"}}},
			{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}},
			{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		}
		pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{
			{Name: "config", MountPath: "/etc/config"}, {Name: "secret", MountPath: "/etc/secret"},
			{Name: "info", MountPath: "/etc/info"}, {Name: "scratch", MountPath: "/scratch"},
		}
		pod.Spec.Containers = append(pod.Spec.Containers, webContainer("sidecar", 8081,
			corev1.VolumeMount{Name: "scratch", MountPath: "/shared"}))
		if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		running := waitPod(t, client, "files", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning && podReady(p) })
		ip := running.Status.PodIP

		expectFile(t, ip, 8080, "/etc/config/greeting", "hello")
		expectFile(t, ip, 8080, "/etc/secret/token", "s3cret")
		expectFile(t, ip, 8080, "/etc/info/labels", `app="files"`)
		if code, body := podGet(t, ip, 8080, "/file", "path", "/etc/hosts"); code != http.StatusOK ||
			!strings.Contains(body, "# Kubernetes-managed hosts file.") || !strings.Contains(body, ip+"\tfiles\n") {
			t.Errorf("/etc/hosts = %d %q, want the managed file with %s", code, body, ip)
		}
		if code, body := podGet(t, ip, 8080, "/write", "path", "/etc/config/new", "content", "x"); code == http.StatusOK || !strings.Contains(body, "read-only file system") {
			t.Errorf("writing into the configMap volume = %d %q, want a read-only file system error", code, body)
		}

		// emptyDir: what one container writes, the other reads.
		if code, body := podGet(t, ip, 8080, "/write", "path", "/scratch/note", "content", "shared"); code != http.StatusOK {
			t.Fatalf("write: %d %s", code, body)
		}
		expectFile(t, ip, 8081, "/shared/note", "shared")

		// A ConfigMap update and a label change reach the files without
		// a restart.
		configMap, err := client.CoreV1().ConfigMaps("default").Get(ctx, "app-config", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		configMap.Data["greeting"] = "bonjour"
		updated := time.Now()
		if _, err := client.CoreV1().ConfigMaps("default").Update(ctx, configMap, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		framework.WaitFor(t, 10*volumeResync, "the updated greeting inside the container", func() (bool, error) {
			_, body := podGet(t, ip, 8080, "/file", "path", "/etc/config/greeting")
			return body == "bonjour", nil
		})
		t.Logf("ConfigMap update -> file changed in the container: %v (resync %v)", time.Since(updated).Round(10*time.Millisecond), volumeResync)
		patch := []byte(`{"metadata":{"labels":{"tier":"front"}}}`)
		if _, err := client.CoreV1().Pods("default").Patch(ctx, "files", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		framework.WaitFor(t, 10*volumeResync, "the new label in the downward API file", func() (bool, error) {
			_, body := podGet(t, ip, 8080, "/file", "path", "/etc/info/labels")
			return body == "app=\"files\"\ntier=\"front\"", nil
		})
		after, err := client.CoreV1().Pods("default").Get(ctx, "files", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i, cs := range after.Status.ContainerStatuses {
			if cs.RestartCount != 0 || cs.ContainerID != running.Status.ContainerStatuses[i].ContainerID {
				t.Errorf("container %s restarted (%d restarts, id %s), want the updates applied in place", cs.Name, cs.RestartCount, cs.ContainerID)
			}
		}

		deleteAndWait(t, client, "files")
		framework.WaitFor(t, 20*time.Second, "the pod's volume directory removed", func() (bool, error) {
			_, err := os.Stat(filepath.Join(volumeRoot, string(running.UID)))
			return os.IsNotExist(err), nil
		})
		if mounts := mountsUnder(t, volumeRoot); len(mounts) != 0 {
			t.Errorf("mounts left under %s: %v", volumeRoot, mounts)
		}
	})

	t.Run("missing configMap holds the pod until it exists", func(t *testing.T) {
		pod := volumePod("late")
		pod.Spec.Volumes = []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "late-config"}}}}}
		pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "config", MountPath: "/etc/config"}}
		if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, client, "late", "FailedMount", `MountVolume.SetUp failed for volume "config" : configmap "late-config" not found`)
		p := waitPod(t, client, "late", "ContainerCreating", func(p *corev1.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Waiting != nil
		})
		if p.Status.Phase != corev1.PodPending || p.Status.ContainerStatuses[0].State.Waiting.Reason != "ContainerCreating" {
			t.Errorf("phase %s, container %+v; want Pending and ContainerCreating", p.Status.Phase, p.Status.ContainerStatuses[0].State)
		}
		created := time.Now()
		mustCreate(t, client, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "late-config", Namespace: "default"},
			Data: map[string]string{"greeting": "finally"}})
		p = waitPod(t, client, "late", "Running once the ConfigMap exists", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		t.Logf("ConfigMap created -> pod Running: %v", time.Since(created).Round(10*time.Millisecond))
		expectFile(t, p.Status.PodIP, 8080, "/etc/config/greeting", "finally")
		deleteAndWait(t, client, "late")
	})

	t.Run("subPath symlink escape is refused", func(t *testing.T) {
		// The reader waits for the ConfigMap "gate" (env) while the writer
		// plants evil -> / in the shared emptyDir; then the gate opens
		// and the reader asks for subPath evil.
		pod := volumePod("attack")
		pod.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
		reader := webContainer("reader", 8081, corev1.VolumeMount{Name: "data", MountPath: "/escaped", SubPath: "evil"})
		reader.Env = append(reader.Env, corev1.EnvVar{Name: "GATE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "gate"}, Key: "open"}}})
		pod.Spec.Containers = append(pod.Spec.Containers, reader)
		if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p := waitPod(t, client, "attack", "the writer running", func(p *corev1.Pod) bool {
			return p.Status.PodIP != "" && len(p.Status.ContainerStatuses) == 2 && p.Status.ContainerStatuses[0].State.Running != nil
		})
		if code, body := podGet(t, p.Status.PodIP, 8080, "/symlink", "path", "/data/evil", "target", "/"); code != http.StatusOK {
			t.Fatalf("planting the symlink: %d %s", code, body)
		}
		mustCreate(t, client, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "gate", Namespace: "default"}, Data: map[string]string{"open": "yes"}})
		msg := `failed to prepare subPath for volumeMount "data" of container "reader"`
		p = waitPod(t, client, "attack", "the reader refused", func(p *corev1.Pod) bool {
			w := p.Status.ContainerStatuses[1].State.Waiting
			return w != nil && w.Reason == "CreateContainerConfigError" && w.Message == msg
		})
		waitEvent(t, client, "attack", "Failed", "Error: "+msg)
		if cs := p.Status.ContainerStatuses[1]; cs.ContainerID != "" || cs.State.Running != nil {
			t.Errorf("the reader ran: %+v", cs)
		}
		deleteAndWait(t, client, "attack")
	})

	t.Run("termination message", func(t *testing.T) {
		pod := volumePod("quitter")
		pod.Spec.RestartPolicy = corev1.RestartPolicyNever
		if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p := waitPod(t, client, "quitter", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" })
		// Serving first: an /exit that finds no listener yet would pass
		// for one that ended the server.
		podGet(t, p.Status.PodIP, 8080, "/")
		podGet(t, p.Status.PodIP, 8080, "/exit", "code", "3", "message", "gave up: disk full")
		p = waitPod(t, client, "quitter", "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
		term := p.Status.ContainerStatuses[0].State.Terminated
		if term == nil || term.ExitCode != 3 || term.Message != "gave up: disk full" {
			t.Errorf("terminated state = %+v, want exit 3 with the message", term)
		}
		deleteAndWait(t, client, "quitter")
	})

	t.Run("local-path claim", func(t *testing.T) {
		claim := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "default",
				// What the scheduler writes for a WaitForFirstConsumer claim.
				Annotations: map[string]string{"volume.kubernetes.io/selected-node": e2eNode}},
			Spec: corev1.PersistentVolumeClaimSpec{
				StorageClassName: ptr.To("local-path"),
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}
		created, err := client.CoreV1().PersistentVolumeClaims("default").Create(ctx, claim, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var volumeName string
		framework.WaitFor(t, 30*time.Second, "the claim Bound", func() (bool, error) {
			c, err := client.CoreV1().PersistentVolumeClaims("default").Get(ctx, "data", metav1.GetOptions{})
			volumeName = c.Spec.VolumeName
			return err == nil && c.Status.Phase == corev1.ClaimBound, err
		})
		dir := filepath.Join(dataDir, "storage", fmt.Sprintf("pvc-%s_default_data", created.UID))
		pv, err := client.CoreV1().PersistentVolumes().Get(ctx, volumeName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != dir {
			t.Fatalf("volume %s path %v, want %s (the node's navarch.io/local-path-dir)", pv.Name, pv.Spec.HostPath, dir)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s exists before any pod mounted it (err %v)", dir, err)
		}

		pod := volumePod("db")
		pod.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}
		pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
		if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p := waitPod(t, client, "db", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" })
		if code, body := podGet(t, p.Status.PodIP, 8080, "/write", "path", "/data/row", "content", "42"); code != http.StatusOK {
			t.Fatalf("write: %d %s", code, body)
		}
		if data, err := os.ReadFile(filepath.Join(dir, "row")); err != nil || string(data) != "42" {
			t.Errorf("the row on the node's disk: %q, %v", data, err)
		}
		if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o777 {
			t.Errorf("local-path directory %s: %v (err %v), want mode 0777", dir, info, err)
		}

		// Released with reclaim policy Delete: the controller deletes the
		// volume, the agent removes its directory and then the finalizer.
		deleteAndWait(t, client, "db")
		if err := client.CoreV1().PersistentVolumeClaims("default").Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		framework.WaitFor(t, 60*time.Second, "the volume "+volumeName+" gone", func() (bool, error) {
			_, err := client.CoreV1().PersistentVolumes().Get(ctx, volumeName, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s still exists after the volume was deleted (err %v)", dir, err)
		}
	})
}

// volumeController is the PersistentVolume controller (binding and
// local-path provisioning) and the storage protection controller (which
// lifts the finalizers every claim and volume gets), from the server's
// list.
func volumeController(t *testing.T) []cm.Named {
	var named []cm.Named
	for _, c := range builtin.Controllers(builtin.Config{}) {
		if c.Name == "volume" || c.Name == "storageprotection" {
			named = append(named, c)
		}
	}
	if len(named) != 2 {
		t.Fatal("no volume or storageprotection controller in builtin.Controllers")
	}
	return named
}

// volumePod is a one-container web pod of the volume tests.
func volumePod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			NodeName: e2eNode, TerminationGracePeriodSeconds: ptr.To(int64(2)),
			Containers: []corev1.Container{webContainer("web", 8080)},
		},
	}
}

func webContainer(name string, port int32, mounts ...corev1.VolumeMount) corev1.Container {
	return corev1.Container{
		Name: name, Image: "localhost/web:e2e", ImagePullPolicy: corev1.PullNever,
		Env:                    []corev1.EnvVar{{Name: "PORT", Value: fmt.Sprint(port)}},
		VolumeMounts:           mounts,
		TerminationMessagePath: "/dev/termination-log",
	}
}

// podGet asks a pod's web server for path with query parameters
// (name, value pairs), retrying until the server answers.
func podGet(t *testing.T, ip string, port int, path string, query ...string) (int, string) {
	t.Helper()
	q := url.Values{}
	for i := 0; i+1 < len(query); i += 2 {
		q.Set(query[i], query[i+1])
	}
	u := fmt.Sprintf("http://%s:%d%s?%s", ip, port, path, q.Encode())
	client := &http.Client{Timeout: 5 * time.Second}
	var code int
	var body string
	framework.WaitFor(t, 20*time.Second, "GET "+u, func() (bool, error) {
		resp, err := client.Get(u)
		if err != nil {
			// /exit may end the server before it answers.
			return path == "/exit", nil
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		code, body = resp.StatusCode, string(data)
		return true, nil
	})
	return code, body
}

func expectFile(t *testing.T, ip string, port int, path, want string) {
	t.Helper()
	if code, body := podGet(t, ip, port, "/file", "path", path); code != http.StatusOK || body != want {
		t.Errorf("%s in the container = %d %q, want %q", path, code, body, want)
	}
}

// mountsUnder lists the host's mount points under dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir) {
			out = append(out, f[4])
		}
	}
	return out
}
