package replicaset

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/controller"
	"github.com/navarch/navarch/internal/controller/controllertest"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func newRS(name string, replicas int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Generation: 1},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name, "tier": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
			},
		},
	}
}

type podOpt func(*corev1.Pod)

// newPods returns n pods of rs named <rs>-<i>, controlled by rs.
func newPods(rs *appsv1.ReplicaSet, n int, opts ...podOpt) []*corev1.Pod {
	var pods []*corev1.Pod
	for i := 0; i < n; i++ {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name: fmt.Sprintf("%s-%d", rs.Name, i), Namespace: rs.Namespace,
				UID:               types.UID(fmt.Sprintf("%s-pod-%d", rs.Name, i)),
				Labels:            map[string]string{"app": rs.Name, "tier": "web"},
				OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(rs, controllerKind)},
				CreationTimestamp: metav1.NewTime(now.Add(-time.Hour)),
				ResourceVersion:   "1",
			},
			Status: corev1.PodStatus{Phase: corev1.PodPending},
		}
		for _, o := range opts {
			o(pod)
		}
		pods = append(pods, pod)
	}
	return pods
}

func orphan(p *corev1.Pod)   { p.OwnerReferences = nil }
func onNode(p *corev1.Pod)   { p.Spec.NodeName = "node-1" }
func deleting(p *corev1.Pod) { t := metav1.NewTime(now); p.DeletionTimestamp = &t }
func relabel(app string) podOpt {
	return func(p *corev1.Pod) { p.Labels = map[string]string{"app": app} }
}
func readyFor(d time.Duration) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-d))}}
	}
}

type fixture struct {
	client     *fake.Clientset
	controller *Controller
	podControl *controllertest.FakePodControl
}

