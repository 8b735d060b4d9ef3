package prober

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/record"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	testingclock "k8s.io/utils/clock/testing"
)

// execScript is a CommandRunner whose exit codes a test sets, counting
// the commands it ran per container.
type execScript struct {
	mu    sync.Mutex
	exit  map[string]int32
	calls map[string]int
}

func newExecScript() *execScript {
	return &execScript{exit: map[string]int32{}, calls: map[string]int{}}
}

func (e *execScript) ExecSync(_ context.Context, id string, cmd []string, _ time.Duration) (*runtimeapi.ExecSyncResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls[id]++
	code := e.exit[id]
	resp := &runtimeapi.ExecSyncResponse{ExitCode: code}
	if code != 0 {
		resp.Stdout = []byte(strings.Join(cmd, " ") + ": not yet")
	}
	return resp, nil
}

func (e *execScript) setExit(id string, code int32) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.exit[id] = code
}

func (e *execScript) callsTo(id string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls[id]
}

// managerHarness runs a Manager on a fake clock.
type managerHarness struct {
	t        *testing.T
	clock    *testingclock.FakeClock
	exec     *execScript
	recorder *record.FakeRecorder
	changes  chan types.UID
	m        *Manager
}

func newManagerHarness(t *testing.T) *managerHarness {
	h := &managerHarness{
		t: t, clock: testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		exec: newExecScript(), recorder: record.NewFakeRecorder(100), changes: make(chan types.UID, 100),
	}
	h.m = NewManager(context.Background(), Config{Runner: h.exec, Recorder: h.recorder, Clock: h.clock,
		OnChange: func(uid types.UID) { h.changes <- uid }})
	t.Cleanup(h.m.Stop)
	return h
}

// waitFor polls cond (real time) until it holds.
func (h *managerHarness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// probed waits until container id has been probed n times in all and
// the worker sleeps on the clock again.
func (h *managerHarness) probed(id string, n int) {
	h.t.Helper()
	h.waitFor("probe "+id, func() bool { return h.exec.callsTo(id) >= n && h.clock.HasWaiters() })
	if got := h.exec.callsTo(id); got != n {
		h.t.Fatalf("%s probed %d times, want %d", id, got, n)
	}
}

func (h *managerHarness) result(uid types.UID, id string, typ Type) (Result, bool) {
	return h.m.Result(uid, id, typ)
}

func (h *managerHarness) events() []string {
	var out []string
	for {
		select {
		case e := <-h.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func execProbe(mutate func(*corev1.Probe)) *corev1.Probe {
	p := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"/check"}}},
		PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3}
	if mutate != nil {
		mutate(p)
	}
	return p
}

func probePod(c corev1.Container) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "uid-p"},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyAlways, Containers: []corev1.Container{c}}}
}

func TestReadinessThresholdsAndInitialDelay(t *testing.T) {
	h := newManagerHarness(t)
	pod := probePod(corev1.Container{Name: "app", ReadinessProbe: execProbe(func(p *corev1.Probe) {
		p.InitialDelaySeconds, p.SuccessThreshold = 5, 2
	})})
	h.m.UpdatePod(pod, "10.0.0.1", []Container{{Name: "app", ID: "c1", Running: true, StartedAt: h.clock.Now()}})

	// Nothing runs during the initial delay.
	h.waitFor("the worker to wait out the delay", h.clock.HasWaiters)
	h.clock.Step(4 * time.Second)
	time.Sleep(20 * time.Millisecond)
	if n := h.exec.callsTo("c1"); n != 0 {
		t.Fatalf("probed %d times within the initial delay", n)
	}
	h.clock.Step(time.Second)
	h.probed("c1", 1)
	if _, ok := h.result(pod.UID, "c1", Readiness); ok {
		t.Fatalf("a result after one success, want none below successThreshold 2")
	}
	h.clock.Step(10 * time.Second)
	h.probed("c1", 2)
	if r, _ := h.result(pod.UID, "c1", Readiness); r != Success {
		t.Fatalf("readiness = %v after two successes, want Success", r)
	}
	if uid := <-h.changes; uid != pod.UID {
		t.Errorf("OnChange(%s), want %s", uid, pod.UID)
	}

	// Three failures in a row (failureThreshold 3) make it Failure.
	h.exec.setExit("c1", 1)
	for i := 3; i <= 4; i++ {
		h.clock.Step(10 * time.Second)
		h.probed("c1", i)
		if r, _ := h.result(pod.UID, "c1", Readiness); r != Success {
			t.Fatalf("readiness = %v after %d failures, want still Success", r, i-2)
		}
	}
	h.clock.Step(10 * time.Second)
	h.probed("c1", 5)
	if r, _ := h.result(pod.UID, "c1", Readiness); r != Failure {
		t.Fatalf("readiness = %v after 3 failures, want Failure", r)
	}
	if !slices.Contains(h.events(), "Warning Unhealthy Readiness probe failed: /check: not yet") {
		t.Errorf("no Unhealthy event quoting the command's output")
	}
}

