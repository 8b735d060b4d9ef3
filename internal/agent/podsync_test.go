package agent

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/agent/cri"
	"github.com/navarch/navarch/internal/agent/cri/fakecri"
	"github.com/navarch/navarch/internal/agent/prober"
)

// syncHarness drives syncPod against the fake runtime and a fake API.
type syncHarness struct {
	t        testing.TB
	runtime  *fakecri.Runtime
	client   *fake.Clientset
	recorder *record.FakeRecorder
	clock    *testingclock.FakeClock
	syncer   *podSyncer
}

func newSyncHarness(t testing.TB, objects ...any) *syncHarness {
	t.Helper()
	h := &syncHarness{
		t:        t,
		runtime:  fakecri.New(),
		client:   fake.NewClientset(),
		recorder: record.NewFakeRecorder(1000),
		clock:    testingclock.NewFakeClock(time.Now()),
	}
	h.runtime.SetClock(h.clock.Now)
	for _, o := range objects {
		var err error
		switch o := o.(type) {
		case *corev1.ConfigMap:
			_, err = h.client.CoreV1().ConfigMaps(o.Namespace).Create(context.Background(), o, metav1.CreateOptions{})
		case *corev1.Secret:
			_, err = h.client.CoreV1().Secrets(o.Namespace).Create(context.Background(), o, metav1.CreateOptions{})
		}
		if err != nil {
			t.Fatalf("seeding the API: %v", err)
		}
	}
	probes := prober.NewManager(context.Background(), prober.Config{Runner: h.runtime, Recorder: h.recorder, Clock: h.clock})
	t.Cleanup(probes.Stop)
	h.syncer = (&podSyncer{
		runtime: h.runtime, client: h.client, recorder: h.recorder, clock: h.clock, probes: probes,
		objects: apiObjects{h.client}, nodeName: "n1", hostIP: "192.0.2.10", runtimeName: "fakecri",
		logRoot: t.TempDir(), dns: dnsSettings{clusterDNS: []string{"10.43.0.10"}, clusterDomain: "cluster.local"},
		allocatable: corev1.ResourceList{}, memoryCapacity: 1 << 30,
	}).init()
	return h
}

// createPod stores pod in the fake API and returns it as stored.
func (h *syncHarness) createPod(pod *corev1.Pod) *corev1.Pod {
	h.t.Helper()
	created, err := h.client.CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		h.t.Fatalf("creating pod: %v", err)
	}
	return created
}

// sync runs one sync of the pod as the API holds it, and returns the
// pod as the API holds it afterwards.
func (h *syncHarness) sync(pod *corev1.Pod) (*corev1.Pod, syncResult) {
	h.t.Helper()
	current, err := h.client.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
	if err != nil {
		h.t.Fatalf("getting pod: %v", err)
	}
	result, err := h.syncer.syncPod(context.Background(), current)
	if err != nil {
		h.t.Fatalf("syncPod: %v", err)
	}
	after, err := h.client.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
	if err != nil {
		h.t.Fatalf("getting pod: %v", err)
	}
	return after, result
}

