package agent

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/agent/prober"
)

// waitResult waits (real time) until the prober holds want for the
// newest container named name.
func (h *syncHarness) waitResult(uid types.UID, name string, typ prober.Type, want prober.Result) {
	h.t.Helper()
	id := h.containerID(name)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if r, _ := h.syncer.probes.Result(uid, id, typ); r == want {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s probe of %s never gave %v", typ, name, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// exitCodes is a fakecri exec script: each command's exit code, by its
// first word, settable while workers run.
type exitCodes struct {
	mu    sync.Mutex
	codes map[string]int32
}

func (e *exitCodes) set(cmd string, code int32) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.codes[cmd] = code
}

func (e *exitCodes) exec(_, _ string, cmd []string, _ time.Duration) (*runtimeapi.ExecSyncResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	code := e.codes[cmd[0]]
	resp := &runtimeapi.ExecSyncResponse{ExitCode: code}
	if code != 0 {
		resp.Stderr = []byte(cmd[0] + " said no")
	}
	return resp, nil
}

func newExitCodes(h *syncHarness) *exitCodes {
	e := &exitCodes{codes: map[string]int32{}}
	h.runtime.SetExec(e.exec)
	return e
}

func execProbe(cmd string, mutate func(*corev1.Probe)) *corev1.Probe {
	p := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{cmd}}},
		PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 1}
	if mutate != nil {
		mutate(p)
	}
	return p
}

func condition(pod *corev1.Pod, typ corev1.PodConditionType) corev1.PodCondition {
	for _, c := range pod.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return corev1.PodCondition{}
}

func TestSyncPodReadinessProbe(t *testing.T) {
	h := newSyncHarness(t)
	h.runtime.AddImage("localhost/app:1")
	codes := newExitCodes(h)
	pod := h.createPod(testPod("ready", func(p *corev1.Pod) { p.Spec.Containers[0].ReadinessProbe = execProbe("/ready", nil) }))

	after, _ := h.sync(pod)
	if cs := after.Status.ContainerStatuses[0]; cs.State.Running == nil || cs.Ready {
		t.Fatalf("before the first probe: %+v, want running and not ready", cs)
	}
	if c := condition(after, corev1.PodReady); c.Status != corev1.ConditionFalse || c.Message != "containers with unready status: [app]" {
		t.Errorf("Ready condition = %+v, want False naming app", c)
	}
	h.waitResult(pod.UID, "app", prober.Readiness, prober.Success)
	after, _ = h.sync(pod)
	if !after.Status.ContainerStatuses[0].Ready || condition(after, corev1.PodReady).Status != corev1.ConditionTrue ||
		condition(after, corev1.ContainersReady).Status != corev1.ConditionTrue {
		t.Fatalf("after a passed readiness probe: %+v, want ready", after.Status)
	}

	codes.set("/ready", 1)
	h.clock.Step(time.Second)
	h.waitResult(pod.UID, "app", prober.Readiness, prober.Failure)
	after, _ = h.sync(pod)
	if after.Status.ContainerStatuses[0].Ready || condition(after, corev1.PodReady).Status != corev1.ConditionFalse {
		t.Fatalf("after a failed readiness probe: %+v, want not ready", after.Status)
	}
	if cs := after.Status.ContainerStatuses[0]; cs.RestartCount != 0 || cs.State.Running == nil {
		t.Errorf("a readiness failure restarted the container: %+v", cs)
	}
	if !slices.Contains(h.events(), "Warning Unhealthy Readiness probe failed: /ready said no") {
		t.Errorf("no Unhealthy event for the readiness failure")
	}
}

