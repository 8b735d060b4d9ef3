package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/navarch/navarch/test/framework"
)

// fakeNodeStats stands in for the agents' /stats/summary: it answers
// with the summaries set for each node and fails for other nodes.
type fakeNodeStats struct {
	mu        sync.Mutex
	summaries map[string]*statsapi.Summary
}

func (f *fakeNodeStats) set(node string, s *statsapi.Summary) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.summaries[node] = s
}

func (f *fakeNodeStats) Do(_ context.Context, node, method, pathAndQuery string) (*http.Response, error) {
	f.mu.Lock()
	s := f.summaries[node]
	f.mu.Unlock()
	if s == nil || method != http.MethodGet || !strings.HasPrefix(pathAndQuery, "/stats/summary") {
		return nil, errors.New("dial tcp: connect: connection refused")
	}
	data, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Body: io.NopCloser(bytes.NewReader(data))}, nil
}

func nanoCores(v uint64) *statsapi.CPUStats {
	return &statsapi.CPUStats{Time: metav1.Now(), UsageNanoCores: &v}
}

func workingSet(v uint64) *statsapi.MemoryStats {
	return &statsapi.MemoryStats{Time: metav1.Now(), WorkingSetBytes: &v}
}

// TestKubectlTop serves metrics.k8s.io from fake node summaries and runs
// the real kubectl top against it: three nodes (one whose agent does
// not answer), pods in two namespaces with one and two containers.
func TestKubectlTop(t *testing.T) {
	stats := &fakeNodeStats{summaries: map[string]*statsapi.Summary{}}
	c := framework.StartInProcess(t, framework.Options{NodeStats: stats})
	client := c.Client(t)
	ctx := context.Background()

	for _, name := range []string{"node-1", "node-2", "node-3"} {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"pool": map[bool]string{true: "a", false: "b"}[name != "node-2"]}}}
		node, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		node.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi")}
		node.Status.Allocatable = node.Status.Capacity
		if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	web := runningPod(t, client, "default", "web", "node-1", map[string]string{"app": "web"}, "app", "sidecar")
	db := runningPod(t, client, "default", "db", "node-2", map[string]string{"app": "db"}, "db")
	dns := runningPod(t, client, "kube-system", "dns", "node-2", nil, "dns")
	container := func(name string, cores, ws uint64) statsapi.ContainerStats {
		return statsapi.ContainerStats{Name: name, CPU: nanoCores(cores), Memory: workingSet(ws)}
	}
	ref := func(p *corev1.Pod) statsapi.PodReference {
		return statsapi.PodReference{Name: p.Name, Namespace: p.Namespace, UID: string(p.UID)}
	}
	stats.set("node-1", &statsapi.Summary{
		Node: statsapi.NodeStats{NodeName: "node-1", CPU: nanoCores(1500e6), Memory: workingSet(2 << 30)},
		Pods: []statsapi.PodStats{{PodRef: ref(web), Containers: []statsapi.ContainerStats{
			container("app", 250e6, 100<<20), container("sidecar", 5e6, 20<<20)}}},
	})
	stats.set("node-2", &statsapi.Summary{
		Node: statsapi.NodeStats{NodeName: "node-2", CPU: nanoCores(500e6), Memory: workingSet(1 << 30)},
		Pods: []statsapi.PodStats{
			{PodRef: ref(db), Containers: []statsapi.ContainerStats{container("db", 400e6, 300<<20)}},
			{PodRef: ref(dns), Containers: []statsapi.ContainerStats{container("dns", 3e6, 15<<20)}},
		},
	})

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"top nodes", []string{"top", "nodes"}, []string{
			"NAME CPU(cores) CPU(%) MEMORY(bytes) MEMORY(%)",
			"node-1 1500m 75% 2048Mi 50%",
			"node-2 500m 25% 1024Mi 25%",
			"node-3 <unknown> <unknown> <unknown> <unknown>",
		}},
		{"top one node", []string{"top", "node", "node-2"}, []string{
			"NAME CPU(cores) CPU(%) MEMORY(bytes) MEMORY(%)",
			"node-2 500m 25% 1024Mi 25%",
		}},
		{"top nodes by label", []string{"top", "nodes", "-l", "pool=b"}, []string{
			"NAME CPU(cores) CPU(%) MEMORY(bytes) MEMORY(%)",
			"node-2 500m 25% 1024Mi 25%",
		}},
		{"top pods", []string{"top", "pods"}, []string{
			"NAME CPU(cores) MEMORY(bytes)",
			"db 400m 300Mi",
			"web 255m 120Mi",
		}},
		{"top pods in all namespaces", []string{"top", "pods", "-A"}, []string{
			"NAMESPACE NAME CPU(cores) MEMORY(bytes)",
			"default db 400m 300Mi",
			"default web 255m 120Mi",
			"kube-system dns 3m 15Mi",
		}},
		{"top pods with containers", []string{"top", "pods", "--containers", "-l", "app=web"}, []string{
			"POD NAME CPU(cores) MEMORY(bytes)",
			"web app 250m 100Mi",
			"web sidecar 5m 20Mi",
		}},
		{"top one pod", []string{"top", "pod", "dns", "-n", "kube-system"}, []string{
			"NAME CPU(cores) MEMORY(bytes)",
			"dns 3m 15Mi",
		}},
		{"api-resources", []string{"api-resources", "--api-group=metrics.k8s.io"}, []string{
			"NAME SHORTNAMES APIVERSION NAMESPACED KIND",
			"nodes metrics.k8s.io/v1beta1 false NodeMetrics",
			"pods metrics.k8s.io/v1beta1 true PodMetrics",
		}},
		{"get as a table", []string{"get", "nodes.metrics.k8s.io", "node-1"}, []string{
			"NAME CPU MEMORY WINDOW",
			"node-1 1500m 2Gi 10s",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := c.MustKubectl(t, tc.args...)
			if got := normalize(out); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("kubectl %s:\n%s\nwant (spacing aside):\n%s", strings.Join(tc.args, " "), out, strings.Join(tc.want, "\n"))
			}
		})
	}

	t.Run("errors", func(t *testing.T) {
		_, errOut, err := c.Kubectl(t, "top", "node", "node-3")
		if err == nil || !strings.Contains(errOut, `Error from server (NotFound): nodemetrics.metrics.k8s.io "node-3" not found`) {
			t.Errorf("top node node-3 (agent down): err %v, stderr %q", err, errOut)
		}
		_, errOut, err = c.Kubectl(t, "top", "node", "nope")
		if err == nil || !strings.Contains(errOut, `Error from server (NotFound): nodes "nope" not found`) {
			t.Errorf("top node nope: err %v, stderr %q", err, errOut)
		}
		_, errOut, err = c.Kubectl(t, "top", "pod", "nope")
		if err == nil || !strings.Contains(errOut, `Error from server (NotFound): pods "nope" not found`) {
			t.Errorf("top pod nope: err %v, stderr %q", err, errOut)
		}
		_, errOut, err = c.Kubectl(t, "top", "pods", "-n", "kube-public")
		if err != nil || !strings.Contains(errOut, "No resources found in kube-public namespace.") {
			t.Errorf("top pods in an empty namespace: err %v, stderr %q", err, errOut)
		}
	})
}