// events drains the recorded events ("Normal Started Container started").
func (h *syncHarness) events() []string {
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

// containerID returns the id of the newest runtime container named name.
func (h *syncHarness) containerID(name string) string {
	h.t.Helper()
	list, err := h.runtime.ListContainers(context.Background(), nil)
	if err != nil {
		h.t.Fatal(err)
	}
	id, attempt := "", int64(-1)
	for _, c := range list {
		if c.Metadata.Name == name && int64(c.Metadata.Attempt) > attempt {
			id, attempt = c.Id, int64(c.Metadata.Attempt)
		}
	}
	if id == "" {
		h.t.Fatalf("no container %s", name)
	}
	return id
}

func testPod(name string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			NodeName: "n1", RestartPolicy: corev1.RestartPolicyAlways, DNSPolicy: corev1.DNSClusterFirst,
			TerminationGracePeriodSeconds: ptr.To(int64(30)),
			Containers: []corev1.Container{{
				Name: "app", Image: "localhost/app:1", ImagePullPolicy: corev1.PullIfNotPresent,
				Command: []string{"/app"}, Args: []string{"--name=$(POD_NAME)", "$$(literal)"},
				Env: []corev1.EnvVar{
					{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
					{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
				},
			}},
		},
	}
	for _, m := range mutate {
		m(pod)
	}
	return pod
}

func waitingReasonOf(pod *corev1.Pod) string {
	if len(pod.Status.ContainerStatuses) == 0 || pod.Status.ContainerStatuses[0].State.Waiting == nil {
		return ""
	}
	return pod.Status.ContainerStatuses[0].State.Waiting.Reason
}

func hasEvent(events []string, prefix string) bool {
	return slices.ContainsFunc(events, func(e string) bool { return strings.HasPrefix(e, prefix) })
}

func TestSyncPodStartsPod(t *testing.T) {
	h := newSyncHarness(t)
	h.runtime.AddImage("localhost/app:1")
	pod := h.createPod(testPod("web"))

	after, result := h.sync(pod)

	if got, want := h.runtime.Calls(), []string{"RunPodSandbox web", "CreateContainer app", "StartContainer app"}; !cmp.Equal(got, want) {
		t.Errorf("runtime calls = %v, want %v", got, want)
	}
	if result.requeueAfter != 0 {
		t.Errorf("requeueAfter = %v, want 0 for a running pod", result.requeueAfter)
	}
	if after.Status.Phase != corev1.PodRunning || after.Status.PodIP == "" || after.Status.HostIP != "192.0.2.10" {
		t.Errorf("status phase %s podIP %q hostIP %q, want Running with both IPs", after.Status.Phase, after.Status.PodIP, after.Status.HostIP)
	}
	cs := after.Status.ContainerStatuses[0]
	if cs.State.Running == nil || !cs.Ready || cs.RestartCount != 0 || !strings.HasPrefix(cs.ContainerID, "fakecri://") || cs.ImageID == "" {
		t.Errorf("container status = %+v, want running, ready, restartCount 0, ids set", cs)
	}
	cfg := h.runtime.ContainerConfig(h.containerID("app"))
	env := map[string]string{}
	for _, kv := range cfg.Envs {
		env[kv.Key] = string(kv.Value)
	}
	if want := map[string]string{"POD_NAME": "web", "POD_IP": after.Status.PodIP}; !cmp.Equal(env, want) {
		t.Errorf("container env = %v, want %v", env, want)
	}
	if got, want := cfg.Args, []string{"--name=web", "$(literal)"}; !cmp.Equal(got, want) {
		t.Errorf("args = %v, want %v", got, want)
	}
	if cfg.Linux.Resources.OomScoreAdj < 0 {
		t.Errorf("oom_score_adj = %d, must never be negative", cfg.Linux.Resources.OomScoreAdj)
	}
	events := h.events()
	for _, want := range []string{
		`Normal Pulled Container image "localhost/app:1" already present on machine and can be accessed by the pod`,
		"Normal Created Container created", "Normal Started Container started",
	} {
		if !slices.Contains(events, want) {
			t.Errorf("events %q lack %q", events, want)
		}
	}
}

func TestSyncPodAdoptsRunningContainers(t *testing.T) {
	h := newSyncHarness(t)
	h.runtime.AddImage("localhost/app:1")
	pod := h.createPod(testPod("web"))
	h.sync(pod)
	before := h.containerID("app")
	h.runtime.ResetCalls()

	// A restarted agent has a new syncer but the same runtime.
	h.syncer = (&podSyncer{
		runtime: h.runtime, client: h.client, recorder: h.recorder, clock: h.clock, objects: apiObjects{h.client},
		nodeName: "n1", hostIP: "192.0.2.10", runtimeName: "fakecri", logRoot: t.TempDir(),
	}).init()
	after, _ := h.sync(pod)

	for _, call := range h.runtime.Calls() {
		if strings.HasPrefix(call, "RunPodSandbox") || strings.HasPrefix(call, "CreateContainer") || strings.HasPrefix(call, "StopContainer") {
			t.Errorf("adoption made runtime call %q, want none that start or stop", call)
		}
	}
	if got := h.containerID("app"); got != before {
		t.Errorf("container = %s, want the adopted %s", got, before)
	}
	if after.Status.Phase != corev1.PodRunning || after.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Errorf("after adoption: phase %s restarts %d, want Running and 0", after.Status.Phase, after.Status.ContainerStatuses[0].RestartCount)
	}
}

