package volume

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

type testManager struct {
	*Manager
	client   *fake.Clientset
	recorder *record.FakeRecorder
}

// newTestManager returns a manager on a temp root whose mounts are all
// undone when the test ends, even a failed one.
func newTestManager(t *testing.T, objects ...runtime.Object) *testManager {
	t.Helper()
	client := fake.NewClientset(objects...)
	recorder := record.NewFakeRecorder(100)
	m, err := New(Config{
		Root: filepath.Join(t.TempDir(), "volumes"), NodeName: "n1",
		Allocatable: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("4Gi"), corev1.ResourceCPU: resource.MustParse("2")},
	}, client, recorder)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unmountAllUnder(m.cfg.Root); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return &testManager{Manager: m, client: client, recorder: recorder}
}

// events drains the recorded events.
func (m *testManager) events() []string {
	var out []string
	for {
		select {
		case e := <-m.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
}

func testPod(volumes ...corev1.Volume) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web", Namespace: "default", UID: "uid-1",
			Labels:      map[string]string{"app": "web", "tier": "front"},
			Annotations: map[string]string{"note": `say "hi"`},
		},
		Spec: corev1.PodSpec{
			Volumes: volumes,
			Containers: []corev1.Container{{
				Name: "web", Image: "web",
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}},
			}},
		},
	}
}

func configMapVolume(name, configMap string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: configMap}, DefaultMode: ptr.To(int32(0o644))}}}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func modeOf(t *testing.T, path string) os.FileMode {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm()
}

func TestSetUpConfigMapFailsUntilItExists(t *testing.T) {
	m := newTestManager(t)
	ctx := context.Background()
	pod := testPod(configMapVolume("config", "x"))

	_, err := m.SetUp(ctx, pod)
	var mountErr *MountError
	if !errors.As(err, &mountErr) || strings.Join(mountErr.Volumes, ",") != "config" || mountErr.RetryAfter != time.Second {
		t.Fatalf("SetUp = %v, want a MountError for [config] retrying after 1s", err)
	}
	want := `Warning FailedMount MountVolume.SetUp failed for volume "config" : configmap "x" not found`
	if got := m.events(); len(got) != 1 || got[0] != want {
		t.Errorf("events = %q, want [%q]", got, want)
	}
	_, err = m.SetUp(ctx, pod)
	if !errors.As(err, &mountErr) || mountErr.RetryAfter != 2*time.Second {
		t.Errorf("second SetUp = %v, want a back-off of 2s", err)
	}

	if _, err := m.client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "default"},
		Data:       map[string]string{"greeting": "hello"}, BinaryData: map[string][]byte{"bin": {0, 1}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	resync, err := m.SetUp(ctx, pod)
	if err != nil {
		t.Fatalf("SetUp after the ConfigMap appeared: %v", err)
	}
	if resync < DefaultResyncInterval || resync > DefaultResyncInterval*11/10 {
		t.Errorf("resync = %v, want 1m plus at most 10%%", resync)
	}
	dir := m.volumeDir(pod.UID, dirConfigMap, "config")
	if got := readFile(t, filepath.Join(dir, "greeting")); got != "hello" {
		t.Errorf("greeting = %q, want hello", got)
	}
	if got := readFile(t, filepath.Join(dir, "bin")); got != "\x00\x01" {
		t.Errorf("bin = %q, want the binary data", got)
	}

	// An update shows up at the next SetUp; a deletion keeps the files
	// (the pod runs on) and is an event.
	cm, _ := m.client.CoreV1().ConfigMaps("default").Get(ctx, "x", metav1.GetOptions{})
	cm.Data["greeting"] = "bonjour"
	if _, err := m.client.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.SetUp(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "greeting")); got != "bonjour" {
		t.Errorf("greeting after the update = %q, want bonjour", got)
	}
	m.events()
	if err := m.client.CoreV1().ConfigMaps("default").Delete(ctx, "x", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.SetUp(ctx, pod); err != nil {
		t.Errorf("SetUp of a set-up volume whose ConfigMap is gone = %v, want nil (the pod keeps running)", err)
	}
	if got := m.events(); len(got) != 1 || !strings.Contains(got[0], `configmap "x" not found`) {
		t.Errorf("events = %q, want one FailedMount", got)
	}
	if got := readFile(t, filepath.Join(dir, "greeting")); got != "bonjour" {
		t.Errorf("greeting after the deletion = %q, want the last content kept", got)
	}
}