func TestSyncPodLivenessRestart(t *testing.T) {
	h := newSyncHarness(t)
	h.runtime.AddImage("localhost/app:1")
	codes := newExitCodes(h)
	codes.set("/alive", 1)
	pod := h.createPod(testPod("live", func(p *corev1.Pod) {
		p.Spec.Containers[0].LivenessProbe = execProbe("/alive", func(p *corev1.Probe) { p.TerminationGracePeriodSeconds = ptr.To(int64(4)) })
		p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/drain"}}}}
	}))
	h.sync(pod)
	first := h.containerID("app")
	h.waitResult(pod.UID, "app", prober.Liveness, prober.Failure)
	h.runtime.ResetCalls()
	codes.set("/alive", 0)

	after, _ := h.sync(pod)
	cs := after.Status.ContainerStatuses[0]
	if cs.State.Running == nil || cs.RestartCount != 1 || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 137 {
		t.Fatalf("after the liveness failure: %+v, want running again, restartCount 1, lastState terminated 137", cs)
	}
	calls := h.runtime.Calls()
	drain, stop := slices.Index(calls, "ExecSync app /drain"), slices.Index(calls, "StopContainer app")
	if drain < 0 || stop < drain {
		t.Errorf("runtime calls %q: want the preStop hook, then the stop", calls)
	}
	if got := h.runtime.StopTimeout(first); got != 4 {
		t.Errorf("stop timeout = %d, want the probe's terminationGracePeriodSeconds 4", got)
	}
	events := h.events()
	for _, want := range []string{
		"Warning Unhealthy Liveness probe failed: /alive said no",
		"Normal Killing Container app failed liveness probe, will be restarted",
	} {
		if !slices.Contains(events, want) {
			t.Errorf("events %q lack %q", events, want)
		}
	}
	// The new container is probed afresh and passes.
	h.waitResult(pod.UID, "app", prober.Liveness, prober.Success)
}

func TestSyncPodInitContainersRunInOrder(t *testing.T) {
	h := newSyncHarness(t)
	h.runtime.AddImage("localhost/app:1")
	pod := h.createPod(testPod("init", func(p *corev1.Pod) {
		p.Spec.InitContainers = []corev1.Container{
			{Name: "first", Image: "localhost/app:1", Command: []string{"/first"}},
			{Name: "second", Image: "localhost/app:1", Command: []string{"/second"}},
		}
	}))
	starts := func() []string {
		var out []string
		for _, c := range h.runtime.Calls() {
			if strings.HasPrefix(c, "StartContainer ") {
				out = append(out, strings.TrimPrefix(c, "StartContainer "))
			}
		}
		return out
	}

	after, _ := h.sync(pod)
	if got := starts(); !slices.Equal(got, []string{"first"}) {
		t.Fatalf("started %v, want only the first init container", got)
	}
	if after.Status.Phase != corev1.PodPending || len(after.Status.InitContainerStatuses) != 2 {
		t.Fatalf("status %+v, want Pending with two init container statuses", after.Status)
	}
	if c := condition(after, corev1.PodInitialized); c.Status != corev1.ConditionFalse || c.Reason != "ContainersNotInitialized" ||
		c.Message != "containers with incomplete status: [first second]" {
		t.Errorf("Initialized = %+v", c)
	}
	if r := after.Status.InitContainerStatuses[1].State.Waiting; r == nil || r.Reason != reasonPodInitializing {
		t.Errorf("second init container state %+v, want waiting PodInitializing", after.Status.InitContainerStatuses[1].State)
	}
	if r := waitingReasonOf(after); r != reasonPodInitializing {
		t.Errorf("app waiting reason %q, want PodInitializing", r)
	}

	// A sync while the first still runs starts nothing.
	h.sync(pod)
	if got := starts(); len(got) != 1 {
		t.Fatalf("started %v while the first init container runs", got)
	}
	if err := h.runtime.Exit(h.containerID("first"), 0, ""); err != nil {
		t.Fatal(err)
	}
	h.sync(pod)
	if got := starts(); !slices.Equal(got, []string{"first", "second"}) {
		t.Fatalf("started %v, want first then second", got)
	}
	if err := h.runtime.Exit(h.containerID("second"), 0, ""); err != nil {
		t.Fatal(err)
	}
	after, _ = h.sync(pod)
	if got := starts(); !slices.Equal(got, []string{"first", "second", "app"}) {
		t.Fatalf("started %v, want first, second, app", got)
	}
	if after.Status.Phase != corev1.PodRunning || condition(after, corev1.PodInitialized).Status != corev1.ConditionTrue {
		t.Errorf("phase %s Initialized %+v, want Running and True", after.Status.Phase, condition(after, corev1.PodInitialized))
	}
	for _, cs := range after.Status.InitContainerStatuses {
		if cs.State.Terminated == nil || cs.State.Terminated.Reason != "Completed" || !cs.Ready {
			t.Errorf("init container %s: %+v, want terminated Completed and ready", cs.Name, cs)
		}
	}
	// Later syncs never run an init container again.
	h.sync(pod)
	if got := starts(); len(got) != 3 {
		t.Errorf("started %v after initialization", got)
	}
	if !slices.Contains(h.events(), "Normal Started Container started") {
		t.Errorf("no Started event")
	}
}

