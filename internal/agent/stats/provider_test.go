package stats_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/navarch/navarch/internal/agent/cri"
	"github.com/navarch/navarch/internal/agent/cri/fakecri"
	"github.com/navarch/navarch/internal/agent/stats"
)

const (
	image = "localhost/app:1"
	mib   = 1 << 20
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// fixture is a provider over fakecri, a fake clock and a fake procfs.
type fixture struct {
	t       testing.TB
	rt      *fakecri.Runtime
	clock   *testingclock.FakeClock
	procDir string
	p       *stats.Provider
}

func newFixture(t testing.TB, rt stats.Runtime) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: testingclock.NewFakeClock(t0), procDir: t.TempDir()}
	f.rt = fakecri.New()
	f.rt.SetClock(f.clock.Now)
	f.rt.AddImage(image)
	if rt == nil {
		rt = f.rt
	}
	// The node booted 1000 s before t0 and has used 50 s of CPU since.
	f.writeProc(5000, 3000000, 1000000, 600000)
	p, err := stats.New(stats.Config{NodeName: "node-a", Runtime: rt, ProcDir: f.procDir, Interval: 10 * time.Second, Clock: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.p = p
	return f
}

// writeProc writes /proc/stat with busyTicks of non-idle CPU time and
// /proc/meminfo with the given kB figures.
func (f *fixture) writeProc(busyTicks, memTotalKB, memFreeKB, inactiveFileKB uint64) {
	f.t.Helper()
	stat := fmt.Sprintf("cpu  %d 0 0 99999 0 0 0 0 0 0\nbtime %d\n", busyTicks, t0.Add(-1000*time.Second).Unix())
	meminfo := fmt.Sprintf("MemTotal: %d kB\nMemFree: %d kB\nInactive(file): %d kB\nAnonPages: 1000 kB\n", memTotalKB, memFreeKB, inactiveFileKB)
	for name, content := range map[string]string{"stat": stat, "meminfo": meminfo} {
		if err := os.WriteFile(filepath.Join(f.procDir, name), []byte(content), 0o644); err != nil {
			f.t.Fatal(err)
		}
	}
}

// runPod starts a sandbox (labelled as the agent labels it, unless
// unmanaged) with running containers and returns the sandbox id and
// the container ids by name.
func (f *fixture) runPod(ns, name, uid string, unmanaged bool, containers ...string) (string, map[string]string) {
	f.t.Helper()
	ctx := context.Background()
	labels := map[string]string{cri.LabelManagedBy: cri.ManagedByAgent, cri.LabelPodUID: uid}
	if unmanaged {
		labels = map[string]string{}
	}
	sbConfig := &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: name, Namespace: ns, Uid: uid},
		Labels:   labels,
	}
	sb, err := f.rt.RunPodSandbox(ctx, sbConfig)
	if err != nil {
		f.t.Fatal(err)
	}
	ids := map[string]string{}
	for _, c := range containers {
		id, err := f.rt.CreateContainer(ctx, sb, &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: c},
			Image:    &runtimeapi.ImageSpec{Image: image},
			Labels:   labels,
		}, sbConfig)
		if err != nil {
			f.t.Fatal(err)
		}
		if err := f.rt.StartContainer(ctx, id); err != nil {
			f.t.Fatal(err)
		}
		ids[c] = id
	}
	return sb, ids
}