func TestSetUpConfigMapItemsModesOptional(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"},
		Data: map[string]string{"a": "A", "b": "B", "c": "C"}}
	m := newTestManager(t, cm)
	ctx := context.Background()
	items := corev1.Volume{Name: "items", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: ptr.To(int32(0o640)),
		Items: []corev1.KeyToPath{{Key: "a", Path: "conf/a.txt"}, {Key: "b", Path: "b", Mode: ptr.To(int32(0o400))}},
	}}}
	optional := corev1.Volume{Name: "optional", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Optional: ptr.To(true)}}}
	optionalKey := corev1.Volume{Name: "optional-key", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Optional: ptr.To(true),
		Items: []corev1.KeyToPath{{Key: "nope", Path: "nope"}, {Key: "c", Path: "c"}}}}}
	pod := testPod(items, optional, optionalKey)
	if _, err := m.SetUp(ctx, pod); err != nil {
		t.Fatal(err)
	}
	dir := m.volumeDir(pod.UID, dirConfigMap, "items")
	if got := readVisible(t, dir); !samePayload(got, map[string]FileProjection{
		"conf/a.txt": {Data: []byte("A"), Mode: 0o640}, "b": {Data: []byte("B"), Mode: 0o400},
	}) {
		t.Errorf("items volume = %v", got)
	}
	if got := readVisible(t, m.volumeDir(pod.UID, dirConfigMap, "optional")); len(got) != 0 {
		t.Errorf("optional missing ConfigMap gave files %v, want none", got)
	}
	if got := readVisible(t, m.volumeDir(pod.UID, dirConfigMap, "optional-key")); !samePayload(got, map[string]FileProjection{"c": {Data: []byte("C"), Mode: 0o644}}) {
		t.Errorf("optional key volume = %v, want only c", got)
	}

	missingKey := testPod(corev1.Volume{Name: "bad", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: []corev1.KeyToPath{{Key: "nope", Path: "nope"}}}}})
	missingKey.UID = "uid-2"
	if _, err := m.SetUp(ctx, missingKey); err == nil {
		t.Error("SetUp with a missing non-optional key succeeded")
	}
	if got := m.events(); len(got) != 1 || !strings.HasSuffix(got[0], `volume "bad" : configmap references non-existent config key: nope`) {
		t.Errorf("events = %q", got)
	}
}

func TestSetUpSecretOnTmpfsAndTearDown(t *testing.T) {
	needRoot(t)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"},
		Data: map[string][]byte{"token": []byte("s3cret")}}
	m := newTestManager(t, secret)
	ctx := context.Background()
	pod := testPod(corev1.Volume{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: "s", DefaultMode: ptr.To(int32(0o400))}}},
		corev1.Volume{Name: "missing", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: "nope", Optional: ptr.To(true)}}})
	if _, err := m.SetUp(ctx, pod); err != nil {
		t.Fatal(err)
	}
	dir := m.volumeDir(pod.UID, dirSecret, "creds")
	if mounted, err := isMountPoint(dir); err != nil || !mounted {
		t.Errorf("secret volume %s is not a tmpfs mount (err %v)", dir, err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil || st.Type != unix.TMPFS_MAGIC {
		t.Errorf("secret volume file system type %x (err %v), want tmpfs", st.Type, err)
	}
	if got, mode := readFile(t, filepath.Join(dir, "token")), modeOf(t, filepath.Join(dir, "token")); got != "s3cret" || mode != 0o400 {
		t.Errorf("token = %q mode %v, want s3cret 0400", got, mode)
	}
	// A second SetUp does not stack another tmpfs.
	if _, err := m.SetUp(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if points, _ := mountPointsUnder(dir); len(points) != 1 {
		t.Errorf("mounts at %s after two SetUps = %v, want one", dir, points)
	}

	missing := testPod(corev1.Volume{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "absent"}}})
	missing.UID = "uid-2"
	if _, err := m.SetUp(ctx, missing); err == nil {
		t.Error("SetUp with a missing secret succeeded")
	}
	if got := m.events(); len(got) != 1 || got[0] != `Warning FailedMount MountVolume.SetUp failed for volume "creds" : secret "absent" not found` {
		t.Errorf("events = %q", got)
	}

	for _, uid := range []types.UID{pod.UID, missing.UID} {
		if err := m.TearDown(ctx, uid); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(m.PodDir(uid)); !os.IsNotExist(err) {
			t.Errorf("pod dir %s still exists after TearDown (err %v)", m.PodDir(uid), err)
		}
	}
	if points, _ := mountPointsUnder(m.cfg.Root); len(points) != 0 {
		t.Errorf("mounts left after TearDown: %v", points)
	}
	if err := m.TearDown(ctx, pod.UID); err != nil {
		t.Errorf("second TearDown = %v, want nil", err)
	}
}