func TestSyncPodRestartsWithBackoff(t *testing.T) {
	h := newSyncHarness(t)
	h.runtime.AddImage("localhost/app:1")
	pod := h.createPod(testPod("crash"))
	h.sync(pod)

	// First exit: restarted at once.
	if err := h.runtime.Exit(h.containerID("app"), 1, ""); err != nil {
		t.Fatal(err)
	}
	after, _ := h.sync(pod)
	cs := after.Status.ContainerStatuses[0]
	if cs.State.Running == nil || cs.RestartCount != 1 || cs.LastTerminationState.Terminated == nil ||
		cs.LastTerminationState.Terminated.ExitCode != 1 || cs.LastTerminationState.Terminated.Reason != "Error" {
		t.Fatalf("after the first exit: %+v, want running, restartCount 1, lastState terminated exit 1 Error", cs)
	}

	// Second exit: back-off 10 s.
	if err := h.runtime.Exit(h.containerID("app"), 1, ""); err != nil {
		t.Fatal(err)
	}
	h.events()
	after, result := h.sync(pod)
	cs = after.Status.ContainerStatuses[0]
	if got := waitingReasonOf(after); got != reasonCrashLoopBackOff {
		t.Fatalf("waiting reason = %q, want CrashLoopBackOff (status %+v)", got, cs)
	}
	if want := "back-off 10s restarting failed container=app pod=crash_default(uid-crash)"; cs.State.Waiting.Message != want {
		t.Errorf("waiting message = %q, want %q", cs.State.Waiting.Message, want)
	}
	if after.Status.Phase != corev1.PodRunning || cs.RestartCount != 1 || cs.LastTerminationState.Terminated == nil {
		t.Errorf("phase %s restartCount %d lastState %+v, want Running, 1, terminated", after.Status.Phase, cs.RestartCount, cs.LastTerminationState)
	}
	if result.requeueAfter <= 0 || result.requeueAfter > initialBackoff {
		t.Errorf("requeueAfter = %v, want within the 10s back-off", result.requeueAfter)
	}
	if events := h.events(); !hasEvent(events, "Warning BackOff Back-off restarting failed container app in pod crash_default(uid-crash)") {
		t.Errorf("events %q lack the BackOff event", events)
	}

	// After the back-off, it restarts (attempt 2).
	h.clock.Step(initialBackoff + time.Second)
	after, _ = h.sync(pod)
	if cs := after.Status.ContainerStatuses[0]; cs.State.Running == nil || cs.RestartCount != 2 {
		t.Errorf("after the back-off: %+v, want running with restartCount 2", cs)
	}
}

func TestSyncPodRestartPolicy(t *testing.T) {
	tests := []struct {
		name      string
		policy    corev1.RestartPolicy
		exitCode  int32
		wantPhase corev1.PodPhase
		// wantRestart: the container runs again after the exit.
		wantRestart bool
	}{
		{name: "Never, success", policy: corev1.RestartPolicyNever, exitCode: 0, wantPhase: corev1.PodSucceeded},
		{name: "Never, failure", policy: corev1.RestartPolicyNever, exitCode: 2, wantPhase: corev1.PodFailed},
		{name: "OnFailure, success", policy: corev1.RestartPolicyOnFailure, exitCode: 0, wantPhase: corev1.PodSucceeded},
		{name: "OnFailure, failure", policy: corev1.RestartPolicyOnFailure, exitCode: 1, wantPhase: corev1.PodRunning, wantRestart: true},
		{name: "Always, success", policy: corev1.RestartPolicyAlways, exitCode: 0, wantPhase: corev1.PodRunning, wantRestart: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newSyncHarness(t)
			h.runtime.AddImage("localhost/app:1")
			pod := h.createPod(testPod("job", func(p *corev1.Pod) { p.Spec.RestartPolicy = tt.policy }))
			h.sync(pod)
			if err := h.runtime.Exit(h.containerID("app"), tt.exitCode, ""); err != nil {
				t.Fatal(err)
			}
			after, _ := h.sync(pod)
			if after.Status.Phase != tt.wantPhase {
				t.Errorf("phase = %s, want %s", after.Status.Phase, tt.wantPhase)
			}
			cs := after.Status.ContainerStatuses[0]
			if restarted := cs.State.Running != nil; restarted != tt.wantRestart {
				t.Errorf("restarted = %v, want %v (status %+v)", restarted, tt.wantRestart, cs)
			}
			if !tt.wantRestart {
				want := "Completed"
				if tt.exitCode != 0 {
					want = "Error"
				}
				if cs.State.Terminated == nil || cs.State.Terminated.Reason != want || cs.State.Terminated.ExitCode != tt.exitCode {
					t.Errorf("state = %+v, want terminated %s exit %d", cs.State, want, tt.exitCode)
				}
				sandboxes, _ := h.runtime.ListPodSandbox(context.Background(), &runtimeapi.PodSandboxFilter{
					State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY}})
				if len(sandboxes) != 0 {
					t.Errorf("a finished pod keeps %d ready sandboxes, want 0 (IP released)", len(sandboxes))
				}
				if after.Status.PodIP == "" {
					t.Errorf("a finished pod lost its podIP in status; upstream keeps it")
				}
				wantReason := reasonPodCompleted
				if tt.wantPhase == corev1.PodFailed {
					wantReason = reasonPodFailed
				}
				for _, c := range after.Status.Conditions {
					if c.Type == corev1.PodReady && (c.Status != corev1.ConditionFalse || c.Reason != wantReason) {
						t.Errorf("Ready condition = %+v, want False %s", c, wantReason)
					}
				}
			}
		})
	}
}