func TestSyncPodInitContainerFailure(t *testing.T) {
	t.Run("Never fails the pod", func(t *testing.T) {
		h := newSyncHarness(t)
		h.runtime.AddImage("localhost/app:1")
		pod := h.createPod(testPod("initfail", func(p *corev1.Pod) {
			p.Spec.RestartPolicy = corev1.RestartPolicyNever
			p.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: "localhost/app:1"}}
		}))
		h.sync(pod)
		if err := h.runtime.Exit(h.containerID("setup"), 1, ""); err != nil {
			t.Fatal(err)
		}
		after, _ := h.sync(pod)
		if after.Status.Phase != corev1.PodFailed {
			t.Fatalf("phase = %s, want Failed", after.Status.Phase)
		}
		if st := after.Status.InitContainerStatuses[0].State.Terminated; st == nil || st.Reason != "Error" || st.ExitCode != 1 {
			t.Errorf("init container state %+v, want terminated Error 1 (kubectl: Init:Error)", after.Status.InitContainerStatuses[0].State)
		}
		if c := condition(after, corev1.PodReady); c.Reason != reasonPodFailed {
			t.Errorf("Ready = %+v, want reason PodFailed", c)
		}
		h.sync(pod)
		for _, c := range h.runtime.Calls() {
			if c == "CreateContainer app" {
				t.Errorf("the app container was created after its init container failed")
			}
		}
	})
	t.Run("Always restarts it with back-off", func(t *testing.T) {
		h := newSyncHarness(t)
		h.runtime.AddImage("localhost/app:1")
		pod := h.createPod(testPod("initloop", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: "localhost/app:1"}}
		}))
		h.sync(pod)
		if err := h.runtime.Exit(h.containerID("setup"), 1, ""); err != nil {
			t.Fatal(err)
		}
		after, _ := h.sync(pod)
		if cs := after.Status.InitContainerStatuses[0]; cs.State.Running == nil || cs.RestartCount != 1 {
			t.Fatalf("after the first failure: %+v, want restarted at once", cs)
		}
		if err := h.runtime.Exit(h.containerID("setup"), 1, ""); err != nil {
			t.Fatal(err)
		}
		after, result := h.sync(pod)
		cs := after.Status.InitContainerStatuses[0]
		if cs.State.Waiting == nil || cs.State.Waiting.Reason != reasonCrashLoopBackOff || cs.LastTerminationState.Terminated == nil {
			t.Fatalf("after the second failure: %+v, want CrashLoopBackOff (kubectl: Init:CrashLoopBackOff)", cs)
		}
		if after.Status.Phase != corev1.PodPending || result.requeueAfter <= 0 {
			t.Errorf("phase %s requeue %v, want Pending and a requeue after the back-off", after.Status.Phase, result.requeueAfter)
		}
	})
}