func TestLivenessFailureHoldsUntilNewContainer(t *testing.T) {
	h := newManagerHarness(t)
	pod := probePod(corev1.Container{Name: "app", LivenessProbe: execProbe(func(p *corev1.Probe) { p.FailureThreshold = 1 })})
	h.exec.setExit("c1", 1)
	h.m.UpdatePod(pod, "10.0.0.1", []Container{{Name: "app", ID: "c1", Running: true, StartedAt: h.clock.Now()}})
	h.probed("c1", 1)
	if r, _ := h.result(pod.UID, "c1", Liveness); r != Failure {
		t.Fatalf("liveness = %v, want Failure", r)
	}
	// While the container is being killed it is not probed again.
	h.clock.Step(30 * time.Second)
	time.Sleep(20 * time.Millisecond)
	if n := h.exec.callsTo("c1"); n != 1 {
		t.Fatalf("a container that failed liveness was probed %d times, want 1", n)
	}
	// Its replacement is probed at once, and the old result is dropped.
	h.m.UpdatePod(pod, "10.0.0.1", []Container{{Name: "app", ID: "c2", Running: true, StartedAt: h.clock.Now()}})
	h.probed("c2", 1)
	if r, _ := h.result(pod.UID, "c2", Liveness); r != Success {
		t.Errorf("new container's liveness = %v, want Success", r)
	}
	if _, ok := h.result(pod.UID, "c1", Liveness); ok {
		t.Errorf("the old container's result is still cached")
	}
}

func TestStartupProbeGatesTheOthers(t *testing.T) {
	h := newManagerHarness(t)
	readinessCmd := []string{"/ready"}
	pod := probePod(corev1.Container{Name: "app",
		StartupProbe:   execProbe(func(p *corev1.Probe) { p.FailureThreshold = 30 }),
		ReadinessProbe: execProbe(func(p *corev1.Probe) { p.Exec.Command = readinessCmd }),
	})
	h.exec.setExit("c1", 1)
	h.m.UpdatePod(pod, "10.0.0.1", []Container{{Name: "app", ID: "c1", Running: true, StartedAt: h.clock.Now()}})
	// Only the startup probe runs (the readiness worker waits for it).
	h.probed("c1", 1)
	h.clock.Step(10 * time.Second)
	h.probed("c1", 2)
	if _, ok := h.result(pod.UID, "c1", Readiness); ok {
		t.Fatalf("readiness concluded before the startup probe passed")
	}
	// Once it passes, the readiness probe runs at once, and the startup
	// probe no more.
	h.exec.setExit("c1", 0)
	h.clock.Step(10 * time.Second)
	h.waitFor("readiness after startup", func() bool {
		r, _ := h.result(pod.UID, "c1", Readiness)
		return r == Success
	})
	if r, _ := h.result(pod.UID, "c1", Startup); r != Success {
		t.Errorf("startup = %v, want Success", r)
	}
}

func TestDeletionStopsLivenessAndRemovePodEverything(t *testing.T) {
	h := newManagerHarness(t)
	pod := probePod(corev1.Container{Name: "app", LivenessProbe: execProbe(nil), ReadinessProbe: execProbe(nil)})
	h.m.UpdatePod(pod, "10.0.0.1", []Container{{Name: "app", ID: "c1", Running: true, StartedAt: h.clock.Now()}})
	h.probed("c1", 2)
	workers := func() []Type {
		h.m.mu.Lock()
		defer h.m.mu.Unlock()
		var out []Type
		for k := range h.m.workers {
			out = append(out, k.typ)
		}
		slices.Sort(out)
		return out
	}
	deleting := pod.DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{Time: h.clock.Now()}
	h.m.UpdatePod(deleting, "10.0.0.1", []Container{{Name: "app", ID: "c1", Running: true, StartedAt: h.clock.Now()}})
	if got := workers(); !slices.Equal(got, []Type{Readiness}) {
		t.Errorf("workers of a pod being deleted = %v, want only readiness", got)
	}
	h.m.RemovePod(pod.UID)
	h.waitFor("workers to end", func() bool { return len(workers()) == 0 })
	if _, ok := h.result(pod.UID, "c1", Readiness); ok {
		t.Errorf("results kept after RemovePod")
	}
}

func TestProbeErrorsAndWarningsAsEvents(t *testing.T) {
	h := newManagerHarness(t)
	pod := probePod(corev1.Container{Name: "app", ReadinessProbe: &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intOrName("web")}}}})
	h.m.UpdatePod(pod, "10.0.0.1", []Container{{Name: "app", ID: "c1", Running: true, StartedAt: h.clock.Now()}})
	h.waitFor("an event", func() bool { return len(h.recorder.Events) > 0 })
	want := `Warning Unhealthy Readiness probe errored and resulted in unknown state: prober: port "web": no such container port`
	if got := h.events(); !slices.Contains(got, want) {
		t.Errorf("events %q lack %q", got, want)
	}
	if _, ok := h.result(pod.UID, "c1", Readiness); ok {
		t.Errorf("a probe that could not run gave a result")
	}
}

func intOrName(name string) intstr.IntOrString { return intstr.FromString(name) }

func TestNoPodIPIsAnError(t *testing.T) {
	h := newManagerHarness(t)
	pod := probePod(corev1.Container{Name: "app", LivenessProbe: &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}}})
	h.m.UpdatePod(pod, "", []Container{{Name: "app", ID: "c1", Running: true, StartedAt: h.clock.Now()}})
	h.waitFor("an event", func() bool { return len(h.recorder.Events) > 0 })
	if got, want := h.events(), "Warning Unhealthy Liveness probe errored and resulted in unknown state: prober: the pod has no IP yet"; !slices.Contains(got, want) {
		t.Errorf("events %q lack %q", got, want)
	}
	if _, ok := h.result(pod.UID, "c1", Liveness); ok {
		t.Errorf("a probe without an address gave a result (it would have probed the host)")
	}
}