func TestSetUpEmptyDirMemorySizeLimit(t *testing.T) {
	needRoot(t)
	m := newTestManager(t)
	pod := testPod(
		corev1.Volume{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("8Mi"))}}},
		corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	resync, err := m.SetUp(context.Background(), pod)
	if err != nil || resync != 0 {
		t.Fatalf("SetUp = %v, %v; want no resync and no error", resync, err)
	}
	cache := m.volumeDir(pod.UID, dirEmptyDir, "cache")
	var st unix.Statfs_t
	if err := unix.Statfs(cache, &st); err != nil {
		t.Fatal(err)
	}
	if size := int64(st.Blocks) * st.Bsize; st.Type != unix.TMPFS_MAGIC || size != 8<<20 {
		t.Errorf("cache: fs type %x size %d, want tmpfs of 8Mi", st.Type, size)
	}
	scratch := m.volumeDir(pod.UID, dirEmptyDir, "scratch")
	if mode := modeOf(t, scratch); mode != 0o777 {
		t.Errorf("scratch mode %v, want 0777", mode)
	}
	if mode := modeOf(t, cache); mode != 0o777 {
		t.Errorf("cache mode %v, want 0777", mode)
	}
	if err := m.TearDown(context.Background(), pod.UID); err != nil {
		t.Fatal(err)
	}
}

func TestSetUpDownwardAPIFollowsLabels(t *testing.T) {
	m := newTestManager(t)
	ctx := context.Background()
	pod := testPod(corev1.Volume{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
		DefaultMode: ptr.To(int32(0o644)),
		Items: []corev1.DownwardAPIVolumeFile{
			{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
			{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}},
			{Path: "uid", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.uid"}},
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			{Path: "annotations", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations"}, Mode: ptr.To(int32(0o600))},
			{Path: "app", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}},
			{Path: "mem_limit", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "web", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
			{Path: "cpu_limit", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "web", Resource: "limits.cpu"}},
		},
	}}})
	if _, err := m.SetUp(ctx, pod); err != nil {
		t.Fatal(err)
	}
	dir := m.volumeDir(pod.UID, dirDownwardAPI, "info")
	want := map[string]FileProjection{
		"name": {Data: []byte("web"), Mode: 0o644}, "namespace": {Data: []byte("default"), Mode: 0o644},
		"uid": {Data: []byte("uid-1"), Mode: 0o644}, "labels": {Data: []byte("app=\"web\"\ntier=\"front\""), Mode: 0o644},
		"annotations": {Data: []byte(`note="say \"hi\""`), Mode: 0o600}, "app": {Data: []byte("web"), Mode: 0o644},
		"mem_limit": {Data: []byte("64"), Mode: 0o644}, "cpu_limit": {Data: []byte("2"), Mode: 0o644},
	}
	if got := readVisible(t, dir); !samePayload(got, want) {
		t.Errorf("downward API files = %v, want %v", got, want)
	}
	pod.Labels["tier"] = "back"
	if _, err := m.SetUp(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "labels")); got != "app=\"web\"\ntier=\"back\"" {
		t.Errorf("labels after the change = %q", got)
	}
}