// newFixture builds a controller on a fake clientset holding objs, with
// the informer indexers pre-filled (the informers never run).
func newFixture(t testing.TB, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	rsInformer, podInformer := factory.Apps().V1().ReplicaSets(), factory.Core().V1().Pods()
	c := New(client, rsInformer, podInformer)
	t.Cleanup(c.stopRecorder)
	podControl := &controllertest.FakePodControl{}
	c.podControl = podControl
	c.now = func() time.Time { return now }
	for _, obj := range objs {
		var err error
		switch o := obj.(type) {
		case *appsv1.ReplicaSet:
			err = rsInformer.Informer().GetIndexer().Add(o)
		case *corev1.Pod:
			err = podInformer.Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	client.ClearActions()
	return &fixture{client: client, controller: c, podControl: podControl}
}

func (f *fixture) sync(t *testing.T, rs *appsv1.ReplicaSet) error {
	t.Helper()
	return f.controller.sync(context.Background(), rs.Namespace+"/"+rs.Name)
}

func (f *fixture) storedStatus(t *testing.T, rs *appsv1.ReplicaSet) appsv1.ReplicaSetStatus {
	t.Helper()
	got, err := f.client.AppsV1().ReplicaSets(rs.Namespace).Get(context.Background(), rs.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get replica set: %v", err)
	}
	return got.Status
}

func objects(rs *appsv1.ReplicaSet, pods ...[]*corev1.Pod) []runtime.Object {
	objs := []runtime.Object{rs}
	for _, group := range pods {
		for _, p := range group {
			objs = append(objs, p)
		}
	}
	return objs
}

func TestSyncCreatesAndDeletes(t *testing.T) {
	rs := newRS("web", 3)
	big := newRS("big", 600)
	tests := []struct {
		name        string
		rs          *appsv1.ReplicaSet
		pods        [][]*corev1.Pod
		wantCreates int
		wantDeletes []string
		wantPatches []string
	}{
		{name: "creates missing pods", rs: rs, wantCreates: 3},
		{name: "in sync does nothing", rs: rs, pods: [][]*corev1.Pod{newPods(rs, 3)}},
		{name: "burst caps creates at 500", rs: big, wantCreates: 500},
		{
			name:        "terminating pods do not count",
			rs:          rs,
			pods:        [][]*corev1.Pod{newPods(rs, 3, deleting)[:1], newPods(rs, 3)[1:]},
			wantCreates: 1,
		},
		{
			name:        "finished pods do not count",
			rs:          rs,
			pods:        [][]*corev1.Pod{newPods(rs, 1, func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded })},
			wantCreates: 3,
		},
		{
			// Pods 0..4; 3 and 4 are unscheduled so go first.
			name:        "deletes surplus, unscheduled first",
			rs:          rs,
			pods:        [][]*corev1.Pod{newPods(rs, 3, onNode, readyFor(time.Hour)), newPods(rs, 5)[3:]},
			wantDeletes: []string{"ns/web-3", "ns/web-4"},
		},
		{
			name:        "adopts matching orphan",
			rs:          rs,
			pods:        [][]*corev1.Pod{newPods(rs, 3, orphan)},
			wantPatches: []string{"ns/web-0", "ns/web-1", "ns/web-2"},
		},
		{
			name:        "releases pod no longer matching and replaces it",
			rs:          rs,
			pods:        [][]*corev1.Pod{newPods(rs, 2), newPods(rs, 3, relabel("other"))[2:]},
			wantCreates: 1,
			wantPatches: []string{"ns/web-2"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, objects(tc.rs, tc.pods...)...)
			if err := f.sync(t, tc.rs); err != nil {
				t.Fatalf("sync: %v", err)
			}
			if got := len(f.podControl.Templates); got != tc.wantCreates {
				t.Errorf("creates = %d, want %d", got, tc.wantCreates)
			}
			for i, ref := range f.podControl.ControllerRefs {
				if ref.UID != tc.rs.UID || !ptr.Deref(ref.Controller, false) {
					t.Errorf("create %d: controller ref %+v, want controller %s", i, ref, tc.rs.UID)
				}
			}
			gotDeletes := append([]string(nil), f.podControl.DeletePodNames...)
			sort.Strings(gotDeletes)
			if diff := cmp.Diff(tc.wantDeletes, gotDeletes); diff != "" {
				t.Errorf("deletes (-want +got):\n%s", diff)
			}
			gotPatches := append([]string(nil), f.podControl.PatchedPodNames...)
			sort.Strings(gotPatches)
			if diff := cmp.Diff(tc.wantPatches, gotPatches); diff != "" {
				t.Errorf("patches (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSyncWaitsForExpectations(t *testing.T) {
	rs := newRS("web", 3)
	f := newFixture(t, rs)
	if err := f.sync(t, rs); err != nil {
		t.Fatal(err)
	}
	// The informer has not seen the 3 pods: a second sync must not
	// create them again.
	if err := f.sync(t, rs); err != nil {
		t.Fatal(err)
	}
	if got := len(f.podControl.Templates); got != 3 {
		t.Fatalf("creates after two syncs = %d, want 3", got)
	}
	for i := 0; i < 3; i++ {
		f.controller.expectations.CreationObserved("ns/web")
	}
	if !f.controller.expectations.SatisfiedExpectations("ns/web") {
		t.Errorf("expectations not satisfied after observing every create")
	}
}

func TestSlowStartStopsAtFirstFailure(t *testing.T) {
	rs := newRS("web", 10)
	f := newFixture(t, rs)
	f.podControl.CreateLimit = 2
	err := f.sync(t, rs)
	if err == nil {
		t.Fatalf("sync succeeded, want the create error")
	}
	// Batches 1 and 2: creates 1, 2 succeed, 3 fails; no batch of 4.
	if got := f.podControl.CreateCalls; got != 3 {
		t.Errorf("create calls = %d, want 3", got)
	}
	adds, _, _ := f.controller.expectations.GetExpectations("ns/web")
	if adds != 2 {
		t.Errorf("expected creations = %d, want 2 (the successful ones)", adds)
	}
}

func TestStatus(t *testing.T) {
	rs := newRS("web", 4)
	rs.Spec.MinReadySeconds = 30
	pods := [][]*corev1.Pod{
		newPods(rs, 1, readyFor(time.Minute)),        // available
		newPods(rs, 2, readyFor(10*time.Second))[1:], // ready, not yet available
		newPods(rs, 3, relabel("web"))[2:],           // not fully labelled (no tier)
		newPods(rs, 4)[3:],                           // pending
		newPods(rs, 5, deleting)[4:],                 // terminating
	}
	// relabel drops "tier" but keeps the selector's "app".
	f := newFixture(t, objects(rs, pods...)...)
	if err := f.sync(t, rs); err != nil {
		t.Fatal(err)
	}
	want := appsv1.ReplicaSetStatus{
		Replicas:             4,
		FullyLabeledReplicas: 3,
		ReadyReplicas:        2,
		AvailableReplicas:    1,
		TerminatingReplicas:  ptr.To[int32](1),
		ObservedGeneration:   1,
	}
	if diff := cmp.Diff(want, f.storedStatus(t, rs)); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	if got := len(f.podControl.Templates); got != 0 {
		t.Errorf("creates = %d, want 0", got)
	}
}

func TestReplicaFailureCondition(t *testing.T) {
	rs := newRS("web", 2)
	f := newFixture(t, rs)
	f.podControl.Err = errors.New("pods \"web-x\" is forbidden: exceeded quota")
	if err := f.sync(t, rs); err == nil {
		t.Fatalf("sync succeeded, want the create error")
	}
	status := f.storedStatus(t, rs)
	if len(status.Conditions) != 1 {
		t.Fatalf("conditions = %+v, want one ReplicaFailure", status.Conditions)
	}
	cond := status.Conditions[0]
	if cond.Type != appsv1.ReplicaSetReplicaFailure || cond.Status != corev1.ConditionTrue || cond.Reason != "FailedCreate" {
		t.Errorf("condition = %+v, want ReplicaFailure True FailedCreate", cond)
	}
	if cond.Message != f.podControl.Err.Error() {
		t.Errorf("condition message = %q, want %q", cond.Message, f.podControl.Err.Error())
	}

	// Once creates work again the condition goes away.
	stored, _ := f.client.AppsV1().ReplicaSets("ns").Get(context.Background(), "web", metav1.GetOptions{})
	f2 := newFixture(t, stored)
	if err := f2.sync(t, stored); err != nil {
		t.Fatal(err)
	}
	if got := f2.storedStatus(t, rs).Conditions; len(got) != 0 {
		t.Errorf("conditions after success = %+v, want none", got)
	}
}

func TestDeletedReplicaSetForgetsExpectations(t *testing.T) {
	rs := newRS("web", 1)
	f := newFixture(t)
	f.controller.expectations.ExpectCreations("ns/web", 1)
	if err := f.sync(t, rs); err != nil {
		t.Fatal(err)
	}
	if _, _, exists := f.controller.expectations.GetExpectations("ns/web"); exists {
		t.Errorf("expectations kept for a deleted replica set")
	}
}

func TestPodEventsDriveExpectations(t *testing.T) {
	rs := newRS("web", 2)
	f := newFixture(t, rs)
	key := "ns/web"
	pods := newPods(rs, 2)
	f.controller.expectations.ExpectCreations(key, 1)
	f.controller.addPod(pods[0])
	if !f.controller.expectations.SatisfiedExpectations(key) {
		t.Errorf("addPod did not count the creation")
	}
	f.controller.expectations.ExpectDeletions(key, []string{controller.PodKey(pods[1])})
	gone := pods[1].DeepCopy()
	deleting(gone)
	gone.ResourceVersion = "2"
	f.controller.updatePod(pods[1], gone)
	if !f.controller.expectations.SatisfiedExpectations(key) {
		t.Errorf("a deletionTimestamp update did not count the deletion")
	}
	if got := f.controller.queue.Len(); got != 1 {
		t.Errorf("queue length = %d, want 1 (the replica set, once)", got)
	}
}