// runningPod creates a pod bound to node and marks it Running.
func runningPod(t *testing.T, client kubernetes.Interface, ns, name, node string, labels map[string]string, containers ...string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}, Spec: corev1.PodSpec{NodeName: node}}
	for _, c := range containers {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: c, Image: "localhost/" + c + ":1"})
	}
	ctx := context.Background()
	pod, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status.Phase = corev1.PodRunning
	pod.Status.StartTime = &metav1.Time{Time: time.Now()}
	pod, err = client.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pod
}

var spaces = regexp.MustCompile(`\s+`)

// normalize returns the non-empty lines of kubectl output with runs of
// spaces made single.
func normalize(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(spaces.ReplaceAllString(l, " ")); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestMetricsServedThroughTheNodeClient: without a NodeStats of its own,
// a server reads the nodes' stats through its node client (the one logs
// and exec use), so metrics.k8s.io is always served; with no node to ask,
// the lists are empty and a named node is NotFound, as metrics-server.
func TestMetricsServedThroughTheNodeClient(t *testing.T) {
	c := framework.StartInProcess(t, framework.Options{})
	client := c.Client(t)
	groups, err := client.Discovery().ServerGroups()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range groups.Groups {
		found = found || g.Name == "metrics.k8s.io"
	}
	if !found {
		t.Errorf("metrics.k8s.io is not discovered")
	}
	body, err := client.Discovery().RESTClient().Get().AbsPath("/apis/metrics.k8s.io/v1beta1/nodes").DoRaw(context.Background())
	if err != nil || !strings.Contains(string(body), `"items":[]`) {
		t.Errorf("GET /apis/metrics.k8s.io/v1beta1/nodes: %v %s, want an empty list", err, body)
	}
	err = client.Discovery().RESTClient().Get().AbsPath("/apis/metrics.k8s.io/v1beta1/nodes/nowhere").Do(context.Background()).Error()
	if !apierrors.IsNotFound(err) {
		t.Errorf("GET /apis/metrics.k8s.io/v1beta1/nodes/nowhere: %v, want NotFound", err)
	}
}