func TestSyncPodSidecar(t *testing.T) {
	h := newSyncHarness(t)
	h.runtime.AddImage("localhost/app:1")
	pod := h.createPod(testPod("sidecar", func(p *corev1.Pod) {
		p.Spec.InitContainers = []corev1.Container{
			{Name: "proxy", Image: "localhost/app:1", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)},
			{Name: "setup", Image: "localhost/app:1"},
		}
	}))
	h.sync(pod)
	after, _ := h.sync(pod)
	if cs := after.Status.InitContainerStatuses[0]; cs.State.Running == nil || !cs.Ready || cs.Started == nil || !*cs.Started {
		t.Fatalf("sidecar %+v, want running, started and ready", cs)
	}
	if after.Status.InitContainerStatuses[1].State.Running == nil {
		t.Fatalf("the init container after a started sidecar did not start: %+v", after.Status.InitContainerStatuses[1])
	}
	if err := h.runtime.Exit(h.containerID("setup"), 0, ""); err != nil {
		t.Fatal(err)
	}
	after, _ = h.sync(pod)
	if after.Status.Phase != corev1.PodRunning || condition(after, corev1.ContainersReady).Status != corev1.ConditionTrue {
		t.Fatalf("status %+v, want Running with sidecar and app ready", after.Status)
	}
	// A sidecar that exits is restarted; the app is left alone.
	app := h.containerID("app")
	if err := h.runtime.Exit(h.containerID("proxy"), 2, ""); err != nil {
		t.Fatal(err)
	}
	after, _ = h.sync(pod)
	if cs := after.Status.InitContainerStatuses[0]; cs.State.Running == nil || cs.RestartCount != 1 {
		t.Errorf("sidecar after exiting: %+v, want running again", cs)
	}
	if h.containerID("app") != app {
		t.Errorf("the app container was restarted with its sidecar")
	}
	// Deletion stops the app before the sidecar.
	h.runtime.ResetCalls()
	deleting := after.DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{Time: h.clock.Now()}
	if _, err := h.syncer.syncPod(context.Background(), deleting); err != nil {
		t.Fatal(err)
	}
	calls := h.runtime.Calls()
	if a, p := slices.Index(calls, "StopContainer app"), slices.Index(calls, "StopContainer proxy"); a < 0 || p < a {
		t.Errorf("runtime calls %q: want the app stopped before its sidecar", calls)
	}
}

func TestSyncPodPostStartHookFailure(t *testing.T) {
	h := newSyncHarness(t)
	h.runtime.AddImage("localhost/app:1")
	codes := newExitCodes(h)
	codes.set("/hook", 3)
	pod := h.createPod(testPod("hook", func(p *corev1.Pod) {
		p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/hook"}}}}
	}))
	after, _ := h.sync(pod)
	cs := after.Status.ContainerStatuses[0]
	want := `Exec lifecycle hook ([/hook]) for Container "app" in Pod "hook_default(uid-hook)" failed - error: command '/hook' exited with 3: /hook said no, message: "/hook said no"`
	if cs.State.Waiting == nil || cs.State.Waiting.Reason != reasonPostStartHookError || cs.State.Waiting.Message != want {
		t.Fatalf("state %+v, want waiting PostStartHookError %q", cs.State, want)
	}
	if cs.LastTerminationState.Terminated == nil {
		t.Errorf("the killed container is not the last state: %+v", cs)
	}
	events := h.events()
	for _, want := range []string{"Warning FailedPostStartHook PostStartHook failed", "Normal Killing FailedPostStartHook"} {
		if !slices.Contains(events, want) {
			t.Errorf("events %q lack %q", events, want)
		}
	}
	// The next sync restarts it (the first restart is immediate).
	codes.set("/hook", 0)
	after, _ = h.sync(pod)
	if cs := after.Status.ContainerStatuses[0]; cs.State.Running == nil || cs.RestartCount != 1 {
		t.Errorf("after the hook passes: %+v, want running with restartCount 1", cs)
	}
}

