package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
)

// testScheduler is a Scheduler on a fake clientset whose informer caches
// and handlers were fed the given objects directly.
type testScheduler struct {
	*Scheduler
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	recorder *record.FakeRecorder
}

func newTestScheduler(t *testing.T, objs ...runtime.Object) *testScheduler {
	t.Helper()
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	s := New(client, factory)
	recorder := record.NewFakeRecorder(100)
	s.recorder = recorder
	for _, obj := range objs {
		var err error
		switch o := obj.(type) {
		case *corev1.Node:
			err = factory.Core().V1().Nodes().Informer().GetIndexer().Add(o)
			s.addNode(o)
		case *corev1.Pod:
			err = factory.Core().V1().Pods().Informer().GetIndexer().Add(o)
			s.addPod(o)
		case *corev1.PersistentVolumeClaim:
			err = factory.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Add(o)
		case *corev1.PersistentVolume:
			err = factory.Core().V1().PersistentVolumes().Informer().GetIndexer().Add(o)
		case *storagev1.StorageClass:
			err = factory.Storage().V1().StorageClasses().Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatalf("filling the informer cache: %v", err)
		}
	}
	client.ClearActions()
	return &testScheduler{Scheduler: s, client: client, factory: factory, recorder: recorder}
}

// runOnce pops one pod, decides and waits for its binding.
func (s *testScheduler) runOnce(t *testing.T) {
	t.Helper()
	if a, _, _ := s.queue.Len(); a == 0 {
		t.Fatalf("no active pod to schedule")
	}
	p, cycle, _ := s.queue.Pop()
	s.scheduleOne(t.Context(), p, cycle)
	s.bindWG.Wait()
}

// actions renders the client's write actions as "verb resource/sub name".
func (s *testScheduler) actions() []string {
	var out []string
	for _, a := range s.client.Actions() {
		if a.GetVerb() == "list" || a.GetVerb() == "watch" || a.GetVerb() == "get" {
			continue
		}
		r := a.GetResource().Resource
		if sub := a.GetSubresource(); sub != "" {
			r += "/" + sub
		}
		name := ""
		switch act := a.(type) {
		case clienttesting.CreateAction:
			if b, ok := act.GetObject().(*corev1.Binding); ok {
				name = b.Name + " -> " + b.Target.Name
			}
		case clienttesting.PatchAction:
			name = act.GetName()
		}
		out = append(out, a.GetVerb()+" "+r+" "+name)
	}
	return out
}