func TestSyncPodImages(t *testing.T) {
	tests := []struct {
		name        string
		policy      corev1.PullPolicy
		inRegistry  bool
		wantReasons []string // waiting reason after each of two syncs ("" = running)
		wantEvent   string
		wantPulls   int
	}{
		{name: "Never, missing", policy: corev1.PullNever,
			wantReasons: []string{reasonErrImageNeverPull, reasonErrImageNeverPull},
			wantEvent:   `Warning ErrImageNeverPull Container image "localhost/app:1" is not present with pull policy of Never`},
		{name: "IfNotPresent, missing", policy: corev1.PullIfNotPresent,
			wantReasons: []string{reasonErrImagePull, reasonImagePullBackOff},
			wantEvent:   `Warning Failed Failed to pull image "localhost/app:1"`, wantPulls: 1},
		{name: "IfNotPresent, pullable", policy: corev1.PullIfNotPresent, inRegistry: true,
			wantReasons: []string{"", ""}, wantEvent: `Normal Pulled Successfully pulled image "localhost/app:1"`, wantPulls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newSyncHarness(t)
			if tt.inRegistry {
				h.runtime.AddRegistryImage("localhost/app:1")
			}
			pod := h.createPod(testPod("img", func(p *corev1.Pod) { p.Spec.Containers[0].ImagePullPolicy = tt.policy }))
			var events []string
			for i, want := range tt.wantReasons {
				after, _ := h.sync(pod)
				events = append(events, h.events()...)
				if got := waitingReasonOf(after); got != want {
					t.Errorf("sync %d: waiting reason = %q, want %q", i+1, got, want)
				}
				if want != "" && after.Status.Phase != corev1.PodPending {
					t.Errorf("sync %d: phase = %s, want Pending", i+1, after.Status.Phase)
				}
			}
			if !hasEvent(events, tt.wantEvent) {
				t.Errorf("events %q lack %q", events, tt.wantEvent)
			}
			pulls := 0
			for _, c := range h.runtime.Calls() {
				if strings.HasPrefix(c, "PullImage") {
					pulls++
				}
			}
			if pulls != tt.wantPulls {
				t.Errorf("pulls = %d, want %d (the back-off must hold the second)", pulls, tt.wantPulls)
			}
		})
	}
}

