package integration

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/controllermanager/builtin"
	"github.com/navarch/navarch/test/framework"
)

func configMap(name string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: data}
}

func TestBootstrapObjects(t *testing.T) {
	c := framework.StartInProcess(t, framework.Options{Controllers: builtin.Controllers(builtin.Config{StorageDir: t.TempDir()})})
	client := c.Client(t)
	ctx := context.Background()
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		got, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("namespace %s: %v", ns, err)
		}
		if got.Status.Phase != corev1.NamespaceActive {
			t.Errorf("namespace %s phase = %q, want Active", ns, got.Status.Phase)
		}
	}
	svc, err := client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("kubernetes service: %v", err)
	}
	if svc.Spec.ClusterIP != "10.43.0.1" {
		t.Errorf("kubernetes service clusterIP = %q, want 10.43.0.1", svc.Spec.ClusterIP)
	}
}

func TestCRUDAndConflicts(t *testing.T) {
	c := framework.StartInProcess(t, framework.Options{Controllers: builtin.Controllers(builtin.Config{StorageDir: t.TempDir()})})
	client := c.Client(t)
	ctx := context.Background()
	cms := client.CoreV1().ConfigMaps("default")

	created, err := cms.Create(ctx, configMap("a", map[string]string{"k": "v"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if created.UID == "" || created.ResourceVersion == "" || created.CreationTimestamp.IsZero() {
		t.Fatalf("server-owned fields missing: %+v", created.ObjectMeta)
	}
	if _, err := cms.Create(ctx, configMap("a", nil), metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("second create: got %v, want AlreadyExists", err)
	}

	// An update with the current resourceVersion wins; the same stale one loses.
	upd := created.DeepCopy()
	upd.Data["k"] = "v2"
	updated, err := cms.Update(ctx, upd, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if updated.ResourceVersion == created.ResourceVersion {
		t.Fatalf("resourceVersion did not change on update")
	}
	stale := created.DeepCopy()
	stale.Data["k"] = "stale"
	if _, err := cms.Update(ctx, stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("stale update: got %v, want Conflict", err)
	}

	// generateName
	gen, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "gen-"}}, metav1.CreateOptions{})
	if err != nil || !strings.HasPrefix(gen.Name, "gen-") || len(gen.Name) != len("gen-")+5 {
		t.Fatalf("generateName: name %q, err %v", gen.Name, err)
	}

	// dry run writes nothing
	if _, err := cms.Create(ctx, configMap("dry", nil), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatalf("dry-run create: %v", err)
	}
	if _, err := cms.Get(ctx, "dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("dry-run object exists: %v", err)
	}

	// Patches of the three kinds.
	patches := []struct {
		name  string
		typ   types.PatchType
		patch string
		want  string
	}{
		{"merge", types.MergePatchType, `{"data":{"k":"merge"}}`, "merge"},
		{"json", types.JSONPatchType, `[{"op":"replace","path":"/data/k","value":"json"}]`, "json"},
		{"strategic", types.StrategicMergePatchType, `{"data":{"k":"smp"}}`, "smp"},
	}
	for _, p := range patches {
		t.Run("patch-"+p.name, func(t *testing.T) {
			got, err := cms.Patch(ctx, "a", p.typ, []byte(p.patch), metav1.PatchOptions{})
			if err != nil {
				t.Fatalf("patch: %v", err)
			}
			if got.Data["k"] != p.want {
				t.Fatalf("data.k = %q, want %q", got.Data["k"], p.want)
			}
		})
	}
	if _, err := cms.Patch(ctx, "a", types.ApplyPatchType, []byte("{}"), metav1.PatchOptions{FieldManager: "x"}); err == nil || !strings.Contains(err.Error(), "unknown format") {
		t.Fatalf("apply patch: got %v, want 415 unsupported", err)
	}

	// Delete with a wrong UID precondition conflicts; the right one deletes.
	bad := types.UID("nope")
	if err := cms.Delete(ctx, "a", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &bad}}); !apierrors.IsConflict(err) {
		t.Fatalf("delete with wrong uid: got %v, want Conflict", err)
	}
	if err := cms.Delete(ctx, "a", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &created.UID}}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := cms.Get(ctx, "a", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get after delete: %v", err)
	}
}