func (s *testScheduler) events() []string {
	var out []string
	for {
		select {
		case e := <-s.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func TestScheduleOneBinds(t *testing.T) {
	s := newTestScheduler(t, makeNode("a"), makePod("p"))
	s.runOnce(t)
	if diff := cmp.Diff([]string{"create pods/binding p -> a"}, s.actions()); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Normal Scheduled Successfully assigned default/p to a"}, s.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if got := lens(s.queue); got != (queueLens{}) {
		t.Errorf("queue: got %+v, want empty", got)
	}
	if got := snapshotCPU(s.cache.Snapshot())["a"][1]; got != 1 {
		t.Errorf("pods counted on a: got %d, want 1 (assumed)", got)
	}
}

// TestScheduleOneBindsWithBinder checks that a scheduler given a binder
// writes its bindings there, not through its client, and treats the
// binder's Conflict as a pod bound meanwhile.
func TestScheduleOneBindsWithBinder(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		wantEvents []string
	}{
		{name: "bound", wantEvents: []string{"Normal Scheduled Successfully assigned default/p to a"}},
		{name: "bound meanwhile", err: apierrors.NewConflict(corev1.Resource("pods"), "p", errors.New("already assigned"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestScheduler(t, makeNode("a"), makePod("p"))
			var got []string
			s.BindWith(func(_ context.Context, namespace string, b *corev1.Binding) error {
				got = append(got, namespace+"/"+b.Name+" -> "+b.Target.Name)
				return tc.err
			})
			s.runOnce(t)
			if diff := cmp.Diff([]string{"default/p -> a"}, got); diff != "" {
				t.Errorf("bindings (-want +got):\n%s", diff)
			}
			if actions := s.actions(); len(actions) != 0 {
				t.Errorf("the client wrote %v", actions)
			}
			if diff := cmp.Diff(tc.wantEvents, s.events()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScheduleOneUnschedulable(t *testing.T) {
	pod := makePod("p")
	s := newTestScheduler(t, makeNode("a", withTaint("k", "v", corev1.TaintEffectNoSchedule)), pod)
	s.runOnce(t)
	msg := "0/1 nodes are available: 1 node(s) had untolerated taint {k: v}. " +
		"preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
	if diff := cmp.Diff([]string{"Warning FailedScheduling " + msg}, s.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"patch pods/status p"}, s.actions()); diff != "" {
		t.Fatalf("actions (-want +got):\n%s", diff)
	}
	patch := s.client.Actions()[len(s.client.Actions())-1].(clienttesting.PatchAction).GetPatch()
	var body struct {
		Status struct {
			Conditions []corev1.PodCondition `json:"conditions"`
		} `json:"status"`
	}
	if err := json.Unmarshal(patch, &body); err != nil {
		t.Fatalf("patch %s: %v", patch, err)
	}
	if len(body.Status.Conditions) != 1 {
		t.Fatalf("patch %s: want one condition", patch)
	}
	c := body.Status.Conditions[0]
	if c.Type != corev1.PodScheduled || c.Status != corev1.ConditionFalse || c.Reason != "Unschedulable" || c.Message != msg {
		t.Errorf("condition: got %+v, want PodScheduled False Unschedulable %q", c, msg)
	}
	if got, want := lens(s.queue), (queueLens{0, 0, 1}); got != want {
		t.Fatalf("queue after failure: got %+v, want %+v", got, want)
	}
	// A node that tolerates the pod arrives: the pod is tried again.
	s.addNode(makeNode("b"))
	if got, want := lens(s.queue), (queueLens{0, 1, 0}); got != want {
		t.Errorf("queue after a node came: got %+v, want %+v", got, want)
	}
}

func TestScheduleOneSelectsNodeForWaitingClaims(t *testing.T) {
	class := makeClass("local-path", "navarch.io/local-path", storagev1.VolumeBindingWaitForFirstConsumer)
	s := newTestScheduler(t, makeNode("a"), class, makeClaim("data", "local-path", ""), makePod("p", claimVolume("data")))
	s.runOnce(t)
	if diff := cmp.Diff([]string{"patch persistentvolumeclaims data"}, s.actions()); diff != "" {
		t.Fatalf("actions (-want +got):\n%s", diff)
	}
	patch := string(s.client.Actions()[len(s.client.Actions())-1].(clienttesting.PatchAction).GetPatch())
	if want := `{"metadata":{"annotations":{"volume.kubernetes.io/selected-node":"a"}}}`; patch != want {
		t.Errorf("patch: got %s, want %s", patch, want)
	}
	if got, want := lens(s.queue), (queueLens{0, 0, 1}); got != want {
		t.Errorf("queue: got %+v, want %+v (waiting for the claim)", got, want)
	}
	s.queue.OnEvent(clusterEvent{name: "PersistentVolumeClaim", plugins: sets.New(nameVolumeBinding)})
	if got, want := lens(s.queue), (queueLens{0, 1, 0}); got != want {
		t.Errorf("queue after a claim update: got %+v, want %+v", got, want)
	}
}

func TestScheduleOneBindingRefused(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantQueue  queueLens
		wantEvents []string
	}{
		{
			name:      "bound elsewhere meanwhile",
			err:       apierrors.NewConflict(schema.GroupResource{Resource: "pods"}, "p", nil),
			wantQueue: queueLens{},
		},
		{
			name:       "server error: back off and retry",
			err:        apierrors.NewInternalError(errString("etcd is down")),
			wantQueue:  queueLens{0, 1, 0},
			wantEvents: []string{"Warning FailedScheduling Binding rejected: Internal error occurred: etcd is down"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := makePod("p")
			s := newTestScheduler(t, makeNode("a"), pod)
			s.client.PrependReactor("create", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
				return a.GetSubresource() == "binding", nil, tc.err
			})
			s.runOnce(t)
			if diff := cmp.Diff(tc.wantEvents, s.events()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if got := lens(s.queue); got != tc.wantQueue {
				t.Errorf("queue: got %+v, want %+v", got, tc.wantQueue)
			}
			if s.cache.IsAssumed(pod) {
				t.Errorf("pod still assumed after a refused binding")
			}
		})
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestScheduleOneSkipsPodsBoundMeanwhile(t *testing.T) {
	pod := makePod("p")
	s := newTestScheduler(t, makeNode("a"), pod)
	bound := pod.DeepCopy()
	bound.Spec.NodeName = "a"
	// The lister already knows; the handler has not run yet.
	if err := s.factory.Core().V1().Pods().Informer().GetIndexer().Update(bound); err != nil {
		t.Fatalf("updating the informer cache: %v", err)
	}
	s.runOnce(t)
	if got := s.actions(); len(got) != 0 {
		t.Errorf("actions: got %v, want none", got)
	}
}

// TestHandlersTrackBoundPods checks what the pod handlers do to the cache
// and the queue.
func TestHandlersTrackBoundPods(t *testing.T) {
	running := makePod("p", onNode("a"), requests("1", ""))
	running.Status.Phase = corev1.PodRunning
	done := running.DeepCopy()
	done.Status.Phase = corev1.PodSucceeded
	relabelled := running.DeepCopy()
	relabelled.Labels = map[string]string{"x": "y"}
	statusOnly := running.DeepCopy()
	statusOnly.Status.PodIP = "10.0.0.1"
	other := makePod("other-scheduler", func(p *corev1.Pod) { p.Spec.SchedulerName = "custom" })
	gated := makePod("gated", func(p *corev1.Pod) {
		p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "wait"}}
	})

	tests := []struct {
		name      string
		run       func(s *Scheduler)
		wantCPU   int64
		wantQueue queueLens
	}{
		{name: "bound pod counted", run: func(s *Scheduler) { s.addPod(running) }, wantCPU: 1000},
		{name: "finished pod frees its node", run: func(s *Scheduler) { s.addPod(running); s.updatePod(running, done) }, wantCPU: 0},
		{name: "finished pod added is not counted", run: func(s *Scheduler) { s.addPod(done) }, wantCPU: 0},
		{name: "deleted pod frees its node", run: func(s *Scheduler) { s.addPod(running); s.deletePod(running) }, wantCPU: 0},
		{name: "status and label updates keep it counted", run: func(s *Scheduler) {
			s.addPod(running)
			s.updatePod(running, statusOnly)
			s.updatePod(statusOnly, relabelled)
		}, wantCPU: 1000},
		{name: "pods of other schedulers and gated pods wait elsewhere", run: func(s *Scheduler) {
			s.addPod(other)
			s.addPod(gated)
		}, wantQueue: queueLens{}},
		{name: "a pending pod bound by someone else leaves the queue", run: func(s *Scheduler) {
			pending := makePod("q", requests("500m", ""))
			s.addPod(pending)
			bound := pending.DeepCopy()
			bound.Spec.NodeName = "a"
			s.updatePod(pending, bound)
		}, wantCPU: 500},
		{name: "a pending pod being deleted leaves the queue", run: func(s *Scheduler) {
			pending := makePod("q")
			s.addPod(pending)
			deleting := pending.DeepCopy()
			deleting.DeletionTimestamp = &deleting.CreationTimestamp
			s.updatePod(pending, deleting)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestScheduler(t, makeNode("a"))
			tc.run(s.Scheduler)
			if got := snapshotCPU(s.cache.Snapshot())["a"][0]; got != tc.wantCPU {
				t.Errorf("cpu requested on a: got %d, want %d", got, tc.wantCPU)
			}
			if got := lens(s.queue); got != tc.wantQueue {
				t.Errorf("queue: got %+v, want %+v", got, tc.wantQueue)
			}
		})
	}
}

func TestNodeUpdateEvent(t *testing.T) {
	base := makeNode("a")
	tests := []struct {
		name   string
		change func(n *corev1.Node)
		want   []string
	}{
		{name: "heartbeat only", change: func(n *corev1.Node) { n.Status.Conditions[0].Message = "still here" }, want: nil},
		{name: "became not ready", change: func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }, want: []string{nameTaintToleration}},
		{name: "cordoned", change: cordoned, want: []string{nameNodeUnschedulable}},
		{name: "bigger", change: withAllocatable("8", "8Gi", "110"), want: []string{nameNodeResourcesFit}},
		{name: "labelled", change: withNodeLabel("disk", "ssd"), want: []string{nameInterPodAffinity, nameNodeAffinity, nameTaintToleration, nameVolumeBinding}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := base.DeepCopy()
			tc.change(n)
			got := sortedKeys(nodeUpdateEvent(base, n).plugins)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("plugins (-want +got):\n%s", diff)
			}
		})
	}
}

func sortedKeys(s sets.Set[string]) []string {
	var out []string
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// runScheduler starts s.Start on a goroutine; stop cancels it and fails the
// test unless Start returns, without error, within 10 s.
func runScheduler(t *testing.T, s *Scheduler) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	return func() {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Start: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Start did not return after its context ended")
		}
	}
}

// TestStartAgain runs the scheduler with informers on a fake clientset,
// stops it, and starts it again (as after regaining leadership): it must
// still bind new pods.
func TestStartAgain(t *testing.T) {
	client := fake.NewClientset(makeNode("a"))
	factory := informers.NewSharedInformerFactory(client, 0)
	s := New(client, factory)
	s.recorder = record.NewFakeRecorder(100)
	factory.Start(t.Context().Done())
	bound := func(name string) func() (bool, error) {
		return func() (bool, error) {
			for _, a := range client.Actions() {
				if c, ok := a.(clienttesting.CreateAction); ok && a.GetSubresource() == "binding" {
					if b, ok := c.GetObject().(*corev1.Binding); ok && b.Name == name {
						return true, nil
					}
				}
			}
			return false, nil
		}
	}
	stop := runScheduler(t, s)
	if _, err := client.CoreV1().Pods("default").Create(t.Context(), makePod("first"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating pod: %v", err)
	}
	waitUntil(t, "first bound", bound("first"))
	stop()
	stop = runScheduler(t, s)
	defer stop()
	if _, err := client.CoreV1().Pods("default").Create(t.Context(), makePod("second"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating pod: %v", err)
	}
	waitUntil(t, "second bound after a restart", bound("second"))
}

// waitUntil polls cond every 10ms for up to 10s.
func waitUntil(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
