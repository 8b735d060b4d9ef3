package deployment

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/controller"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func newDeployment(name string, replicas int32, maxSurge, maxUnavailable intstr.IntOrString) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Strategy: appsv1.DeploymentStrategy{
				Type:          appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &maxSurge, MaxUnavailable: &maxUnavailable},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx:1"}}},
			},
			RevisionHistoryLimit:    ptr.To[int32](10),
			ProgressDeadlineSeconds: ptr.To[int32](600),
		},
	}
}

func recreate(d *appsv1.Deployment) *appsv1.Deployment {
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	return d
}

func withImage(d *appsv1.Deployment, image string) *appsv1.Deployment {
	d.Spec.Template.Spec.Containers[0].Image = image
	return d
}

// newReplicaSet returns a ReplicaSet of d with d's current template, size
// replicas (all available) and revision rev, created rev minutes ago
// relative order.
func newReplicaSet(d *appsv1.Deployment, name string, size int32, rev int) *appsv1.ReplicaSet {
	hash := controller.ComputeHash(&d.Spec.Template, nil)
	template := *d.Spec.Template.DeepCopy()
	template.Labels = withLabel(template.Labels, appsv1.DefaultDeploymentUniqueLabelKey, hash)
	selector := d.Spec.Selector.DeepCopy()
	selector.MatchLabels = withLabel(selector.MatchLabels, appsv1.DefaultDeploymentUniqueLabelKey, hash)
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: d.Namespace, UID: types.UID("uid-" + name),
			Labels:            template.Labels,
			OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(d, controllerKind)},
			CreationTimestamp: metav1.NewTime(now.Add(time.Duration(rev-100) * time.Minute)),
			Annotations: map[string]string{
				RevisionAnnotation:        strconv.Itoa(rev),
				DesiredReplicasAnnotation: strconv.Itoa(int(replicas(d))),
				MaxReplicasAnnotation:     strconv.Itoa(int(replicas(d) + MaxSurge(d))),
			},
			Generation: 1,
		},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(size), Selector: selector, Template: template},
		Status: appsv1.ReplicaSetStatus{
			Replicas: size, ReadyReplicas: size, AvailableReplicas: size, ObservedGeneration: 1,
			TerminatingReplicas: ptr.To[int32](0),
		},
	}
}