func TestFinalizersHoldDeletion(t *testing.T) {
	c := framework.StartInProcess(t, framework.Options{Controllers: builtin.Controllers(builtin.Config{StorageDir: t.TempDir()})})
	cms := c.Client(t).CoreV1().ConfigMaps("default")
	ctx := context.Background()
	cm := configMap("held", nil)
	cm.Finalizers = []string{"example.com/hold"}
	if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := cms.Get(ctx, "held", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("object with finalizer gone at once: %v", err)
	}
	if got.DeletionTimestamp == nil {
		t.Fatalf("no deletionTimestamp on an object being deleted")
	}
	got.Finalizers = nil
	if _, err := cms.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("removing finalizer: %v", err)
	}
	if _, err := cms.Get(ctx, "held", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("object still there after its last finalizer went: %v", err)
	}
}

func TestValidationErrors(t *testing.T) {
	c := framework.StartInProcess(t, framework.Options{Controllers: builtin.Controllers(builtin.Config{StorageDir: t.TempDir()})})
	client := c.Client(t)
	ctx := context.Background()

	_, err := client.CoreV1().ConfigMaps("nowhere").Create(ctx, configMap("x", nil), metav1.CreateOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("create in missing namespace: got %v, want NotFound", err)
	}
	_, err = client.CoreV1().ConfigMaps("default").Create(ctx, configMap("Bad_Name", nil), metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "metadata.name") {
		t.Errorf("bad name: got %v, want Invalid naming metadata.name", err)
	}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "d"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "a"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "b"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}},
			},
		},
	}
	_, err = client.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "selector") {
		t.Errorf("selector mismatch: got %v, want Invalid about the selector", err)
	}
	big := configMap("big", map[string]string{"k": strings.Repeat("x", 2*1024*1024)})
	_, err = client.CoreV1().ConfigMaps("default").Create(ctx, big, metav1.CreateOptions{})
	if !apierrors.IsRequestEntityTooLargeError(err) {
		t.Errorf("2 MiB configmap: got %v, want 413", err)
	}

	raw := rawClient(t, c)
	cases := []struct {
		name, method, path, contentType, body string
		wantCode                              int
	}{
		{"malformed json", "POST", "/api/v1/namespaces/default/configmaps", "application/json", `{"metadata":`, 400},
		{"malformed yaml", "POST", "/api/v1/namespaces/default/configmaps", "application/yaml", "a: [b", 400},
		{"wrong kind", "POST", "/api/v1/namespaces/default/configmaps", "application/json", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}`, 400},
		{"unknown kind", "GET", "/api/v1/namespaces/default/widgets", "", "", 404},
		{"unknown group", "GET", "/apis/example.com/v1/widgets", "", "", 404},
		{"unknown field strict", "POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Strict", "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"s"},"bogus":1}`, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := raw.do(t, tc.method, tc.path, tc.contentType, tc.body)
			if code != tc.wantCode {
				t.Fatalf("%s %s: code %d, want %d; body %s", tc.method, tc.path, code, tc.wantCode, body)
			}
			var status metav1.Status
			if err := json.Unmarshal([]byte(body), &status); err != nil || status.Kind != "Status" {
				t.Fatalf("body is not a Status: %s", body)
			}
		})
	}
}

func TestUnauthenticatedIsRejected(t *testing.T) {
	c := framework.StartInProcess(t, framework.Options{Controllers: builtin.Controllers(builtin.Config{StorageDir: t.TempDir()})})
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	base := fmt.Sprintf("https://127.0.0.1:%d", c.Port)
	for path, want := range map[string]int{"/api/v1/pods": 401, "/api": 401, "/readyz": 200, "/version": 200} {
		resp, err := insecure.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s without credentials: %d, want %d", path, resp.StatusCode, want)
		}
	}
	// Nothing a request carries claims the in-process clients' user
	// (apiserver/inprocess): those are recognized by their transport only.
	for _, h := range []http.Header{
		{"User-Agent": {"navarch-server"}},
		{"X-Remote-User": {"system:navarch-controller-manager"}, "X-Remote-Group": {"system:masters"}},
		{"Impersonate-User": {"system:navarch-controller-manager"}},
		{"Authorization": {"Bearer system:navarch-controller-manager"}},
	} {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/pods", nil)
		req.Header = h
		resp, err := insecure.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /api/v1/pods with %v: %d, want 401", h, resp.StatusCode)
		}
	}
	if _, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api", c.Port)); err == nil {
		// A plain HTTP request to a TLS port gets a 400 from Go's TLS
		// server, never an API answer.
		resp, _ := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/pods", c.Port))
		if resp != nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), "PodList") {
				t.Errorf("plain HTTP served the API")
			}
		}
	}
}