func TestSyncPodDeletionPreStopBoundedByGrace(t *testing.T) {
	h := newSyncHarness(t)
	h.runtime.AddImage("localhost/app:1")
	release := make(chan struct{})
	h.runtime.SetExec(func(_, _ string, cmd []string, _ time.Duration) (*runtimeapi.ExecSyncResponse, error) {
		<-release // a preStop hook that hangs
		return &runtimeapi.ExecSyncResponse{}, nil
	})
	defer close(release)
	pod := h.createPod(testPod("stop", func(p *corev1.Pod) {
		p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/drain"}}}}
	}))
	h.sync(pod)
	rt := &stopRecorder{Runtime: h.runtime}
	h.syncer.runtime = rt
	deleting, err := h.client.CoreV1().Pods("default").Get(context.Background(), "stop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deleting.DeletionTimestamp = &metav1.Time{Time: h.clock.Now()}
	deleting.DeletionGracePeriodSeconds = ptr.To(int64(7))
	done := make(chan error, 1)
	go func() {
		_, err := h.syncer.syncPod(context.Background(), deleting)
		done <- err
	}()
	// The hook is waited for no longer than the grace period.
	deadline := time.Now().Add(10 * time.Second)
	for !h.clock.HasWaiters() {
		if time.Now().After(deadline) {
			t.Fatal("the preStop hook is not being waited for")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case <-done:
		t.Fatal("the pod stopped before its preStop hook ended or timed out")
	default:
	}
	h.clock.Step(7 * time.Second)
	if err := <-done; err != nil {
		t.Fatalf("syncPod: %v", err)
	}
	calls := h.runtime.Calls()
	if hook, stop := slices.Index(calls, "ExecSync app /drain"), slices.Index(calls, "StopContainer app"); hook < 0 || stop < hook {
		t.Errorf("runtime calls %q: want the preStop hook, then the stop", calls)
	}
	if want := []int64{minimumGracePeriod}; !slices.Equal(rt.timeouts, want) {
		t.Errorf("stop timeouts after a preStop hook that used the whole grace period = %v, want %v", rt.timeouts, want)
	}
}

func TestSyncPodBackoffResetsAfterALongRun(t *testing.T) {
	h := newSyncHarness(t)
	h.runtime.AddImage("localhost/app:1")
	pod := h.createPod(testPod("flaky"))
	h.sync(pod)
	for range 2 {
		if err := h.runtime.Exit(h.containerID("app"), 1, ""); err != nil {
			t.Fatal(err)
		}
		h.sync(pod)
	}
	after, _ := h.sync(pod)
	if r := waitingReasonOf(after); r != reasonCrashLoopBackOff {
		t.Fatalf("waiting reason %q, want CrashLoopBackOff", r)
	}
	h.clock.Step(initialBackoff)
	after, _ = h.sync(pod)
	if after.Status.ContainerStatuses[0].State.Running == nil {
		t.Fatalf("not restarted after the back-off: %+v", after.Status.ContainerStatuses[0])
	}
	// It runs for 11 minutes, then exits: restarted at once.
	h.clock.Step(11 * time.Minute)
	if err := h.runtime.Exit(h.containerID("app"), 1, ""); err != nil {
		t.Fatal(err)
	}
	after, _ = h.sync(pod)
	if cs := after.Status.ContainerStatuses[0]; cs.State.Running == nil || cs.RestartCount != 3 {
		t.Errorf("after a long run: %+v, want restarted at once (restartCount 3)", cs)
	}
}

func TestSyncPodKeepsReadinessAcrossAgentRestart(t *testing.T) {
	h := newSyncHarness(t)
	h.runtime.AddImage("localhost/app:1")
	codes := newExitCodes(h)
	pod := h.createPod(testPod("steady", func(p *corev1.Pod) {
		p.Spec.Containers[0].ReadinessProbe = execProbe("/ready", nil)
		p.Spec.Containers[0].StartupProbe = execProbe("/started", nil)
	}))
	h.sync(pod)
	h.waitResult(pod.UID, "app", prober.Startup, prober.Success)
	h.waitResult(pod.UID, "app", prober.Readiness, prober.Success)
	if after, _ := h.sync(pod); !podIsReady(after) {
		t.Fatalf("not ready before the restart: %+v", after.Status)
	}

	// A restarted agent: a new syncer and prober, nothing probed yet.
	codes.set("/ready", 1)
	before := h.runtime.Calls()
	probes := prober.NewManager(context.Background(), prober.Config{Runner: h.runtime, Recorder: h.recorder, Clock: h.clock})
	t.Cleanup(probes.Stop)
	h.syncer = (&podSyncer{
		runtime: h.runtime, client: h.client, recorder: h.recorder, clock: h.clock, probes: probes, objects: apiObjects{h.client},
		nodeName: "n1", hostIP: "192.0.2.10", runtimeName: "fakecri", logRoot: t.TempDir(),
	}).init()
	after, _ := h.sync(pod)
	if cs := after.Status.ContainerStatuses[0]; !podIsReady(after) || !cs.Ready || cs.Started == nil || !*cs.Started {
		t.Fatalf("right after the restart: %+v, want still started and ready until a probe says otherwise", after.Status)
	}
	// The probes then decide; the startup probe, passed before, does
	// not run again.
	h.waitResult(pod.UID, "app", prober.Readiness, prober.Failure)
	if slices.Contains(h.runtime.Calls()[len(before):], "ExecSync app /started") {
		t.Errorf("the startup probe of a started container ran again after the restart")
	}
	if after, _ := h.sync(pod); podIsReady(after) {
		t.Errorf("still ready after the readiness probe failed")
	}
}

func podIsReady(p *corev1.Pod) bool {
	return condition(p, corev1.PodReady).Status == corev1.ConditionTrue
}

func TestSyncPodHTTPHooks(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, r.URL.RequestURI()+" "+r.UserAgent())
		// The kubelet does not judge a hook's status code.
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	host, portText, _ := net.SplitHostPort(u.Host)
	port, _ := strconv.Atoi(portText)

	h := newSyncHarness(t)
	h.runtime.AddImage("localhost/app:1")
	pod := h.createPod(testPod("httphooks", func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "admin", ContainerPort: int32(port)}}
		p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{
			PostStart: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Host: host, Path: "/started?x=1", Port: intstr.FromString("admin")}},
			PreStop:   &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Host: host, Path: "/stopping", Port: intstr.FromInt32(int32(port))}},
		}
	}))
	if after, _ := h.sync(pod); after.Status.ContainerStatuses[0].State.Running == nil {
		t.Fatalf("postStart hook answered 500 and the container did not run: %+v", after.Status.ContainerStatuses[0])
	}
	deleting, err := h.client.CoreV1().Pods("default").Get(context.Background(), "httphooks", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deleting.DeletionTimestamp = &metav1.Time{Time: h.clock.Now()}
	if _, err := h.syncer.syncPod(context.Background(), deleting); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"/started?x=1 kube-lifecycle/1.37", "/stopping kube-lifecycle/1.37"}; !slices.Equal(seen, want) {
		t.Errorf("hook requests = %q, want %q", seen, want)
	}
	if events := h.events(); slices.ContainsFunc(events, func(e string) bool { return strings.Contains(e, "Hook") }) {
		t.Errorf("hook events %q for hooks that ran", events)
	}
}

