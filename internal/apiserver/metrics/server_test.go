package metrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/navarch/navarch/internal/apiserver/metrics"
)

var (
	sampleTime = time.Date(2026, 11, 22, 10, 0, 5, 0, time.UTC)
	now        = time.Date(2026, 11, 22, 10, 0, 7, 0, time.UTC)
)

// fakeStats answers Do from canned summaries; nodes in down fail, nodes
// in hang block until the request's context ends.
type fakeStats struct {
	summaries map[string]*statsapi.Summary
	// raw are summaries already encoded, answered as they are.
	raw    map[string][]byte
	down   map[string]bool
	hang   map[string]bool
	status map[string]int

	mu    sync.Mutex
	calls []string
}

func (f *fakeStats) Do(ctx context.Context, node, method, pathAndQuery string) (*http.Response, error) {
	f.mu.Lock()
	f.calls = append(f.calls, node+" "+method+" "+pathAndQuery)
	f.mu.Unlock()
	if f.hang[node] {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if f.down[node] {
		return nil, errors.New("dial tcp 10.0.0.9:10250: connect: connection refused")
	}
	if code := f.status[node]; code != 0 {
		return &http.Response{StatusCode: code, Status: http.StatusText(code), Body: io.NopCloser(strings.NewReader("no"))}, nil
	}
	data := f.raw[node]
	if data == nil {
		s := f.summaries[node]
		if s == nil {
			return nil, fmt.Errorf("no node %s", node)
		}
		var err error
		if data, err = json.Marshal(s); err != nil {
			return nil, err
		}
	}
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Body: io.NopCloser(bytes.NewReader(data))}, nil
}

// askedNodes returns the nodes asked so far, sorted, and forgets them.
func (f *fakeStats) askedNodes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var nodes []string
	for _, c := range f.calls {
		nodes = append(nodes, strings.Fields(c)[0])
	}
	f.calls = nil
	sort.Strings(nodes)
	return nodes
}

// fakeObjects holds nodes and pods in memory.
type fakeObjects struct {
	nodes []*corev1.Node
	pods  []*corev1.Pod
}

func (o *fakeObjects) ListNodes(_ context.Context, sel labels.Selector) ([]*corev1.Node, error) {
	var out []*corev1.Node
	for _, n := range o.nodes {
		if sel.Matches(labels.Set(n.Labels)) {
			out = append(out, n)
		}
	}
	return out, nil
}

func (o *fakeObjects) GetNode(_ context.Context, name string) (*corev1.Node, error) {
	for _, n := range o.nodes {
		if n.Name == name {
			return n, nil
		}
	}
	return nil, apierrors.NewNotFound(corev1.Resource("nodes"), name)
}

func (o *fakeObjects) ListPods(_ context.Context, ns string, sel labels.Selector) ([]*corev1.Pod, error) {
	var out []*corev1.Pod
	for _, p := range o.pods {
		if (ns == "" || p.Namespace == ns) && sel.Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	return out, nil
}

func (o *fakeObjects) GetPod(_ context.Context, ns, name string) (*corev1.Pod, error) {
	for _, p := range o.pods {
		if p.Namespace == ns && p.Name == name {
			return p, nil
		}
	}
	return nil, apierrors.NewNotFound(corev1.Resource("pods"), name)
}

func u(v uint64) *uint64 { return &v }

func cpu(nanoCores uint64) *statsapi.CPUStats {
	return &statsapi.CPUStats{Time: metav1.NewTime(sampleTime), UsageNanoCores: u(nanoCores), UsageCoreNanoSeconds: u(nanoCores * 100)}
}

func mem(ws uint64) *statsapi.MemoryStats {
	return &statsapi.MemoryStats{Time: metav1.NewTime(sampleTime), WorkingSetBytes: u(ws)}
}

func container(name string, nanoCores, ws uint64) statsapi.ContainerStats {
	return statsapi.ContainerStats{Name: name, CPU: cpu(nanoCores), Memory: mem(ws)}
}

func podStats(ns, name, uid string, containers ...statsapi.ContainerStats) statsapi.PodStats {
	return statsapi.PodStats{PodRef: statsapi.PodReference{Namespace: ns, Name: name, UID: uid}, Containers: containers}
}

func node(name string, lbls map[string]string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls}}
}

func pod(ns, name, nodeName string, phase corev1.PodPhase, lbls map[string]string, containers ...string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name), Labels: lbls},
		Spec:       corev1.PodSpec{NodeName: nodeName},
		Status:     corev1.PodStatus{Phase: phase},
	}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c})
	}
	return p
}