func TestWatchResumeAndSelectors(t *testing.T) {
	c := framework.StartInProcess(t, framework.Options{Controllers: builtin.Controllers(builtin.Config{StorageDir: t.TempDir()})})
	cms := c.Client(t).CoreV1().ConfigMaps("default")
	ctx := context.Background()
	first, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "w1", Labels: map[string]string{"app": "x"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= 3; i++ {
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("w%d", i), Labels: map[string]string{"app": "x"}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "other"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Resume after the first create: exactly w2 and w3 arrive.
	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion, LabelSelector: "app=x"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var got []string
	timeout := time.After(10 * time.Second)
	for len(got) < 2 {
		select {
		case ev := <-w.ResultChan():
			if ev.Type != watch.Added {
				t.Fatalf("event %s, want ADDED", ev.Type)
			}
			got = append(got, ev.Object.(*corev1.ConfigMap).Name)
		case <-timeout:
			t.Fatalf("got %v before timeout, want [w2 w3]", got)
		}
	}
	if got[0] != "w2" || got[1] != "w3" {
		t.Fatalf("events for %v, want [w2 w3]", got)
	}

	list, err := cms.List(ctx, metav1.ListOptions{LabelSelector: "app=x", Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 2 || list.Continue == "" {
		t.Fatalf("first page: %d items, continue %q", len(list.Items), list.Continue)
	}
	rest, err := cms.List(ctx, metav1.ListOptions{LabelSelector: "app=x", Limit: 2, Continue: list.Continue})
	if err != nil {
		t.Fatal(err)
	}
	if len(rest.Items) != 1 || rest.Items[0].Name != "w3" {
		t.Fatalf("second page: %+v", rest.Items)
	}
	byName, err := cms.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=other"})
	if err != nil || len(byName.Items) != 1 {
		t.Fatalf("field selector: %v, %d items", err, len(byName.Items))
	}
	if _, err := cms.List(ctx, metav1.ListOptions{FieldSelector: "spec.nothing=1"}); !apierrors.IsBadRequest(err) {
		t.Fatalf("unsupported field selector: got %v, want BadRequest", err)
	}
}

func TestNamespaceDeletionRemovesContents(t *testing.T) {
	c := framework.StartInProcess(t, framework.Options{Controllers: builtin.Controllers(builtin.Config{StorageDir: t.TempDir()})})
	client := c.Client(t)
	ctx := context.Background()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "doomed"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := client.CoreV1().ConfigMaps("doomed").Create(ctx, configMap(fmt.Sprintf("c%d", i), nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.CoreV1().Namespaces().Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ns, err := client.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
	if err == nil && ns.Status.Phase != corev1.NamespaceTerminating {
		t.Errorf("deleted namespace phase %q, want Terminating", ns.Status.Phase)
	}
	if _, err := client.CoreV1().ConfigMaps("doomed").Create(ctx, configMap("late", nil), metav1.CreateOptions{}); err == nil {
		// It may already be gone (NotFound); it must never accept content.
		t.Errorf("a terminating namespace accepted a new object")
	}
	framework.WaitFor(t, 30*time.Second, "namespace removed", func() (bool, error) {
		_, err := client.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	left, err := client.CoreV1().ConfigMaps("doomed").List(ctx, metav1.ListOptions{})
	if err != nil || len(left.Items) != 0 {
		t.Fatalf("contents left: %v %v", err, left)
	}
}

func TestServiceAllocation(t *testing.T) {
	c := framework.StartInProcess(t, framework.Options{Controllers: builtin.Controllers(builtin.Config{StorageDir: t.TempDir()})})
	svcs := c.Client(t).CoreV1().Services("default")
	ctx := context.Background()
	svc := func(name string, typ corev1.ServiceType, nodePort int32) *corev1.Service {
		return &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.ServiceSpec{Type: typ, Selector: map[string]string{"app": name},
				Ports: []corev1.ServicePort{{Port: 80, NodePort: nodePort}}},
		}
	}
	np, err := svcs.Create(ctx, svc("np", corev1.ServiceTypeNodePort, 31000), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("nodeport service: %v", err)
	}
	if np.Spec.ClusterIP == "" || np.Spec.Ports[0].NodePort != 31000 {
		t.Fatalf("allocation: clusterIP %q nodePort %d", np.Spec.ClusterIP, np.Spec.Ports[0].NodePort)
	}
	_, err = svcs.Create(ctx, svc("np2", corev1.ServiceTypeNodePort, 31000), metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "already allocated") {
		t.Fatalf("reused nodePort: got %v, want Invalid already allocated", err)
	}
	// Concurrent creates never share an IP.
	var wg sync.WaitGroup
	ips := make(chan string, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s, err := svcs.Create(ctx, svc(fmt.Sprintf("c%d", i), corev1.ServiceTypeClusterIP, 0), metav1.CreateOptions{})
			if err != nil {
				t.Errorf("create c%d: %v", i, err)
				return
			}
			ips <- s.Spec.ClusterIP
		}(i)
	}
	wg.Wait()
	close(ips)
	seen := map[string]bool{}
	for ip := range ips {
		if seen[ip] {
			t.Errorf("IP %s handed out twice", ip)
		}
		seen[ip] = true
	}
	// Deleting frees the node port.
	if err := svcs.Delete(ctx, "np", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := svcs.Create(ctx, svc("np3", corev1.ServiceTypeNodePort, 31000), metav1.CreateOptions{}); err != nil {
		t.Fatalf("nodePort not released on delete: %v", err)
	}
}

func TestConcurrentUpdatesOneWinnerPerVersion(t *testing.T) {
	c := framework.StartInProcess(t, framework.Options{Controllers: builtin.Controllers(builtin.Config{StorageDir: t.TempDir()})})
	client := c.Client(t)
	cms := client.CoreV1().ConfigMaps("default")
	ctx := context.Background()
	base, err := cms.Create(ctx, configMap("race", map[string]string{"n": "0"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const writers = 10
	var wg sync.WaitGroup
	results := make(chan error, writers)
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cm := base.DeepCopy()
			cm.Data["n"] = fmt.Sprint(i + 1) // never the stored value: a no-op update would win
			_, err := cms.Update(ctx, cm, metav1.UpdateOptions{})
			results <- err
		}(i)
	}
	wg.Wait()
	close(results)
	wins, conflicts := 0, 0
	for err := range results {
		switch {
		case err == nil:
			wins++
		case apierrors.IsConflict(err):
			conflicts++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 || conflicts != writers-1 {
		t.Fatalf("wins %d conflicts %d, want 1 and %d", wins, conflicts, writers-1)
	}

	// Read-modify-write loops with retry lose no increment.
	if _, err := cms.Create(ctx, configMap("counter", map[string]string{"n": "0"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const incs = 10
	for i := 0; i < incs; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			increment(t, client)
		}()
	}
	wg.Wait()
	got, err := cms.Get(ctx, "counter", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Data["n"] != fmt.Sprint(incs) {
		t.Fatalf("counter = %s, want %d", got.Data["n"], incs)
	}
}

func increment(t *testing.T, client kubernetes.Interface) {
	cms := client.CoreV1().ConfigMaps("default")
	for attempt := 0; attempt < 100; attempt++ {
		cm, err := cms.Get(context.Background(), "counter", metav1.GetOptions{})
		if err != nil {
			t.Errorf("get: %v", err)
			return
		}
		var n int
		fmt.Sscan(cm.Data["n"], &n)
		cm.Data["n"] = fmt.Sprint(n + 1)
		_, err = cms.Update(context.Background(), cm, metav1.UpdateOptions{})
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			t.Errorf("update: %v", err)
			return
		}
	}
	t.Errorf("increment never won")
}

func TestStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	c := framework.StartInProcess(t, framework.Options{DataDir: dir})
	if _, err := c.Client(t).CoreV1().ConfigMaps("default").Create(context.Background(), configMap("keep", map[string]string{"a": "b"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Stop()
	c2 := framework.StartInProcess(t, framework.Options{DataDir: dir, Port: c.Port})
	got, err := c2.Client(t).CoreV1().ConfigMaps("default").Get(context.Background(), "keep", metav1.GetOptions{})
	if err != nil || got.Data["a"] != "b" {
		t.Fatalf("after restart: %v %v", got, err)
	}
}

func TestScaleSubresource(t *testing.T) {
	c := framework.StartInProcess(t, framework.Options{Controllers: builtin.Controllers(builtin.Config{StorageDir: t.TempDir()})})
	client := c.Client(t)
	ctx := context.Background()
	labels := map[string]string{"app": "s"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "s"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}},
			},
		},
	}
	if _, err := client.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The deployment controller writes the status meanwhile, which moves
	// the resourceVersion the scale carries: read again on conflict, as
	// any client must.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		scale, err := client.AppsV1().Deployments("default").GetScale(ctx, "s", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if scale.Spec.Replicas != 1 || scale.Status.Selector != "app=s" {
			t.Fatalf("scale = %+v", scale)
		}
		scale.Spec.Replicas = 4
		_, err = client.AppsV1().Deployments("default").UpdateScale(ctx, "s", scale, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := client.AppsV1().Deployments("default").Get(ctx, "s", metav1.GetOptions{})
	if err != nil || *got.Spec.Replicas != 4 {
		t.Fatalf("replicas after scale: %v %v", got.Spec.Replicas, err)
	}
	if got.Generation != 2 {
		t.Fatalf("generation after a spec change = %d, want 2", got.Generation)
	}
}

// TestPodStatusStrategicMergePatch: the node agent writes pod status as
// the kubelet does, a strategic merge patch of pods/status carrying the
// pod's UID: conditions merge by type, the pod's metadata is untouched,
// a stale view of the pod does not conflict, and a UID that is not the
// stored pod's (the pod was recreated under the same name) conflicts.
// startWithPodP starts an in-process server and creates pod p (labels
// app=p, container c of image i, bound to node n1) in default.
func startWithPodP(t *testing.T) (kubernetes.Interface, *corev1.Pod) {
	t.Helper()
	client := framework.StartInProcess(t, framework.Options{}).Client(t)
	pod, err := client.CoreV1().Pods("default").Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"app": "p"}},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "i"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return client, pod
}

func TestPodStatusStrategicMergePatch(t *testing.T) {
	client, pod := startWithPodP(t)
	ctx := context.Background()
	pods := client.CoreV1().Pods("default")
	var err error
	// Someone else writes a condition of their own and a label; the
	// patches below are computed from the pod as created.
	other := pod.DeepCopy()
	other.Status.Conditions = append(other.Status.Conditions, corev1.PodCondition{Type: "example.com/gate", Status: corev1.ConditionTrue})
	if other, err = pods.UpdateStatus(ctx, other, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	other.Labels["writer"] = "other"
	if _, err = pods.Update(ctx, other, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	patch := fmt.Sprintf(`{"metadata":{"uid":%q},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}],`+
		`"containerStatuses":[{"name":"c","image":"i","imageID":"","ready":true,"restartCount":0,"state":{"running":{}}}]}}`, pod.UID)
	got, err := pods.Patch(ctx, "p", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status")
	if err != nil {
		t.Fatalf("status patch with the pod's UID: %v", err)
	}
	if got.Status.Phase != corev1.PodRunning || len(got.Status.ContainerStatuses) != 1 {
		t.Errorf("status after the patch: %+v", got.Status)
	}
	seen := map[corev1.PodConditionType]bool{}
	for _, cond := range got.Status.Conditions {
		seen[cond.Type] = true
	}
	if !seen[corev1.PodReady] || !seen["example.com/gate"] {
		t.Errorf("conditions %+v, want Ready added and the other writer's kept", got.Status.Conditions)
	}
	if got.Labels["writer"] != "other" {
		t.Errorf("labels %v, want the other writer's kept", got.Labels)
	}

	// The pod is deleted and recreated under the same name: the old
	// pod's status patch conflicts and changes nothing.
	if err := pods.Delete(ctx, "p", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}); err != nil {
		t.Fatal(err)
	}
	framework.WaitFor(t, 10*time.Second, "pod p gone", func() (bool, error) {
		_, err := pods.Get(ctx, "p", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	recreated, err := pods.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "i"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Patch(ctx, "p", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status"); !apierrors.IsConflict(err) {
		t.Fatalf("status patch with the old pod's UID: got %v, want Conflict", err)
	}
	after, err := pods.Get(ctx, "p", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.UID != recreated.UID || after.Status.Phase == corev1.PodRunning || after.ResourceVersion != recreated.ResourceVersion {
		t.Errorf("the recreated pod changed: %+v", after)
	}
}

// TestEphemeralContainersSubresource drives pods/ephemeralcontainers as
// `kubectl debug` does (a strategic merge patch of the Pod) and through
// client-go's UpdateEphemeralContainers: a container is added and
// defaulted, the rest of the pod does not change, and existing ones can be
// neither changed nor removed, nor added through a plain update.
func TestEphemeralContainersSubresource(t *testing.T) {
	client, pod := startWithPodP(t)
	ctx := context.Background()
	pods := client.CoreV1().Pods("default")

	patch := `{"metadata":{"labels":{"sneaky":"yes"}},"spec":{"ephemeralContainers":[{"name":"debugger","image":"tools:1","targetContainerName":"c","stdin":true,"tty":true}]}}`
	got, err := pods.Patch(ctx, "p", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "ephemeralcontainers")
	if err != nil {
		t.Fatalf("patch of pods/ephemeralcontainers: %v", err)
	}
	if len(got.Spec.EphemeralContainers) != 1 {
		t.Fatalf("ephemeral containers after the patch: %+v", got.Spec.EphemeralContainers)
	}
	ec := got.Spec.EphemeralContainers[0]
	if ec.TargetContainerName != "c" || ec.ImagePullPolicy != corev1.PullIfNotPresent || ec.TerminationMessagePath == "" {
		t.Errorf("ephemeral container not kept or not defaulted: %+v", ec)
	}
	if got.Labels["sneaky"] != "" {
		t.Errorf("labels %v: the subresource changed metadata", got.Labels)
	}
	if got.Generation != pod.Generation+1 {
		t.Errorf("generation %d, want %d (the spec changed)", got.Generation, pod.Generation+1)
	}
	read, err := pods.Get(ctx, "p", metav1.GetOptions{})
	if err != nil || len(read.Spec.EphemeralContainers) != 1 {
		t.Fatalf("pod read back: %v %+v", err, read)
	}

	// The subresource answers GET with the whole pod.
	var viaSub corev1.Pod
	if err := client.CoreV1().RESTClient().Get().Namespace("default").Resource("pods").Name("p").SubResource("ephemeralcontainers").Do(ctx).Into(&viaSub); err != nil {
		t.Fatalf("GET pods/p/ephemeralcontainers: %v", err)
	}
	if viaSub.Name != "p" || len(viaSub.Spec.EphemeralContainers) != 1 {
		t.Errorf("GET pods/p/ephemeralcontainers: %+v", viaSub)
	}

	changed := read.DeepCopy()
	changed.Spec.EphemeralContainers[0].Image = "other"
	_, err = pods.UpdateEphemeralContainers(ctx, "p", changed, metav1.UpdateOptions{})
	expectInvalid(t, err, "spec.ephemeralContainers.debugger", "may not be changed")

	removed := read.DeepCopy()
	removed.Spec.EphemeralContainers = nil
	_, err = pods.UpdateEphemeralContainers(ctx, "p", removed, metav1.UpdateOptions{})
	expectInvalid(t, err, "spec.ephemeralContainers", "may not be removed")

	clash := read.DeepCopy()
	clash.Spec.EphemeralContainers = append(clash.Spec.EphemeralContainers, corev1.EphemeralContainer{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "c", Image: "tools"}})
	_, err = pods.UpdateEphemeralContainers(ctx, "p", clash, metav1.UpdateOptions{})
	expectInvalid(t, err, "spec.ephemeralContainers[1].name", "Duplicate value")

	second := read.DeepCopy()
	second.Spec.EphemeralContainers = append(second.Spec.EphemeralContainers, corev1.EphemeralContainer{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "second", Image: "tools"}})
	if got, err = pods.UpdateEphemeralContainers(ctx, "p", second, metav1.UpdateOptions{}); err != nil || len(got.Spec.EphemeralContainers) != 2 {
		t.Fatalf("adding a second ephemeral container: %v %+v", err, got)
	}

	plain := got.DeepCopy()
	plain.Spec.EphemeralContainers = append(plain.Spec.EphemeralContainers, corev1.EphemeralContainer{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "third", Image: "tools", ImagePullPolicy: corev1.PullIfNotPresent,
			TerminationMessagePath: corev1.TerminationMessagePathDefault, TerminationMessagePolicy: corev1.TerminationMessageReadFile}})
	_, err = pods.Update(ctx, plain, metav1.UpdateOptions{})
	expectInvalid(t, err, "spec", "pod updates may not change fields")
}

// expectInvalid fails unless err is a 422 Invalid whose message names
// field and holds text.
func expectInvalid(t *testing.T, err error, field, text string) {
	t.Helper()
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), field) || !strings.Contains(err.Error(), text) {
		t.Errorf("got %v, want 422 Invalid on %s (%q)", err, field, text)
	}
}