func TestSyncPodFailedHooks(t *testing.T) {
	refused := func() int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}()
	h := newSyncHarness(t)
	h.runtime.AddImage("localhost/app:1")
	codes := newExitCodes(h)
	codes.set("/drain", 1)
	pod := h.createPod(testPod("badhooks", func(p *corev1.Pod) {
		p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{
			PostStart: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Host: "127.0.0.1", Path: "/x", Port: intstr.FromInt32(int32(refused))}},
		}
	}))
	after, _ := h.sync(pod)
	w := after.Status.ContainerStatuses[0].State.Waiting
	if want := `HTTP lifecycle hook (/x) for Container "app" in Pod "badhooks_default(uid-badhooks)" failed - error: Get "http://127.0.0.1:`; w == nil ||
		w.Reason != reasonPostStartHookError || !strings.HasPrefix(w.Message, want) || !strings.Contains(w.Message, "connection refused") {
		t.Fatalf("waiting state %+v, want PostStartHookError starting %q", w, want)
	}

	// A failing preStop hook is an event; the container stops anyway.
	stopping := h.createPod(testPod("badstop", func(p *corev1.Pod) {
		p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/drain"}}}}
	}))
	h.sync(stopping)
	h.events()
	stopping.DeletionTimestamp = &metav1.Time{Time: h.clock.Now()}
	if _, err := h.syncer.syncPod(context.Background(), stopping); err != nil {
		t.Fatal(err)
	}
	if events := h.events(); !slices.Contains(events, "Warning FailedPreStopHook PreStopHook failed") {
		t.Errorf("events %q lack the FailedPreStopHook event", events)
	}
	if sandboxes, _ := h.runtime.ListPodSandbox(context.Background(), &runtimeapi.PodSandboxFilter{
		LabelSelector: map[string]string{"io.kubernetes.pod.uid": string(stopping.UID)}}); len(sandboxes) != 0 {
		t.Errorf("%d sandboxes left after a failed preStop hook, want 0", len(sandboxes))
	}
}