const mib = 1 << 20

// fixture: nodes a and b answer, c's agent is down, d hangs; pods run on
// a, b and c.
func fixture(t *testing.T) (*fakeStats, *httptest.Server) {
	t.Helper()
	web := map[string]string{"app": "web"}
	objects := &fakeObjects{
		nodes: []*corev1.Node{
			node("a", map[string]string{"zone": "east"}), node("b", map[string]string{"zone": "west"}),
			node("c", map[string]string{"zone": "east"}), node("d", nil),
		},
		pods: []*corev1.Pod{
			pod("default", "web", "a", corev1.PodRunning, web, "app", "sidecar"),
			pod("default", "db", "b", corev1.PodRunning, map[string]string{"app": "db"}, "db"),
			pod("default", "pending", "a", corev1.PodPending, web, "app"),
			pod("default", "on-c", "c", corev1.PodRunning, web, "app"),
			pod("default", "half", "a", corev1.PodRunning, nil, "x", "y"),
			pod("default", "replaced", "a", corev1.PodRunning, nil, "app"),
			pod("kube-system", "dns", "b", corev1.PodRunning, nil, "dns"),
		},
	}
	half := podStats("default", "half", "uid-half", container("x", 1e6, mib), container("y", 0, mib))
	half.Containers[1].CPU.UsageNanoCores = nil
	stats := &fakeStats{
		summaries: map[string]*statsapi.Summary{
			"a": {Node: statsapi.NodeStats{NodeName: "a", CPU: cpu(1500000000), Memory: mem(2048 * mib)}, Pods: []statsapi.PodStats{
				// The summary lists the sidecar first; metrics follow the spec.
				podStats("default", "web", "uid-web", container("sidecar", 1000000, 5*mib), container("app", 123456789, 50*mib)),
				podStats("default", "pending", "uid-pending", container("app", 1, 1)),
				half,
				podStats("default", "replaced", "uid-old-replaced", container("app", 1, 1)),
			}},
			"b": {Node: statsapi.NodeStats{NodeName: "b", CPU: cpu(250000000), Memory: mem(1000 * mib)}, Pods: []statsapi.PodStats{
				podStats("default", "db", "uid-db", container("db", 300000000, 300*mib)),
				podStats("kube-system", "dns", "uid-dns", container("dns", 2000000, 20*mib)),
			}},
		},
		down: map[string]bool{"c": true},
		hang: map[string]bool{"d": true},
	}
	s, err := metrics.New(metrics.Config{Stats: stats, Objects: objects, Timeout: 300 * time.Millisecond, Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return stats, srv
}

// get does a GET with an Accept header and returns the status and body.
func get(t *testing.T, url, accept string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

func client(t *testing.T, srv *httptest.Server, contentType string) metricsclient.Interface {
	t.Helper()
	c, err := metricsclient.NewForConfig(&rest.Config{Host: srv.URL, ContentConfig: rest.ContentConfig{ContentType: contentType}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestListNodes(t *testing.T) {
	stats, srv := fixture(t)
	start := time.Now()
	code, body, hdr := get(t, srv.URL+"/apis/metrics.k8s.io/v1beta1/nodes", "")
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("listing took %v; the hanging node should be cut off after the 300 ms timeout", elapsed)
	}
	if code != http.StatusOK || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("GET nodes: %d %s\n%s", code, hdr.Get("Content-Type"), body)
	}
	want := `{"kind":"NodeMetricsList","apiVersion":"metrics.k8s.io/v1beta1","metadata":{},"items":[` +
		`{"metadata":{"name":"a","creationTimestamp":"2026-11-22T10:00:07Z","labels":{"zone":"east"}},"timestamp":"2026-11-22T10:00:05Z","window":"10s","usage":{"cpu":"1500m","memory":"2Gi"}},` +
		`{"metadata":{"name":"b","creationTimestamp":"2026-11-22T10:00:07Z","labels":{"zone":"west"}},"timestamp":"2026-11-22T10:00:05Z","window":"10s","usage":{"cpu":"250m","memory":"1000Mi"}}]}` + "\n"
	if body != want {
		t.Errorf("GET nodes:\n got %s\nwant %s", body, want)
	}
	if got := stats.askedNodes(); !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Errorf("asked nodes %v, want all four", got)
	}
	get(t, srv.URL+"/apis/metrics.k8s.io/v1beta1/nodes/a", "")
	if len(stats.calls) != 1 || stats.calls[0] != "a GET /stats/summary?only_cpu_and_memory=true" {
		t.Errorf("calls for GET nodes/a = %v, want one GET of /stats/summary?only_cpu_and_memory=true on a", stats.calls)
	}
}

func TestNodeSelectorsAndErrors(t *testing.T) {
	stats, srv := fixture(t)
	tests := []struct {
		name, path string
		wantCode   int
		wantNames  []string
		wantAsked  []string
		wantBody   string
	}{
		{"label selector", "nodes?labelSelector=zone%3Deast", 200, []string{"a"}, []string{"a", "c"}, ""},
		{"field selector", "nodes?fieldSelector=metadata.name%3Db", 200, []string{"b"}, []string{"b"}, ""},
		{"nothing selected", "nodes?labelSelector=zone%3Dnorth", 200, nil, nil, ""},
		{"get", "nodes/b", 200, []string{"b"}, []string{"b"}, ""},
		{"get a node whose agent is down", "nodes/c", 404, nil, []string{"c"}, `nodemetrics.metrics.k8s.io \"c\" not found`},
		{"get a missing node", "nodes/zz", 404, nil, nil, `nodes \"zz\" not found`},
		{"unknown field", "nodes?fieldSelector=spec.unschedulable%3Dtrue", 400, nil, nil,
			`\"spec.unschedulable\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"`},
		{"bad label selector", "nodes?labelSelector=a%3D%3D%3Db", 400, nil, nil, "unable to parse requirement"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := get(t, srv.URL+"/apis/metrics.k8s.io/v1beta1/"+tc.path, "")
			if code != tc.wantCode {
				t.Fatalf("GET %s: %d, want %d\n%s", tc.path, code, tc.wantCode, body)
			}
			if asked := stats.askedNodes(); !slices.Equal(asked, tc.wantAsked) {
				t.Errorf("asked nodes %v, want %v", asked, tc.wantAsked)
			}
			if tc.wantBody != "" {
				if !strings.Contains(body, tc.wantBody) || !strings.Contains(body, `"kind":"Status"`) {
					t.Errorf("body %s, want a Status containing %s", body, tc.wantBody)
				}
				return
			}
			var names []string
			if strings.Contains(tc.path, "/") {
				var m metricsv1beta1.NodeMetrics
				if err := json.Unmarshal([]byte(body), &m); err != nil {
					t.Fatal(err)
				}
				names = append(names, m.Name)
			} else {
				var list metricsv1beta1.NodeMetricsList
				if err := json.Unmarshal([]byte(body), &list); err != nil {
					t.Fatal(err)
				}
				for _, m := range list.Items {
					names = append(names, m.Name)
				}
			}
			if !slices.Equal(names, tc.wantNames) {
				t.Errorf("node metrics %v, want %v", names, tc.wantNames)
			}
		})
	}
}

// TestPods lists and gets pod metrics through the generated metrics
// client, as kubectl top does, in JSON and in protobuf.
func TestPods(t *testing.T) {
	for _, contentType := range []string{"application/json", "application/vnd.kubernetes.protobuf"} {
		t.Run(contentType, func(t *testing.T) {
			stats, srv := fixture(t)
			c := client(t, srv, contentType).MetricsV1beta1()
			ctx := context.Background()
			names := func(list *metricsv1beta1.PodMetricsList) []string {
				var out []string
				for _, p := range list.Items {
					out = append(out, p.Namespace+"/"+p.Name)
				}
				return out
			}

			list, err := c.PodMetricses("default").List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// pending is not Running, on-c's node is down, half has a
			// container without a CPU rate, replaced's UID differs.
			if got := names(list); !slices.Equal(got, []string{"default/web", "default/db"}) {
				t.Errorf("default pods %v, want web and db", got)
			}
			if asked := stats.askedNodes(); !slices.Equal(asked, []string{"a", "b", "c"}) {
				t.Errorf("asked %v, want the nodes of the running pods a, b, c", asked)
			}
			web := list.Items[0]
			if web.Labels["app"] != "web" || web.Window.Duration != 10*time.Second || !web.Timestamp.Time.Equal(sampleTime) || !web.CreationTimestamp.Time.Equal(now) {
				t.Errorf("web metadata %+v window %v timestamp %v", web.ObjectMeta, web.Window, web.Timestamp)
			}
			var containers []string
			for _, ct := range web.Containers {
				containers = append(containers, fmt.Sprintf("%s cpu=%s memory=%s", ct.Name, ct.Usage.Cpu(), ct.Usage.Memory()))
			}
			if want := []string{"app cpu=123456789n memory=50Mi", "sidecar cpu=1m memory=5Mi"}; !slices.Equal(containers, want) {
				t.Errorf("web containers %v, want %v (in spec order)", containers, want)
			}

			all, err := c.PodMetricses("").List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := names(all); !slices.Equal(got, []string{"default/web", "default/db", "kube-system/dns"}) {
				t.Errorf("all pods %v", got)
			}
			selected, err := c.PodMetricses("").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
			if err != nil {
				t.Fatal(err)
			}
			if got := names(selected); !slices.Equal(got, []string{"default/web"}) {
				t.Errorf("app=web pods %v", got)
			}
			byName, err := c.PodMetricses("").List(ctx, metav1.ListOptions{FieldSelector: "metadata.namespace=kube-system"})
			if err != nil {
				t.Fatal(err)
			}
			if got := names(byName); !slices.Equal(got, []string{"kube-system/dns"}) {
				t.Errorf("metadata.namespace=kube-system pods %v", got)
			}
			stats.askedNodes()

			db, err := c.PodMetricses("default").Get(ctx, "db", metav1.GetOptions{})
			if err != nil || db.Name != "db" || db.Containers[0].Usage.Cpu().String() != "300m" {
				t.Errorf("get db: %+v, %v", db, err)
			}
			if asked := stats.askedNodes(); !slices.Equal(asked, []string{"b"}) {
				t.Errorf("get db asked %v, want only b", asked)
			}
			_, err = c.PodMetricses("default").Get(ctx, "pending", metav1.GetOptions{})
			if !apierrors.IsNotFound(err) || err.Error() != `podmetrics.metrics.k8s.io "default/pending" not found` {
				t.Errorf("get pending: %v, want podmetrics.metrics.k8s.io \"default/pending\" not found", err)
			}
			_, err = c.PodMetricses("default").Get(ctx, "nope", metav1.GetOptions{})
			if !apierrors.IsNotFound(err) || err.Error() != `pods "nope" not found` {
				t.Errorf("get nope: %v, want pods \"nope\" not found", err)
			}
			nodes, err := c.NodeMetricses().List(ctx, metav1.ListOptions{})
			if err != nil || len(nodes.Items) != 2 || nodes.Items[0].Usage.Memory().String() != "2Gi" {
				t.Errorf("node metrics %+v, %v", nodes, err)
			}
		})
	}
}

func TestRequestErrors(t *testing.T) {
	_, srv := fixture(t)
	tests := []struct {
		name, method, path, accept string
		wantCode                   int
		wantBody                   string
	}{
		{"create", http.MethodPost, "nodes", "", 405, `create is not supported on resources of kind \"nodes.metrics.k8s.io\"`},
		{"delete", http.MethodDelete, "namespaces/default/pods/web", "", 405, `delete is not supported on resources of kind \"pods.metrics.k8s.io\"`},
		{"watch", http.MethodGet, "pods?watch=true", "", 405, `watch is not supported on resources of kind \"pods.metrics.k8s.io\"`},
		{"watch path", http.MethodGet, "watch/nodes", "", 405, `watch is not supported`},
		{"unknown resource", http.MethodGet, "services", "", 404, "the server could not find the requested resource"},
		{"too deep", http.MethodGet, "nodes/a/status", "", 404, "the server could not find the requested resource"},
		{"not acceptable", http.MethodGet, "nodes", "text/html", 406, "only the following media types are accepted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+"/apis/metrics.k8s.io/v1beta1/"+tc.path, nil)
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantCode || !strings.Contains(string(body), tc.wantBody) || !strings.Contains(string(body), `"kind":"Status"`) {
				t.Errorf("%s %s: %d %s, want %d and a Status containing %s", tc.method, tc.path, resp.StatusCode, body, tc.wantCode, tc.wantBody)
			}
		})
	}
	code, body, _ := get(t, srv.URL+"/apis/metrics.k8s.io/v1", "")
	if code != 404 {
		t.Errorf("GET an unserved version: %d %s, want 404", code, body)
	}
}

func TestDiscovery(t *testing.T) {
	_, srv := fixture(t)
	code, body, _ := get(t, srv.URL+"/apis/metrics.k8s.io", "")
	want := `{"kind":"APIGroup","apiVersion":"v1","name":"metrics.k8s.io","versions":[{"groupVersion":"metrics.k8s.io/v1beta1","version":"v1beta1"}],"preferredVersion":{"groupVersion":"metrics.k8s.io/v1beta1","version":"v1beta1"}}` + "\n"
	if code != 200 || body != want {
		t.Errorf("GET /apis/metrics.k8s.io: %d\n got %s\nwant %s", code, body, want)
	}
	code, body, _ = get(t, srv.URL+"/apis/metrics.k8s.io/v1beta1", "")
	want = `{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"metrics.k8s.io/v1beta1","resources":[` +
		`{"name":"nodes","singularName":"","namespaced":false,"kind":"NodeMetrics","verbs":["get","list"]},` +
		`{"name":"pods","singularName":"","namespaced":true,"kind":"PodMetrics","verbs":["get","list"]}]}` + "\n"
	if code != 200 || body != want {
		t.Errorf("GET /apis/metrics.k8s.io/v1beta1: %d\n got %s\nwant %s", code, body, want)
	}
	agg, err := json.Marshal(metrics.AggregatedDiscovery())
	if err != nil {
		t.Fatal(err)
	}
	wantAgg := `{"metadata":{"name":"metrics.k8s.io"},"versions":[{"version":"v1beta1","resources":[` +
		`{"resource":"nodes","responseKind":{"group":"metrics.k8s.io","version":"v1beta1","kind":"NodeMetrics"},"scope":"Cluster","singularResource":"","verbs":["get","list"]},` +
		`{"resource":"pods","responseKind":{"group":"metrics.k8s.io","version":"v1beta1","kind":"PodMetrics"},"scope":"Namespaced","singularResource":"","verbs":["get","list"]}],"freshness":"Current"}]}`
	if string(agg) != wantAgg {
		t.Errorf("AggregatedDiscovery:\n got %s\nwant %s", agg, wantAgg)
	}
}

func TestTable(t *testing.T) {
	_, srv := fixture(t)
	const accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
	code, body, _ := get(t, srv.URL+"/apis/metrics.k8s.io/v1beta1/namespaces/default/pods", accept)
	if code != 200 {
		t.Fatalf("GET table: %d %s", code, body)
	}
	var table metav1.Table
	if err := json.Unmarshal([]byte(body), &table); err != nil {
		t.Fatal(err)
	}
	if table.Kind != "Table" || table.APIVersion != "meta.k8s.io/v1" {
		t.Errorf("got %s %s, want meta.k8s.io/v1 Table", table.APIVersion, table.Kind)
	}
	var cols []string
	for _, c := range table.ColumnDefinitions {
		cols = append(cols, c.Name)
	}
	if !slices.Equal(cols, []string{"Name", "cpu", "memory", "Window"}) {
		t.Errorf("columns %v, want metrics-server's Name cpu memory Window", cols)
	}
	var rows []string
	for _, r := range table.Rows {
		rows = append(rows, fmt.Sprint(r.Cells...))
	}
	// web's usage is the sum of its containers.
	if want := []string{"web124456789n55Mi10s", "db300m300Mi10s"}; !slices.Equal(rows, want) {
		t.Errorf("rows %q, want %q", rows, want)
	}
	var partial metav1.PartialObjectMetadata
	if err := json.Unmarshal(table.Rows[0].Object.Raw, &partial); err != nil || partial.Kind != "PartialObjectMetadata" || partial.Namespace != "default" {
		t.Errorf("row object %s (%v), want the metadata of default/web", table.Rows[0].Object.Raw, err)
	}

	_, body, _ = get(t, srv.URL+"/apis/metrics.k8s.io/v1beta1/nodes/a?includeObject=Object", "application/json;as=Table;v=v1beta1;g=meta.k8s.io")
	if err := json.Unmarshal([]byte(body), &table); err != nil {
		t.Fatal(err)
	}
	if table.APIVersion != "meta.k8s.io/v1beta1" || len(table.Rows) != 1 || !strings.Contains(string(table.Rows[0].Object.Raw), `"kind":"NodeMetrics"`) {
		t.Errorf("node table %s, want a v1beta1 Table with the NodeMetrics as row object", body)
	}
}

func TestNewChecksConfig(t *testing.T) {
	if _, err := metrics.New(metrics.Config{Objects: &fakeObjects{}}); err == nil {
		t.Errorf("New without NodeStats succeeded")
	}
	if _, err := metrics.New(metrics.Config{Stats: &fakeStats{}}); err == nil {
		t.Errorf("New without Objects succeeded")
	}
}