func TestSetUpProjected(t *testing.T) {
	needRoot(t)
	m := newTestManager(t,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"}, Data: map[string]string{"mode": "fast"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"}, Data: map[string][]byte{"token": []byte("t")}})
	ctx := context.Background()
	projected := func(sources ...corev1.VolumeProjection) corev1.Volume {
		return corev1.Volume{Name: "all", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			DefaultMode: ptr.To(int32(0o440)), Sources: sources}}}
	}
	pod := testPod(projected(
		corev1.VolumeProjection{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
		corev1.VolumeProjection{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "s"},
			Items: []corev1.KeyToPath{{Key: "token", Path: "creds/token"}}}},
		corev1.VolumeProjection{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "podname", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}},
	))
	if _, err := m.SetUp(ctx, pod); err != nil {
		t.Fatal(err)
	}
	want := map[string]FileProjection{
		"mode": {Data: []byte("fast"), Mode: 0o440}, "creds/token": {Data: []byte("t"), Mode: 0o440},
		"podname": {Data: []byte("web"), Mode: 0o440},
	}
	if got := readVisible(t, m.volumeDir(pod.UID, dirProjected, "all")); !samePayload(got, want) {
		t.Errorf("projected files = %v, want %v", got, want)
	}

	// A token projection: a token bound to the pod from the TokenRequest
	// API, reused until 80% of its lifetime passed.
	var requests []*authenticationv1.TokenRequest
	m.client.PrependReactor("create", "serviceaccounts", func(action k8stesting.Action) (bool, runtime.Object, error) {
		create := action.(k8stesting.CreateAction)
		if action.GetSubresource() != "token" || action.GetNamespace() != "default" || create.GetObject() == nil {
			return false, nil, nil
		}
		req := create.GetObject().(*authenticationv1.TokenRequest).DeepCopy()
		requests = append(requests, req)
		req.Status.Token = fmt.Sprintf("tok-%d", len(requests))
		req.Status.ExpirationTimestamp = metav1.NewTime(time.Now().Add(time.Duration(*req.Spec.ExpirationSeconds) * time.Second))
		return true, req, nil
	})
	token := testPod(projected(corev1.VolumeProjection{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
		Path: "sa/token", Audience: "vault", ExpirationSeconds: ptr.To(int64(600))}}))
	token.UID = "uid-2"
	token.Spec.ServiceAccountName = "robot"
	dir := m.volumeDir(token.UID, dirProjected, "all")
	for range 2 {
		if _, err := m.SetUp(ctx, token); err != nil {
			t.Fatal(err)
		}
	}
	if got := readVisible(t, dir); !samePayload(got, map[string]FileProjection{"sa/token": {Data: []byte("tok-1"), Mode: 0o440}}) {
		t.Errorf("token files = %v, want tok-1", got)
	}
	if len(requests) != 1 {
		t.Fatalf("%d token requests for two syncs, want 1", len(requests))
	}
	spec := requests[0].Spec
	if ref := spec.BoundObjectRef; ref == nil || ref.Kind != "Pod" || ref.APIVersion != "v1" || ref.Name != "web" || ref.UID != "uid-2" ||
		len(spec.Audiences) != 1 || spec.Audiences[0] != "vault" || *spec.ExpirationSeconds != 600 {
		t.Errorf("token request = %+v, want bound to pod web/uid-2, audience vault, 600s", spec)
	}
	// Past 80% of its lifetime the token is requested again.
	m.tokens.mu.Lock()
	for k, v := range m.tokens.tokens {
		if got := v.refreshAt.Sub(time.Now()); got < 7*time.Minute || got > 8*time.Minute {
			t.Errorf("refresh in %v, want 80%% of 10 minutes", got)
		}
		v.refreshAt = time.Now().Add(-time.Second)
		m.tokens.tokens[k] = v
	}
	m.tokens.mu.Unlock()
	if _, err := m.SetUp(ctx, token); err != nil {
		t.Fatal(err)
	}
	if got := readVisible(t, dir); len(requests) != 2 || string(got["sa/token"].Data) != "tok-2" {
		t.Errorf("after the refresh: %d requests, files %v; want tok-2", len(requests), got)
	}
	if err := m.TearDown(ctx, token.UID); err != nil {
		t.Fatal(err)
	}
	if len(m.tokens.tokens) != 0 {
		t.Errorf("tokens kept after TearDown: %v", m.tokens.tokens)
	}

	noAccount := testPod(projected(corev1.VolumeProjection{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}))
	noAccount.UID = "uid-3"
	_, err := m.SetUp(ctx, noAccount)
	var mountErr *MountError
	if !errors.As(err, &mountErr) {
		t.Fatalf("SetUp of a token projection without an account = %v, want a MountError", err)
	}
	want2 := `Warning FailedMount MountVolume.SetUp failed for volume "all" : pod has no service account for token projection "token"`
	if got := m.events(); len(got) != 1 || got[0] != want2 {
		t.Errorf("events = %q, want [%q]", got, want2)
	}
}