func (f *fixture) setUsage(id string, cpuSeconds float64, workingSet uint64) {
	f.t.Helper()
	if err := f.rt.SetUsage(id, fakecri.Usage{CPUCoreNanoSeconds: uint64(cpuSeconds * 1e9),
		WorkingSetBytes: workingSet, UsageBytes: workingSet + mib, RSSBytes: workingSet / 2}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) summary() *statsapi.Summary {
	f.t.Helper()
	s, err := f.p.Summary(context.Background())
	if err != nil {
		f.t.Fatalf("Summary: %v", err)
	}
	return s
}

func findPod(t *testing.T, s *statsapi.Summary, ns, name string) statsapi.PodStats {
	t.Helper()
	for _, p := range s.Pods {
		if p.PodRef.Namespace == ns && p.PodRef.Name == name {
			return p
		}
	}
	t.Fatalf("pod %s/%s not in the summary: %+v", ns, name, s.Pods)
	return statsapi.PodStats{}
}

func findContainer(t *testing.T, p statsapi.PodStats, name string) statsapi.ContainerStats {
	t.Helper()
	for _, c := range p.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("container %s not in pod %s: %+v", name, p.PodRef.Name, p.Containers)
	return statsapi.ContainerStats{}
}

func wantUint(t *testing.T, what string, got *uint64, want uint64) {
	t.Helper()
	if got == nil {
		t.Errorf("%s is unset, want %d", what, want)
		return
	}
	if *got != want {
		t.Errorf("%s = %d, want %d", what, *got, want)
	}
}

// TestSummary samples twice, 20 s apart: the first sample's CPU rates are
// lifetime means (containers since creation, the node since boot), the
// second's the rates between the two samples; pod figures are the sums of
// their running containers whether or not the runtime gives sandbox
// stats; what the agent did not make, stopped sandboxes and exited
// containers are left out.
func TestSummary(t *testing.T) {
	for _, sandboxStats := range []bool{true, false} {
		t.Run(fmt.Sprintf("sandbox stats %v", sandboxStats), func(t *testing.T) {
			f := newFixture(t, nil)
			if !sandboxStats {
				f.rt.FailSandboxStats(errors.New("failed to get cgroup metrics for sandbox because cgroupPath is empty"))
			}
			_, web := f.runPod("default", "web", "uid-web", false, "app", "sidecar", "done")
			f.runPod("kube-system", "other", "uid-other", true, "foreign")
			stopped, _ := f.runPod("default", "stopped", "uid-stopped", false, "x")
			if err := f.rt.StopPodSandbox(context.Background(), stopped); err != nil {
				t.Fatal(err)
			}
			if err := f.rt.Exit(web["done"], 0, ""); err != nil {
				t.Fatal(err)
			}
			f.clock.Step(20 * time.Second)
			f.setUsage(web["app"], 4, 10*mib)
			f.setUsage(web["sidecar"], 0, 5*mib)

			s := f.summary()
			if s.Node.NodeName != "node-a" || !s.Node.StartTime.Time.Equal(t0.Add(-1000*time.Second)) {
				t.Errorf("node %q started %v, want node-a started at boot", s.Node.NodeName, s.Node.StartTime)
			}
			// 50 s of CPU over the 1020 s since boot.
			wantUint(t, "first node usageNanoCores", s.Node.CPU.UsageNanoCores, 49019607) // 50e9/1020, truncated
			wantUint(t, "node usageCoreNanoSeconds", s.Node.CPU.UsageCoreNanoSeconds, 50e9)
			wantUint(t, "node workingSetBytes", s.Node.Memory.WorkingSetBytes, (3000000-1000000-600000)*1024)
			wantUint(t, "node usageBytes", s.Node.Memory.UsageBytes, (3000000-1000000)*1024)
			wantUint(t, "node availableBytes", s.Node.Memory.AvailableBytes, (3000000-1400000)*1024)
			if len(s.Pods) != 1 {
				t.Fatalf("pods = %+v, want only default/web", s.Pods)
			}
			pod := findPod(t, s, "default", "web")
			if pod.PodRef.UID != "uid-web" || !pod.StartTime.Time.Equal(t0) {
				t.Errorf("podRef %+v started %v, want uid-web started %v", pod.PodRef, pod.StartTime, t0)
			}
			if len(pod.Containers) != 2 {
				t.Fatalf("containers = %+v, want app and sidecar (done has exited)", pod.Containers)
			}
			app := findContainer(t, pod, "app")
			wantUint(t, "first app usageNanoCores (4 s of CPU in its 20 s)", app.CPU.UsageNanoCores, 2e8)
			wantUint(t, "app usageCoreNanoSeconds", app.CPU.UsageCoreNanoSeconds, 4e9)
			wantUint(t, "app workingSetBytes", app.Memory.WorkingSetBytes, 10*mib)
			wantUint(t, "app usageBytes", app.Memory.UsageBytes, 11*mib)
			if !app.CPU.Time.Time.Equal(t0.Add(20*time.Second)) || !app.StartTime.Time.Equal(t0) {
				t.Errorf("app cpu time %v start %v, want %v and %v", app.CPU.Time, app.StartTime, t0.Add(20*time.Second), t0)
			}
			wantUint(t, "first pod usageNanoCores", pod.CPU.UsageNanoCores, 2e8)
			wantUint(t, "pod workingSetBytes", pod.Memory.WorkingSetBytes, 15*mib)

			f.clock.Step(20 * time.Second)
			f.setUsage(web["app"], 14, 12*mib)
			f.setUsage(web["sidecar"], 2, 5*mib)
			f.writeProc(5000+2000, 3000000, 900000, 600000)
			s = f.summary()
			wantUint(t, "second node usageNanoCores (20 s of CPU in 20 s)", s.Node.CPU.UsageNanoCores, 1e9)
			pod = findPod(t, s, "default", "web")
			wantUint(t, "second app usageNanoCores (10 s of CPU in 20 s)", findContainer(t, pod, "app").CPU.UsageNanoCores, 5e8)
			wantUint(t, "second sidecar usageNanoCores", findContainer(t, pod, "sidecar").CPU.UsageNanoCores, 1e8)
			wantUint(t, "second pod usageNanoCores", pod.CPU.UsageNanoCores, 6e8)
			wantUint(t, "second pod usageCoreNanoSeconds", pod.CPU.UsageCoreNanoSeconds, 16e9)
			wantUint(t, "second pod workingSetBytes", pod.Memory.WorkingSetBytes, 17*mib)
		})
	}
}

// TestSummaryServesFreshSample: within one and a half Intervals of the
// last sample Summary serves it again; after that it samples anew.
func TestSummaryServesFreshSample(t *testing.T) {
	f := newFixture(t, nil)
	_, ids := f.runPod("default", "web", "uid-web", false, "app")
	f.setUsage(ids["app"], 1, 10*mib)
	f.clock.Step(10 * time.Second)
	first := f.summary()
	f.setUsage(ids["app"], 2, 20*mib)
	f.clock.Step(14 * time.Second)
	if again := f.summary(); again != first {
		t.Errorf("14 s after a sample (Interval 10 s) Summary sampled again")
	}
	f.clock.Step(2 * time.Second)
	later := f.summary()
	wantUint(t, "working set after a new sample", findContainer(t, findPod(t, later, "default", "web"), "app").Memory.WorkingSetBytes, 20*mib)
}

// TestRuntimeNanoCores: without an older sample the runtime's own
// usageNanoCores is preferred over the lifetime mean.
func TestRuntimeNanoCores(t *testing.T) {
	f := newFixture(t, nil)
	_, ids := f.runPod("default", "web", "uid-web", false, "app")
	if err := f.rt.SetUsage(ids["app"], fakecri.Usage{CPUCoreNanoSeconds: 5e9, NanoCores: 123456789, WorkingSetBytes: mib}); err != nil {
		t.Fatal(err)
	}
	f.clock.Step(10 * time.Second)
	app := findContainer(t, findPod(t, f.summary(), "default", "web"), "app")
	wantUint(t, "usageNanoCores", app.CPU.UsageNanoCores, 123456789)
}

// failingRuntime fails ListContainers and counts ListContainerStats.
type failingRuntime struct {
	*fakecri.Runtime
	fail       atomic.Bool
	statsCalls atomic.Int32
}

func (r *failingRuntime) ListContainers(ctx context.Context, filter *runtimeapi.ContainerFilter) ([]*runtimeapi.Container, error) {
	if r.fail.Load() {
		return nil, errors.New("cri: list containers: connection refused")
	}
	return r.Runtime.ListContainers(ctx, filter)
}

func (r *failingRuntime) ListContainerStats(ctx context.Context, filter *runtimeapi.ContainerStatsFilter) ([]*runtimeapi.ContainerStats, error) {
	r.statsCalls.Add(1)
	return r.Runtime.ListContainerStats(ctx, filter)
}

func TestHandler(t *testing.T) {
	rt := &failingRuntime{}
	f := newFixture(t, rt)
	rt.Runtime = f.rt
	_, ids := f.runPod("default", "web", "uid-web", false, "app")
	f.setUsage(ids["app"], 3, 7*mib)
	f.clock.Step(30 * time.Second)

	rec := httptest.NewRecorder()
	f.p.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/stats/summary?only_cpu_and_memory=true", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET: %d %q %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	// The wire shape is the kubelet's.
	for _, want := range []string{`"node":{"nodeName":"node-a"`, `"podRef":{"name":"web","namespace":"default","uid":"uid-web"}`,
		`"usageNanoCores":100000000`, `"usageCoreNanoSeconds":3000000000`, `"workingSetBytes":7340032`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("summary JSON lacks %s:\n%s", want, rec.Body)
		}
	}
	var s statsapi.Summary
	if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil {
		t.Fatalf("decoding the summary: %v", err)
	}
	wantUint(t, "decoded app usageNanoCores", findContainer(t, findPod(t, &s, "default", "web"), "app").CPU.UsageNanoCores, 1e8)

	rec = httptest.NewRecorder()
	f.p.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/stats/summary", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d, Allow %q; want 405 and GET, HEAD", rec.Code, rec.Header().Get("Allow"))
	}

	rec = httptest.NewRecorder()
	f.p.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/stats/summary", nil))
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d with %d body bytes, want 200 and none", rec.Code, rec.Body.Len())
	}

	rt.fail.Store(true)
	f.clock.Step(time.Minute)
	rec = httptest.NewRecorder()
	f.p.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/stats/summary", nil))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "connection refused") {
		t.Errorf("with the runtime down: %d %q, want 500 naming the error", rec.Code, rec.Body)
	}
}

// TestStart: Start samples at once and returns nil when its context ends;
// Summary then serves that sample without another round of CRI calls.
func TestStart(t *testing.T) {
	rt := &failingRuntime{}
	f := newFixture(t, rt)
	rt.Runtime = f.rt
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.p.Start(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for rt.statsCalls.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Start took no sample within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.summary()
	if n := rt.statsCalls.Load(); n != 1 {
		t.Errorf("ListContainerStats called %d times, want 1 (Summary serves Start's sample)", n)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Start returned %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Start did not return within 10 s of its context ending")
	}
}

func TestNewChecksConfig(t *testing.T) {
	if _, err := stats.New(stats.Config{Runtime: fakecri.New()}); err == nil {
		t.Errorf("New without a node name succeeded")
	}
	if _, err := stats.New(stats.Config{NodeName: "n"}); err == nil {
		t.Errorf("New without a runtime succeeded")
	}
}