// TestSyncPodDeletionStopsSidecarsLast: on deletion every container's
// preStop hook starts at once (a sidecar's runs while the app drains);
// the app is stopped first, then the sidecars in reverse spec order.
func TestSyncPodDeletionStopsSidecarsLast(t *testing.T) {
	h := newSyncHarness(t)
	h.runtime.AddImage("localhost/app:1")
	drain := &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/drain"}}}}
	pod := h.createPod(testPod("mesh", func(p *corev1.Pod) {
		p.Spec.InitContainers = []corev1.Container{
			{Name: "proxy", Image: "localhost/app:1", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways), Lifecycle: drain},
			{Name: "log", Image: "localhost/app:1", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways), Lifecycle: drain},
		}
		p.Spec.Containers[0].Lifecycle = drain
	}))
	// Each sync starts one more container, sidecars first.
	var after *corev1.Pod
	for range 3 {
		after, _ = h.sync(pod)
	}
	if after.Status.ContainerStatuses[0].State.Running == nil {
		t.Fatalf("app not running: %+v", after.Status.ContainerStatuses[0])
	}
	// The app's hook ends only once both sidecars' hooks have started
	// (or after 5 s of real time, which fails the test).
	var mu sync.Mutex
	started := map[string]bool{}
	sidecarsHooked := make(chan struct{})
	released := false
	h.runtime.SetExec(func(_, name string, _ []string, _ time.Duration) (*runtimeapi.ExecSyncResponse, error) {
		mu.Lock()
		started[name] = true
		if started["proxy"] && started["log"] && name != "app" {
			select {
			case <-sidecarsHooked:
			default:
				close(sidecarsHooked)
			}
		}
		mu.Unlock()
		if name == "app" {
			select {
			case <-sidecarsHooked:
				mu.Lock()
				released = true
				mu.Unlock()
			case <-time.After(5 * time.Second):
			}
		}
		return &runtimeapi.ExecSyncResponse{}, nil
	})
	h.runtime.ResetCalls()
	deleting := after.DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{Time: h.clock.Now()}
	if _, err := h.syncer.syncPod(context.Background(), deleting); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !released {
		t.Errorf("the sidecars' preStop hooks did not run while the app's ran (calls %q)", h.runtime.Calls())
	}
	var stops []string
	for _, c := range h.runtime.Calls() {
		if name, ok := strings.CutPrefix(c, "StopContainer "); ok {
			stops = append(stops, name)
		}
	}
	if want := []string{"app", "log", "proxy"}; !slices.Equal(stops, want) {
		t.Errorf("containers stopped in order %q, want %q", stops, want)
	}
}