func TestSetUpHostPathAndUnsupported(t *testing.T) {
	m := newTestManager(t)
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	pod := testPod(
		corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: file, Type: ptr.To(corev1.HostPathDirectory)}}},
		corev1.Volume{Name: "nfs", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "x", Path: "/"}}},
	)
	_, err := m.SetUp(context.Background(), pod)
	var mountErr *MountError
	if !errors.As(err, &mountErr) || strings.Join(mountErr.Volumes, ",") != "host,nfs" {
		t.Fatalf("SetUp = %v, want a MountError for [host nfs]", err)
	}
	want := []string{
		`Warning FailedMount MountVolume.SetUp failed for volume "host" : hostPath type check failed: ` + file + ` is not a directory, it's a File`,
		`Warning FailedMount MountVolume.SetUp failed for volume "nfs" : volume type "nfs" is not supported by this node agent`,
	}
	if got := m.events(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func boundClaim(name, volume string) (*corev1.PersistentVolumeClaim, *corev1.PersistentVolume) {
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("claim-" + name)},
		Spec:       corev1.PersistentVolumeClaimSpec{VolumeName: volume},
		Status:     corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound},
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: volume},
		Spec:       corev1.PersistentVolumeSpec{ClaimRef: &corev1.ObjectReference{Namespace: "default", Name: name, UID: claim.UID}},
	}
	return claim, pv
}

func claimVolume(name, claim string, readOnly bool) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim, ReadOnly: readOnly}}}
}