func TestSyncPodConfigErrorThenRecovers(t *testing.T) {
	h := newSyncHarness(t)
	h.runtime.AddImage("localhost/app:1")
	pod := h.createPod(testPod("cfg", func(p *corev1.Pod) {
		p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, corev1.EnvVar{Name: "GREETING", ValueFrom: &corev1.EnvVarSource{
			ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "greeting"}}})
	}))
	after, result := h.sync(pod)
	cs := after.Status.ContainerStatuses[0]
	if cs.State.Waiting == nil || cs.State.Waiting.Reason != reasonCreateContainerConfigError || cs.State.Waiting.Message != `configmap "settings" not found` {
		t.Fatalf("state = %+v, want CreateContainerConfigError configmap \"settings\" not found", cs.State)
	}
	if result.requeueAfter == 0 {
		t.Errorf("no requeue: the pod would never start once the ConfigMap appears")
	}
	if events := h.events(); !slices.Contains(events, `Warning Failed Error: configmap "settings" not found`) {
		t.Errorf("events %q lack the Failed event", events)
	}
	if _, err := h.client.CoreV1().ConfigMaps("default").Create(context.Background(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: "default"}, Data: map[string]string{"greeting": "hi"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	after, _ = h.sync(pod)
	if after.Status.ContainerStatuses[0].State.Running == nil {
		t.Fatalf("after the ConfigMap appeared: %+v, want running", after.Status.ContainerStatuses[0].State)
	}
}

func TestSyncPodDeletion(t *testing.T) {
	h := newSyncHarness(t)
	h.runtime.AddImage("localhost/app:1")
	pod := h.createPod(testPod("gone"))
	h.sync(pod)
	id := h.containerID("app")
	h.events()

	deleting, err := h.client.CoreV1().Pods("default").Get(context.Background(), "gone", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	deleting.DeletionTimestamp = &now
	deleting.DeletionGracePeriodSeconds = ptr.To(int64(7))
	if _, err := h.syncer.syncPod(context.Background(), deleting); err != nil {
		t.Fatalf("syncPod: %v", err)
	}
	if got := h.runtime.StopTimeout(id); got != 0 {
		t.Errorf("container %s still exists after deletion (stop timeout %d)", id, got)
	}
	if sandboxes, _ := h.runtime.ListPodSandbox(context.Background(), nil); len(sandboxes) != 0 {
		t.Errorf("%d sandboxes left, want 0", len(sandboxes))
	}
	stops := 0
	for _, c := range h.runtime.Calls() {
		if c == "StopContainer app" {
			stops++
		}
	}
	if stops != 1 {
		t.Errorf("StopContainer calls = %d, want 1", stops)
	}
	if _, err := h.client.CoreV1().Pods("default").Get(context.Background(), "gone", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("pod still in the API (err %v), want it deleted", err)
	}
	if events := h.events(); !slices.Contains(events, "Normal Killing Stopping container app") {
		t.Errorf("events %q lack the Killing event", events)
	}
}

func TestSyncPodDeletionHonoursGracePeriod(t *testing.T) {
	tests := []struct {
		name  string
		grace int64
		want  int64
	}{
		{name: "grace period as given", grace: 7, want: 7},
		{name: "zero raised to the minimum", grace: 0, want: minimumGracePeriod},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := &stopRecorder{Runtime: fakecri.New()}
			h := newSyncHarness(t)
			rt.Runtime = h.runtime
			h.syncer.runtime = rt
			h.runtime.AddImage("localhost/app:1")
			pod := h.createPod(testPod("g"))
			h.sync(pod)
			deleting := pod.DeepCopy()
			now := metav1.Now()
			deleting.DeletionTimestamp = &now
			deleting.DeletionGracePeriodSeconds = ptr.To(tt.grace)
			if _, err := h.syncer.syncPod(context.Background(), deleting); err != nil {
				t.Fatalf("syncPod: %v", err)
			}
			if !cmp.Equal(rt.timeouts, []int64{tt.want}) {
				t.Errorf("StopContainer timeouts = %v, want [%d]", rt.timeouts, tt.want)
			}
		})
	}
}

// stopRecorder records StopContainer timeouts.
type stopRecorder struct {
	*fakecri.Runtime
	timeouts []int64
}

func (s *stopRecorder) StopContainer(ctx context.Context, id string, timeout int64) error {
	s.timeouts = append(s.timeouts, timeout)
	return s.Runtime.StopContainer(ctx, id, timeout)
}

var _ cri.Runtime = (*stopRecorder)(nil)

func TestCleanupPodRemovesOrphans(t *testing.T) {
	h := newSyncHarness(t)
	h.runtime.AddImage("localhost/app:1")
	pod := h.createPod(testPod("orphan"))
	h.sync(pod)
	// The pod object disappears (deleted while the agent was down).
	if err := h.syncer.cleanupPod(context.Background(), pod.UID, 3); err != nil {
		t.Fatalf("cleanupPod: %v", err)
	}
	if sandboxes, _ := h.runtime.ListPodSandbox(context.Background(), nil); len(sandboxes) != 0 {
		t.Errorf("%d sandboxes left, want 0", len(sandboxes))
	}
	if containers, _ := h.runtime.ListContainers(context.Background(), nil); len(containers) != 0 {
		t.Errorf("%d containers left, want 0", len(containers))
	}
}