type fixture struct {
	client     *fake.Clientset
	controller *Controller
	recorder   *record.FakeRecorder
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	dInf, rsInf, podInf := factory.Apps().V1().Deployments(), factory.Apps().V1().ReplicaSets(), factory.Core().V1().Pods()
	c := New(client, dInf, rsInf, podInf)
	t.Cleanup(c.stopRecorder)
	recorder := record.NewFakeRecorder(100)
	c.recorder = recorder
	c.now = func() time.Time { return now }
	for _, obj := range objs {
		var err error
		switch o := obj.(type) {
		case *appsv1.Deployment:
			err = dInf.Informer().GetIndexer().Add(o)
		case *appsv1.ReplicaSet:
			err = rsInf.Informer().GetIndexer().Add(o)
		case *corev1.Pod:
			err = podInf.Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	client.ClearActions()
	return &fixture{client: client, controller: c, recorder: recorder}
}

func (f *fixture) sync(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	if err := f.controller.sync(context.Background(), d.Namespace+"/"+d.Name); err != nil {
		t.Fatalf("sync: %v", err)
	}
}

func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// replicaSetSizes returns name=replicas of every stored ReplicaSet.
func (f *fixture) replicaSetSizes(t *testing.T) []string {
	t.Helper()
	list, err := f.client.AppsV1().ReplicaSets("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, rs := range list.Items {
		out = append(out, fmt.Sprintf("%s=%d", rs.Name, rsReplicas(&rs)))
	}
	sort.Strings(out)
	return out
}

func (f *fixture) storedDeployment(t *testing.T, d *appsv1.Deployment) *appsv1.Deployment {
	t.Helper()
	got, err := f.client.AppsV1().Deployments(d.Namespace).Get(context.Background(), d.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestSyncCreatesNewReplicaSet(t *testing.T) {
	d := newDeployment("web", 3, intstr.FromString("25%"), intstr.FromString("25%"))
	d.Annotations = map[string]string{"kubernetes.io/change-cause": "first"}
	f := newFixture(t, d)
	f.sync(t, d)

	hash := controller.ComputeHash(&d.Spec.Template, nil)
	rs, err := f.client.AppsV1().ReplicaSets("ns").Get(context.Background(), "web-"+hash, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("replica set web-%s not created: %v", hash, err)
	}
	if got := rsReplicas(rs); got != 3 {
		t.Errorf("replicas = %d, want 3", got)
	}
	wantLabels := map[string]string{"app": "web", appsv1.DefaultDeploymentUniqueLabelKey: hash}
	if diff := cmp.Diff(wantLabels, rs.Spec.Template.Labels); diff != "" {
		t.Errorf("template labels (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantLabels, rs.Spec.Selector.MatchLabels); diff != "" {
		t.Errorf("selector (-want +got):\n%s", diff)
	}
	wantAnno := map[string]string{
		RevisionAnnotation: "1", DesiredReplicasAnnotation: "3", MaxReplicasAnnotation: "4",
		"kubernetes.io/change-cause": "first",
	}
	if diff := cmp.Diff(wantAnno, rs.Annotations); diff != "" {
		t.Errorf("annotations (-want +got):\n%s", diff)
	}
	if ref := metav1.GetControllerOf(rs); ref == nil || ref.UID != d.UID {
		t.Errorf("controller ref = %+v, want the deployment", ref)
	}
	wantEvents := []string{fmt.Sprintf("Normal ScalingReplicaSet Scaled up replica set web-%s from 0 to 3", hash)}
	if diff := cmp.Diff(wantEvents, f.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	stored := f.storedDeployment(t, d)
	if got := stored.Annotations[RevisionAnnotation]; got != "1" {
		t.Errorf("deployment revision = %q, want 1", got)
	}
	cond := getCondition(&stored.Status, appsv1.DeploymentProgressing)
	if cond == nil || cond.Reason != NewReplicaSetReason || cond.Message != fmt.Sprintf("Created new replica set %q", "web-"+hash) {
		t.Errorf("Progressing = %+v, want %s", cond, NewReplicaSetReason)
	}
}

func TestRollingUpdateSteps(t *testing.T) {
	// 4 replicas, maxSurge 1, maxUnavailable 1: minimum 3 available,
	// at most 5 pods.
	d := withImage(newDeployment("web", 4, intstr.FromInt32(1), intstr.FromInt32(1)), "nginx:1")
	old := newReplicaSet(d, "web-old", 4, 1)
	d = withImage(d.DeepCopy(), "nginx:2")
	newRS := newReplicaSet(d, "web-new", 0, 2)
	tests := []struct {
		name      string
		oldSize   int32
		oldAvail  int32
		newSize   int32
		newAvail  int32
		wantSizes []string
	}{
		{name: "start: surge one new", oldSize: 4, oldAvail: 4, newSize: 0, wantSizes: []string{"web-new=1", "web-old=4"}},
		// 5 pods, 5 available: may drop 2 old ones.
		{name: "new ready: drop old to minimum", oldSize: 4, oldAvail: 4, newSize: 1, newAvail: 1, wantSizes: []string{"web-new=1", "web-old=2"}},
		// The new pod is not ready: only one old pod may go.
		{name: "new not ready: drop one old", oldSize: 4, oldAvail: 4, newSize: 1, newAvail: 0, wantSizes: []string{"web-new=1", "web-old=3"}},
		{name: "room again: grow new", oldSize: 2, oldAvail: 2, newSize: 1, newAvail: 1, wantSizes: []string{"web-new=3", "web-old=2"}},
		// Unavailable old pods go first and cost no availability.
		{name: "unhealthy old pods first", oldSize: 3, oldAvail: 1, newSize: 2, newAvail: 2, wantSizes: []string{"web-new=2", "web-old=1"}},
		{name: "done: old to zero", oldSize: 1, oldAvail: 1, newSize: 4, newAvail: 4, wantSizes: []string{"web-new=4", "web-old=0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, n := old.DeepCopy(), newRS.DeepCopy()
			o.Spec.Replicas, o.Status.Replicas, o.Status.AvailableReplicas, o.Status.ReadyReplicas = ptr.To(tc.oldSize), tc.oldSize, tc.oldAvail, tc.oldAvail
			n.Spec.Replicas, n.Status.Replicas, n.Status.AvailableReplicas, n.Status.ReadyReplicas = ptr.To(tc.newSize), tc.newSize, tc.newAvail, tc.newAvail
			f := newFixture(t, d, o, n)
			f.sync(t, d)
			if diff := cmp.Diff(tc.wantSizes, f.replicaSetSizes(t)); diff != "" {
				t.Errorf("sizes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRecreateSteps(t *testing.T) {
	d := recreate(withImage(newDeployment("web", 3, intstr.FromInt32(0), intstr.FromInt32(0)), "nginx:1"))
	old := newReplicaSet(d, "web-old", 3, 1)
	d = withImage(d.DeepCopy(), "nginx:2")
	hash := controller.ComputeHash(&d.Spec.Template, nil)
	oldPod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-old-1", Namespace: "ns", Labels: map[string]string{"app": "web"},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(old, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	scaledDown := old.DeepCopy()
	scaledDown.Spec.Replicas = ptr.To[int32](0)
	scaledDown.Status = appsv1.ReplicaSetStatus{ObservedGeneration: 1}
	tests := []struct {
		name      string
		objs      []runtime.Object
		wantSizes []string
	}{
		{name: "scale old down first", objs: []runtime.Object{d, old}, wantSizes: []string{"web-old=0"}},
		{name: "wait for old pods to go", objs: []runtime.Object{d, scaledDown, oldPod}, wantSizes: []string{"web-old=0"}},
		{name: "then create the new one at full size", objs: []runtime.Object{d, scaledDown}, wantSizes: []string{"web-" + hash + "=3", "web-old=0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.objs...)
			f.sync(t, d)
			if diff := cmp.Diff(tc.wantSizes, f.replicaSetSizes(t)); diff != "" {
				t.Errorf("sizes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProportionalScaling(t *testing.T) {
	// Mid-rollout at 10 replicas (maxSurge 3: 13 pods), scaled to 20.
	d := withImage(newDeployment("web", 10, intstr.FromInt32(3), intstr.FromInt32(2)), "nginx:1")
	old := newReplicaSet(d, "web-old", 8, 1)
	d = withImage(d.DeepCopy(), "nginx:2")
	newRS := newReplicaSet(d, "web-new", 5, 2)
	d.Spec.Replicas = ptr.To[int32](20)
	d.Generation = 2
	f := newFixture(t, d, old, newRS)
	f.sync(t, d)
	// Allowed 23 (20+3), have 13: +10 split 8:5 → +6 (old), +4 (new,
	// 3.85 rounded) = 10.
	want := []string{"web-new=9", "web-old=14"}
	if diff := cmp.Diff(want, f.replicaSetSizes(t)); diff != "" {
		t.Errorf("sizes (-want +got):\n%s", diff)
	}
	for _, e := range f.events() {
		if !strings.HasPrefix(e, "Normal ScalingReplicaSet Scaled up replica set web-") {
			t.Errorf("unexpected event %q", e)
		}
	}
}

func TestPausedDeploymentDoesNotRollOut(t *testing.T) {
	d := withImage(newDeployment("web", 2, intstr.FromInt32(1), intstr.FromInt32(1)), "nginx:1")
	old := newReplicaSet(d, "web-old", 2, 1)
	d = withImage(d.DeepCopy(), "nginx:2")
	d.Spec.Paused = true
	f := newFixture(t, d, old)
	f.sync(t, d)
	if diff := cmp.Diff([]string{"web-old=2"}, f.replicaSetSizes(t)); diff != "" {
		t.Errorf("sizes (-want +got):\n%s", diff)
	}
	cond := getCondition(&f.storedDeployment(t, d).Status, appsv1.DeploymentProgressing)
	if cond == nil || cond.Status != corev1.ConditionUnknown || cond.Reason != PausedDeployReason {
		t.Errorf("Progressing = %+v, want Unknown %s", cond, PausedDeployReason)
	}
}

func TestRollbackReusesOldReplicaSet(t *testing.T) {
	d := withImage(newDeployment("web", 2, intstr.FromInt32(1), intstr.FromInt32(1)), "nginx:2")
	current := newReplicaSet(d, "web-v2", 2, 2)
	d = withImage(d.DeepCopy(), "nginx:1")
	first := newReplicaSet(d, "web-v1", 0, 1)
	f := newFixture(t, d, first, current)
	f.sync(t, d)
	got, err := f.client.AppsV1().ReplicaSets("ns").Get(context.Background(), "web-v1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Annotations[RevisionAnnotation] != "3" || got.Annotations[RevisionHistoryAnnotation] != "1" {
		t.Errorf("annotations = %v, want revision 3, history 1", got.Annotations)
	}
	// The same sync starts rolling back: one surge pod.
	if diff := cmp.Diff([]string{"web-v1=1", "web-v2=2"}, f.replicaSetSizes(t)); diff != "" {
		t.Errorf("sizes (-want +got):\n%s", diff)
	}
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource == "replicasets" {
			t.Errorf("created a replica set on rollback: %v", a)
		}
	}
}

func TestCleanupKeepsRevisionHistoryLimit(t *testing.T) {
	d := newDeployment("web", 1, intstr.FromInt32(1), intstr.FromInt32(0))
	d.Spec.RevisionHistoryLimit = ptr.To[int32](1)
	var objs []runtime.Object
	for rev := 1; rev <= 3; rev++ {
		old := newReplicaSet(withImage(d.DeepCopy(), fmt.Sprintf("nginx:%d", rev)), fmt.Sprintf("web-v%d", rev), 0, rev)
		objs = append(objs, old)
	}
	// Revision 2 still has a pod: it must stay despite the limit.
	objs[1].(*appsv1.ReplicaSet).Status.Replicas = 1
	d = withImage(d, "nginx:4")
	current := newReplicaSet(d, "web-v4", 1, 4)
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1, ReadyReplicas: 1}
	f := newFixture(t, append(objs, d, current)...)
	f.sync(t, d)
	var deleted []string
	for _, a := range f.client.Actions() {
		if del, ok := a.(core.DeleteAction); ok && a.GetResource().Resource == "replicasets" {
			deleted = append(deleted, del.GetName())
		}
	}
	if diff := cmp.Diff([]string{"web-v1"}, deleted); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
}

func TestProgressConditions(t *testing.T) {
	d := newDeployment("web", 2, intstr.FromInt32(1), intstr.FromInt32(0))
	d.Spec.ProgressDeadlineSeconds = ptr.To[int32](60)
	rs := newReplicaSet(d, "web-v1", 2, 1)
	progressing := func(at time.Time, reason string) []appsv1.DeploymentCondition {
		return []appsv1.DeploymentCondition{newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reason, "x", at)}
	}
	tests := []struct {
		name       string
		available  int32
		prior      appsv1.DeploymentStatus
		wantStatus corev1.ConditionStatus
		wantReason string
	}{
		{
			name: "complete", available: 2,
			prior:      appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 1, Conditions: progressing(now, ReplicaSetUpdatedReason)},
			wantStatus: corev1.ConditionTrue, wantReason: NewRSAvailableReason,
		},
		{
			name: "progress", available: 1,
			prior:      appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 0, Conditions: progressing(now.Add(-time.Hour), NewReplicaSetReason)},
			wantStatus: corev1.ConditionTrue, wantReason: ReplicaSetUpdatedReason,
		},
		{
			name: "no progress past the deadline", available: 1,
			prior:      appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 1, ReadyReplicas: 1, Conditions: progressing(now.Add(-61*time.Second), ReplicaSetUpdatedReason)},
			wantStatus: corev1.ConditionFalse, wantReason: TimedOutReason,
		},
		{
			name: "no progress within the deadline", available: 1,
			prior:      appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 1, ReadyReplicas: 1, Conditions: progressing(now.Add(-59*time.Second), ReplicaSetUpdatedReason)},
			wantStatus: corev1.ConditionTrue, wantReason: ReplicaSetUpdatedReason,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dd, r := d.DeepCopy(), rs.DeepCopy()
			dd.Status = tc.prior
			dd.Status.ObservedGeneration = 1
			r.Status.AvailableReplicas, r.Status.ReadyReplicas = tc.available, tc.available
			f := newFixture(t, dd, r)
			f.sync(t, dd)
			cond := getCondition(&f.storedDeployment(t, dd).Status, appsv1.DeploymentProgressing)
			if cond == nil || cond.Status != tc.wantStatus || cond.Reason != tc.wantReason {
				t.Errorf("Progressing = %+v, want %s %s", cond, tc.wantStatus, tc.wantReason)
			}
		})
	}
}

func TestStatusCounts(t *testing.T) {
	d := withImage(newDeployment("web", 4, intstr.FromInt32(1), intstr.FromInt32(1)), "nginx:1")
	old := newReplicaSet(d, "web-old", 2, 1)
	old.Status.AvailableReplicas, old.Status.ReadyReplicas = 2, 2
	d = withImage(d.DeepCopy(), "nginx:2")
	newRS := newReplicaSet(d, "web-new", 3, 2)
	newRS.Status.AvailableReplicas, newRS.Status.ReadyReplicas = 1, 2
	newRS.Status.TerminatingReplicas = ptr.To[int32](1)
	f := newFixture(t, d, old, newRS)
	status := f.controller.calculateStatus(d, []*appsv1.ReplicaSet{old, newRS}, newRS)
	status.Conditions = nil
	want := appsv1.DeploymentStatus{
		ObservedGeneration: 1, Replicas: 5, UpdatedReplicas: 3, ReadyReplicas: 4,
		AvailableReplicas: 3, UnavailableReplicas: 2, TerminatingReplicas: ptr.To[int32](1),
	}
	if diff := cmp.Diff(want, status); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
}

func TestReplicaSetCreateFailures(t *testing.T) {
	d := newDeployment("web", 2, intstr.FromInt32(1), intstr.FromInt32(1))
	hash := controller.ComputeHash(&d.Spec.Template, nil)
	t.Run("create error sets the condition and warns", func(t *testing.T) {
		f := newFixture(t, d)
		f.client.PrependReactor("create", "replicasets", func(core.Action) (bool, runtime.Object, error) {
			return true, nil, fmt.Errorf("quota exceeded")
		})
		if err := f.controller.sync(context.Background(), "ns/web"); err == nil {
			t.Fatalf("sync succeeded, want the create error")
		}
		msg := fmt.Sprintf("Failed to create new replica set %q: quota exceeded", "web-"+hash)
		cond := getCondition(&f.storedDeployment(t, d).Status, appsv1.DeploymentProgressing)
		if cond == nil || cond.Status != corev1.ConditionFalse || cond.Reason != FailedRSCreateReason || cond.Message != msg {
			t.Errorf("Progressing = %+v, want False %s %q", cond, FailedRSCreateReason, msg)
		}
		if diff := cmp.Diff([]string{"Warning ReplicaSetCreateError " + msg}, f.events()); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
	t.Run("name taken by another template bumps collisionCount", func(t *testing.T) {
		// Same name, other template, not ours and not selected by us.
		squatter := newReplicaSet(withImage(d.DeepCopy(), "other"), "web-"+hash, 0, 1)
		squatter.OwnerReferences = nil
		squatter.Labels = map[string]string{"app": "elsewhere"}
		f := newFixture(t, d, squatter)
		if err := f.controller.sync(context.Background(), "ns/web"); err == nil {
			t.Fatalf("sync succeeded, want the collision error")
		}
		if got := ptr.Deref(f.storedDeployment(t, d).Status.CollisionCount, 0); got != 1 {
			t.Errorf("collisionCount = %d, want 1", got)
		}
		// The next sync uses the salted hash and gets its own name.
		f2 := newFixture(t, f.storedDeployment(t, d), squatter)
		f2.sync(t, d)
		salted := "web-" + controller.ComputeHash(&d.Spec.Template, ptr.To[int32](1))
		want := []string{salted + "=2", "web-" + hash + "=0"}
		sort.Strings(want)
		if diff := cmp.Diff(want, f2.replicaSetSizes(t)); diff != "" {
			t.Errorf("sizes (-want +got):\n%s", diff)
		}
	})
}