func TestSetUpClaims(t *testing.T) {
	storage := t.TempDir()
	localPath := filepath.Join(storage, "pvc-1_default_data")
	data, dataPV := boundClaim("data", "pvc-1")
	dataPV.Annotations = map[string]string{annProvisionedBy: LocalPathProvisioner}
	dataPV.Spec.HostPath = &corev1.HostPathVolumeSource{Path: localPath, Type: ptr.To(corev1.HostPathDirectoryOrCreate)}
	local, localPV := boundClaim("local", "local-pv")
	localPV.Spec.Local = &corev1.LocalVolumeSource{Path: storage}
	gone, gonePV := boundClaim("gone", "gone-pv")
	gonePV.Spec.Local = &corev1.LocalVolumeSource{Path: filepath.Join(storage, "nothing")}
	pending := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "pending", Namespace: "default"},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}}
	nfs, nfsPV := boundClaim("nfs", "nfs-pv")
	nfsPV.Spec.NFS = &corev1.NFSVolumeSource{Server: "x", Path: "/"}
	stolen, _ := boundClaim("stolen", "pvc-1")
	m := newTestManager(t, data, dataPV, local, localPV, gone, gonePV, pending, nfs, nfsPV, stolen)
	ctx := context.Background()

	pod := testPod(claimVolume("data", "data", false), claimVolume("local", "local", true))
	if _, err := m.SetUp(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if mode := modeOf(t, localPath); mode != 0o777 {
		t.Errorf("local-path directory mode %v, want 0777", mode)
	}
	if hv, _ := m.hostVolumeOf(pod.UID, "data"); hv.path != localPath || hv.readOnly || hv.persistentVolume != "pvc-1" {
		t.Errorf("data volume = %+v, want %s read-write on pvc-1", hv, localPath)
	}
	if hv, _ := m.hostVolumeOf(pod.UID, "local"); hv.path != storage || !hv.readOnly {
		t.Errorf("local volume = %+v, want %s read-only", hv, storage)
	}
	if !m.inUse("pvc-1") {
		t.Error("pvc-1 not in use after SetUp")
	}

	bad := testPod(claimVolume("a", "absent", false), claimVolume("b", "pending", false), claimVolume("c", "gone", false),
		claimVolume("d", "nfs", false), claimVolume("e", "stolen", false))
	bad.UID = "uid-2"
	if _, err := m.SetUp(ctx, bad); err == nil {
		t.Fatal("SetUp of bad claims succeeded")
	}
	prefix := "Warning FailedMount MountVolume.SetUp failed for volume "
	want := []string{
		prefix + `"a" : error processing PVC default/absent: failed to fetch PVC from API server: persistentvolumeclaims "absent" not found`,
		prefix + `"b" : error processing PVC default/pending: PVC is not bound`,
		prefix + `"c" : path "` + filepath.Join(storage, "nothing") + `" does not exist`,
		prefix + `"d" : volume type "nfs" of PersistentVolume nfs-pv is not supported by this node agent`,
		prefix + `"e" : error processing PVC default/stolen: the PV pvc-1 is not bound to it`,
	}
	if got := m.events(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if err := m.TearDown(ctx, pod.UID); err != nil {
		t.Fatal(err)
	}
	if m.inUse("pvc-1") {
		t.Error("pvc-1 still in use after TearDown")
	}
	if _, err := os.Stat(localPath); err != nil {
		t.Errorf("TearDown touched the claim's data: %v", err)
	}
}

func TestContainerMounts(t *testing.T) {
	m := newTestManager(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"}, Data: map[string]string{"k": "v"}})
	ctx := context.Background()
	hostDir := t.TempDir()
	pod := testPod(
		configMapVolume("config", "cfg"),
		corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hostDir}}},
	)
	pod.Spec.Subdomain = "db"
	pod.Spec.HostAliases = []corev1.HostAlias{{IP: "10.0.0.9", Hostnames: []string{"a.example", "b.example"}}}
	c := &pod.Spec.Containers[0]
	c.TerminationMessagePath = "/dev/termination-log"
	c.VolumeMounts = []corev1.VolumeMount{
		{Name: "config", MountPath: "/etc/config"},
		{Name: "scratch", MountPath: "/scratch"},
		{Name: "host", MountPath: "/host", ReadOnly: true, MountPropagation: ptr.To(corev1.MountPropagationHostToContainer)},
	}
	if _, err := m.SetUp(ctx, pod); err != nil {
		t.Fatal(err)
	}
	mounts, err := m.ContainerMounts(ctx, pod, c, nil, "10.42.0.7")
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 5 {
		t.Fatalf("mounts = %v, want 5", mounts)
	}
	want := []*runtimeapi.Mount{
		{ContainerPath: "/etc/config", HostPath: m.volumeDir(pod.UID, dirConfigMap, "config"), Readonly: true},
		{ContainerPath: "/scratch", HostPath: m.volumeDir(pod.UID, dirEmptyDir, "scratch")},
		{ContainerPath: "/host", HostPath: hostDir, Readonly: true, Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER},
	}
	for i, w := range want {
		g := mounts[i]
		if g.ContainerPath != w.ContainerPath || g.HostPath != w.HostPath || g.Readonly != w.Readonly || g.Propagation != w.Propagation || g.SelinuxRelabel {
			t.Errorf("mount %d = %v, want %v", i, g, w)
		}
	}
	term := mounts[3]
	if term.ContainerPath != "/dev/termination-log" || !strings.HasPrefix(term.HostPath, filepath.Join(m.PodDir(pod.UID), "containers", "web")+"/") ||
		term.Readonly || modeOf(t, term.HostPath) != 0o666 {
		t.Errorf("termination-message mount = %v, want a writable 0666 file under containers/web", term)
	}
	hosts := mounts[4]
	wantHosts := "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n" +
		"10.42.0.7\tweb.db.default.svc.cluster.local\tweb\n\n# Entries added by HostAliases.\n10.0.0.9\ta.example\tb.example\n"
	if hosts.ContainerPath != "/etc/hosts" || readFile(t, hosts.HostPath) != wantHosts {
		t.Errorf("hosts mount %v with\n%s\nwant\n%s", hosts, readFile(t, hosts.HostPath), wantHosts)
	}

	// Termination message read-back: the end of the file.
	if err := os.WriteFile(term.HostPath, []byte(strings.Repeat("x", 5000)+"the end"), 0o666); err != nil {
		t.Fatal(err)
	}
	status := &runtimeapi.ContainerStatus{Mounts: mounts}
	if got := TerminationMessage(status, "/dev/termination-log"); len(got) != maxTerminationMessageLength || !strings.HasSuffix(got, "the end") {
		t.Errorf("termination message: %d bytes ending %q, want the last 4096 bytes", len(got), got[max(0, len(got)-7):])
	}
	if got := TerminationMessage(status, "/elsewhere"); got != "" {
		t.Errorf("termination message of an unmounted path = %q", got)
	}

	// No managed hosts file without a pod IP, on the host network, or
	// when a volume covers /etc/hosts.
	noIP, _ := m.ContainerMounts(ctx, pod, c, nil, "")
	pod.Spec.HostNetwork = true
	hostNet, _ := m.ContainerMounts(ctx, pod, c, nil, "10.42.0.7")
	pod.Spec.HostNetwork = false
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "scratch", MountPath: "/etc/hosts", SubPath: "hosts"})
	c.TerminationMessagePath = ""
	var covered []*runtimeapi.Mount
	if os.Geteuid() == 0 {
		covered, _ = m.ContainerMounts(ctx, pod, c, nil, "10.42.0.7")
	}
	for name, ms := range map[string][]*runtimeapi.Mount{"no IP": noIP, "host network": hostNet, "covered": covered} {
		for _, mnt := range ms {
			if mnt.HostPath == filepath.Join(m.PodDir(pod.UID), "etc-hosts") {
				t.Errorf("%s: the managed hosts file is mounted", name)
			}
		}
	}

	// A volume SetUp does not know is a config error.
	c.VolumeMounts = []corev1.VolumeMount{{Name: "other", MountPath: "/x"}}
	_, err = m.ContainerMounts(ctx, pod, c, nil, "")
	var cfgErr *ConfigError
	if !errors.As(err, &cfgErr) || cfgErr.Message != `cannot find volume "other" to mount into container "web"` {
		t.Errorf("unknown volume: %v", err)
	}
}

