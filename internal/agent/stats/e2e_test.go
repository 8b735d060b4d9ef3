package stats_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/agent"
	"github.com/navarch/navarch/internal/agent/cni"
	"github.com/navarch/navarch/internal/agent/cri"
	"github.com/navarch/navarch/internal/agent/stats"
	"github.com/navarch/navarch/internal/images"
	"github.com/navarch/navarch/test/framework"
	"github.com/navarch/navarch/test/hostlock"
)

// The test's pod network, apart from the agent's own end-to-end test and
// from a Navarch agent that may run on the machine.
const (
	e2eBridge  = "nvstats0"
	e2ePodCIDR = "10.42.248.0/24"
	e2eNode    = "stats-node"
)

// TestStatsEndToEnd runs the agent on a real containerd, starts a pod
// whose container holds 64 MiB and burns CPU under a 500m limit, and
// reads the Summary over HTTP from a Provider on the same containerd: the
// container's working set covers its 64 MiB, its CPU rate sits near its
// limit, and the node's figures contain the pod's. The in-process API
// server reads the same Provider for metrics.k8s.io, and kubectl top
// shows those figures.
func TestStatsEndToEnd(t *testing.T) {
	framework.RequireContainerd(t)
	hostlock.Lock(t) // containerd, the pod bridge and port 10250 are the host's
	binDir := t.TempDir()
	build := exec.Command("go", "build", "-o", binDir+"/", "./testdata/burn")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// The API server reaches the provider below through this, as it
	// will through the node client, so kubectl top sees the real figures.
	nodeStats := &handlerStats{node: e2eNode}
	cluster := framework.StartInProcess(t, framework.Options{NodeStats: nodeStats})
	client := cluster.Client(t)
	dataDir := t.TempDir()
	t.Cleanup(func() {
		if err := cni.RemoveLeftovers(context.Background(), e2eBridge); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	a, err := agent.New(agent.Config{NodeName: e2eNode, DataDir: dataDir, Bridge: e2eBridge, PodCIDR: e2ePodCIDR, KubeletAddress: ":0"}, client)
	if err != nil {
		t.Fatal(err)
	}
	agentCtx, stopAgent := context.WithCancel(context.Background())
	agentDone := make(chan error, 1)
	go func() { agentDone <- a.Start(agentCtx) }()
	endpoint := "unix://" + filepath.Join(dataDir, "containerd", "containerd.sock")
	// A failed test must not leave containers running: remove every
	// sandbox while containerd still runs, then stop the agent (and with
	// it containerd).
	t.Cleanup(func() {
		removeAllSandboxes(t, endpoint)
		stopAgent()
		select {
		case err := <-agentDone:
			if err != nil {
				t.Errorf("agent: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("agent did not stop within 60 s")
		}
	})
	ctx := context.Background()
	framework.WaitFor(t, 90*time.Second, "node Ready", func() (bool, error) {
		node, err := client.CoreV1().Nodes().Get(ctx, e2eNode, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
	if _, err := images.Build(ctx, images.CtrImporter(endpoint), images.BuildSpec{Binary: filepath.Join(binDir, "burn"), Tag: "localhost/burn:e2e"}); err != nil {
		t.Fatalf("building the burn image: %v", err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "burn", Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName:                      e2eNode,
			TerminationGracePeriodSeconds: ptr.To(int64(1)),
			Containers: []corev1.Container{{
				Name: "burn", Image: "localhost/burn:e2e", ImagePullPolicy: corev1.PullNever,
				Env: []corev1.EnvVar{{Name: "MEMORY_MIB", Value: "64"}},
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")}},
			}},
		},
	}
	if pod, err = client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating pod: %v", err)
	}
	framework.WaitFor(t, 60*time.Second, "pod Running", func() (bool, error) {
		p, err := client.CoreV1().Pods("default").Get(ctx, "burn", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, nil
	})

	rt, err := cri.Dial(ctx, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	p, err := stats.New(stats.Config{NodeName: e2eNode, Runtime: rt, Interval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	defer srv.Close()
	nodeStats.handler.Store(p)

	// Wait for a summary whose CPU rate comes from two samples of the
	// running container (the first after its start is a lifetime mean
	// that includes the start-up).
	var burn statsapi.PodStats
	var summary statsapi.Summary
	var firstSeen time.Time
	framework.WaitFor(t, 60*time.Second, "a summary with the burn container at work", func() (bool, error) {
		summary = getSummary(t, srv.URL+"/stats/summary")
		for _, ps := range summary.Pods {
			if ps.PodRef.Name == "burn" && len(ps.Containers) == 1 && ps.Containers[0].CPU != nil && ps.Containers[0].Memory != nil {
				burn = ps
				at := ps.Containers[0].CPU.Time.Time
				if firstSeen.IsZero() {
					firstSeen = at
				}
				return at.Sub(firstSeen) >= 3*time.Second && *ps.Containers[0].Memory.WorkingSetBytes >= 64<<20, nil
			}
		}
		return false, nil
	})
	c := burn.Containers[0]
	cores := float64(*c.CPU.UsageNanoCores) / 1e9
	t.Logf("burn: %.3f cores, working set %d MiB; node: %.3f cores, working set %d MiB",
		cores, *c.Memory.WorkingSetBytes>>20, float64(*summary.Node.CPU.UsageNanoCores)/1e9, *summary.Node.Memory.WorkingSetBytes>>20)
	if burn.PodRef.Namespace != "default" || burn.PodRef.UID != string(pod.UID) || c.Name != "burn" {
		t.Errorf("pod %+v container %q, want default/burn uid %s container burn", burn.PodRef, c.Name, pod.UID)
	}
	if cores < 0.2 || cores > 0.7 {
		t.Errorf("burn container uses %.3f cores, want about its 500m limit (0.2 to 0.7)", cores)
	}
	if ws := *c.Memory.WorkingSetBytes; ws < 64<<20 || ws > 256<<20 {
		t.Errorf("burn working set %d bytes, want 64 MiB to its 256 MiB limit", ws)
	}
	if burn.CPU == nil || *burn.CPU.UsageNanoCores != *c.CPU.UsageNanoCores || *burn.Memory.WorkingSetBytes != *c.Memory.WorkingSetBytes {
		t.Errorf("pod totals %+v %+v, want its one container's", burn.CPU, burn.Memory)
	}
	node := summary.Node
	if node.NodeName != e2eNode || node.CPU == nil || node.CPU.UsageNanoCores == nil || node.Memory == nil {
		t.Fatalf("node stats %+v: want the node's CPU and memory", node)
	}
	if float64(*node.CPU.UsageNanoCores) < 0.5*float64(*c.CPU.UsageNanoCores) {
		t.Errorf("node CPU %d nano-cores, want at least about the burn container's %d", *node.CPU.UsageNanoCores, *c.CPU.UsageNanoCores)
	}
	if *node.Memory.WorkingSetBytes < *c.Memory.WorkingSetBytes {
		t.Errorf("node working set %d below the burn container's %d", *node.Memory.WorkingSetBytes, *c.Memory.WorkingSetBytes)
	}

	// A sample on this containerd takes this long.
	fresh, err := stats.New(stats.Config{NodeName: e2eNode, Runtime: rt})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := fresh.Summary(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("one sample (1 pod) on containerd: %v", time.Since(start).Round(time.Microsecond))

	t.Run("kubectl top", func(t *testing.T) {
		out := cluster.MustKubectl(t, "top", "pods")
		t.Logf("kubectl top pods:\n%s", out)
		var name, cpu, mem string
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "burn" {
				name, cpu, mem = f[0], f[1], f[2]
			}
		}
		milli, errCPU := strconv.Atoi(strings.TrimSuffix(cpu, "m"))
		mi, errMem := strconv.Atoi(strings.TrimSuffix(mem, "Mi"))
		if name == "" || errCPU != nil || errMem != nil || milli < 200 || milli > 700 || mi < 64 || mi > 256 {
			t.Errorf("kubectl top pods shows burn at %q %q, want 200m to 700m and 64Mi to 256Mi", cpu, mem)
		}
		start := time.Now()
		out = cluster.MustKubectl(t, "top", "nodes")
		t.Logf("kubectl top nodes (%v, kubectl included):\n%s", time.Since(start).Round(time.Millisecond), out)
		if !strings.Contains(out, "CPU(%)") || !strings.Contains(out, e2eNode) || strings.Contains(out, "<unknown>") {
			t.Errorf("kubectl top nodes shows no figures for %s:\n%s", e2eNode, out)
		}
	})

	// Deleting the pod takes it out of the summary.
	if err := client.CoreV1().Pods("default").Delete(ctx, "burn", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.WaitFor(t, 40*time.Second, "pod burn gone", func() (bool, error) {
		_, err := client.CoreV1().Pods("default").Get(ctx, "burn", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	framework.WaitFor(t, 20*time.Second, "no pod in the summary", func() (bool, error) {
		return len(getSummary(t, srv.URL+"/stats/summary").Pods) == 0, nil
	})
}

// handlerStats is the test's stand-in for the API server's node client:
// it hands requests for node to a handler in this process.
type handlerStats struct {
	node    string
	handler atomic.Pointer[stats.Provider]
}

func (h *handlerStats) Do(ctx context.Context, node, method, pathAndQuery string) (*http.Response, error) {
	p := h.handler.Load()
	if node != h.node || p == nil {
		return nil, fmt.Errorf("node %s: no stats yet", node)
	}
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest(method, pathAndQuery, nil).WithContext(ctx))
	return rec.Result(), nil
}

func getSummary(t *testing.T, url string) statsapi.Summary {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
	}
	var s statsapi.Summary
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatalf("decoding the summary: %v\n%s", err, body)
	}
	return s
}

// removeAllSandboxes stops and removes every sandbox of the test's
// containerd.
func removeAllSandboxes(t *testing.T, endpoint string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rt, err := cri.Dial(ctx, endpoint)
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	defer rt.Close()
	sandboxes, err := rt.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{})
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	for _, sb := range sandboxes {
		if err := rt.StopPodSandbox(ctx, sb.Id); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if err := rt.RemovePodSandbox(ctx, sb.Id); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
}