// TestContainerMountsSubPath checks subPath and subPathExpr, including
// the symlink attack: a container plants evil -> / in an emptyDir and
// another container asks for subPath evil.
func TestContainerMountsSubPath(t *testing.T) {
	needRoot(t)
	m := newTestManager(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"}, Data: map[string]string{"app.conf": "port=80"}})
	ctx := context.Background()
	pod := testPod(
		corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		configMapVolume("config", "cfg"),
	)
	if _, err := m.SetUp(ctx, pod); err != nil {
		t.Fatal(err)
	}
	data := m.volumeDir(pod.UID, dirEmptyDir, "data")
	if err := os.Symlink("/", filepath.Join(data, "evil")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(data, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("logs", filepath.Join(data, "fine")); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"POD_NAME": "web"}

	for _, tc := range []struct {
		name  string
		mount corev1.VolumeMount
		err   string
		// check inspects the host side of an accepted mount.
		check func(t *testing.T, hostPath string)
	}{
		{name: "symlink to /", mount: corev1.VolumeMount{Name: "data", MountPath: "/x", SubPath: "evil"},
			err: `failed to prepare subPath for volumeMount "data" of container "web"`},
		{name: "below a symlink to /", mount: corev1.VolumeMount{Name: "data", MountPath: "/x", SubPath: "evil/etc"},
			err: `failed to prepare subPath for volumeMount "data" of container "web"`},
		{name: "backsteps", mount: corev1.VolumeMount{Name: "data", MountPath: "/x", SubPath: "logs/../../.."},
			err: "unable to provision SubPath `logs/../../..`: must not contain '..'"},
		{name: "absolute", mount: corev1.VolumeMount{Name: "data", MountPath: "/x", SubPath: "/etc"},
			err: "error SubPath `/etc` must not be an absolute path"},
		{name: "expr with a missing variable", mount: corev1.VolumeMount{Name: "data", MountPath: "/x", SubPathExpr: "$(NOPE)"},
			err: "missing value for NOPE"},
		{name: "expr expanding to backsteps", mount: corev1.VolumeMount{Name: "data", MountPath: "/x", SubPathExpr: "$(POD_NAME)/../.."},
			err: "unable to provision SubPath `web/../..`: must not contain '..'"},
		{name: "expr creates the directory", mount: corev1.VolumeMount{Name: "data", MountPath: "/x", SubPathExpr: "logs/$(POD_NAME)"},
			check: func(t *testing.T, hostPath string) {
				if err := os.WriteFile(filepath.Join(hostPath, "seen"), []byte("y"), 0o644); err != nil {
					t.Fatal(err)
				}
				if got := readFile(t, filepath.Join(data, "logs", "web", "seen")); got != "y" {
					t.Errorf("write through the bind = %q", got)
				}
			}},
		{name: "symlink inside the volume", mount: corev1.VolumeMount{Name: "data", MountPath: "/x", SubPath: "fine"},
			check: func(t *testing.T, hostPath string) {
				if _, err := os.Stat(filepath.Join(hostPath, "web", "seen")); err != nil {
					t.Errorf("bind of fine -> logs does not show logs: %v", err)
				}
			}},
		{name: "configMap key as a file", mount: corev1.VolumeMount{Name: "config", MountPath: "/etc/app.conf", SubPath: "app.conf"},
			check: func(t *testing.T, hostPath string) {
				if got := readFile(t, hostPath); got != "port=80" {
					t.Errorf("file subPath reads %q", got)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &pod.Spec.Containers[0]
			c.VolumeMounts = []corev1.VolumeMount{tc.mount}
			mounts, err := m.ContainerMounts(ctx, pod, c, env, "")
			if tc.err != "" {
				var cfgErr *ConfigError
				if !errors.As(err, &cfgErr) || cfgErr.Message != tc.err {
					t.Errorf("ContainerMounts = %v, %v; want ConfigError %q", mounts, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			hostPath := mounts[0].HostPath
			wantTarget := filepath.Join(m.PodDir(pod.UID), "volume-subpaths", tc.mount.Name, "web", "0")
			if hostPath != wantTarget {
				t.Errorf("host path %s, want the bind at %s", hostPath, wantTarget)
			}
			if mounted, _ := isMountPoint(hostPath); !mounted {
				t.Errorf("%s is not a bind mount", hostPath)
			}
			if mounts[0].Readonly != (tc.mount.Name == "config") {
				t.Errorf("readonly = %v", mounts[0].Readonly)
			}
			tc.check(t, hostPath)
		})
	}
	if err := m.TearDown(ctx, pod.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/etc/hostname"); err != nil {
		t.Errorf("the host's /etc survived? %v", err)
	}
}

func TestCleanupOrphans(t *testing.T) {
	m := newTestManager(t)
	for _, uid := range []types.UID{"alive", "gone", "running"} {
		if err := os.MkdirAll(filepath.Join(m.PodDir(uid), "volumes", dirEmptyDir, "x"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := m.CleanupOrphans(context.Background(), func(uid types.UID) bool { return uid == "alive" || uid == "running" })
	if err != nil || len(removed) != 1 || removed[0] != "gone" {
		t.Errorf("CleanupOrphans = %v, %v; want [gone]", removed, err)
	}
	for uid, want := range map[types.UID]bool{"alive": true, "running": true, "gone": false} {
		if _, err := os.Stat(m.PodDir(uid)); (err == nil) != want {
			t.Errorf("pod dir %s exists = %v, want %v", uid, err == nil, want)
		}
	}
}

func TestBadUIDsNeverReachRoot(t *testing.T) {
	m := newTestManager(t)
	keep := filepath.Join(m.cfg.Root, "other-pod")
	if err := os.MkdirAll(keep, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, uid := range []types.UID{"", ".", "..", "a/b", "../x"} {
		if err := m.TearDown(context.Background(), uid); err == nil {
			t.Errorf("TearDown(%q) succeeded", uid)
		}
		pod := testPod()
		pod.UID = uid
		if _, err := m.SetUp(context.Background(), pod); err == nil {
			t.Errorf("SetUp of a pod with UID %q succeeded", uid)
		}
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("another pod's directory was touched: %v", err)
	}
}
