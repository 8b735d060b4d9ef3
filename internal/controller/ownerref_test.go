package controller

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
)

var rsKind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")

func testOwner(deleting bool) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "owner-uid"}}
	if deleting {
		now := metav1.Now()
		rs.DeletionTimestamp = &now
	}
	return rs
}

func ownedBy(uid types.UID) podOpt {
	return func(p *corev1.Pod) {
		yes := true
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "x", UID: uid, Controller: &yes}}
	}
}

func labelled(app string) podOpt {
	return func(p *corev1.Pod) { p.Labels = map[string]string{"app": app} }
}

func TestClaimPods(t *testing.T) {
	tests := []struct {
		name          string
		ownerDeleting bool
		canAdoptErr   error
		pod           *corev1.Pod
		wantClaimed   bool
		wantOwner     types.UID // controller of the stored pod afterwards ("" none)
		wantErr       bool
	}{
		{name: "owned and matching", pod: newPod("p", labelled("web"), ownedBy("owner-uid")), wantClaimed: true, wantOwner: "owner-uid"},
		{name: "orphan matching is adopted", pod: newPod("p", labelled("web")), wantClaimed: true, wantOwner: "owner-uid"},
		{name: "orphan not matching is ignored", pod: newPod("p", labelled("db"))},
		{name: "owned not matching is released", pod: newPod("p", labelled("db"), ownedBy("owner-uid"))},
		{name: "owned by another is ignored", pod: newPod("p", labelled("web"), ownedBy("other")), wantOwner: "other"},
		{name: "deleting orphan is not adopted", pod: newPod("p", labelled("web"), deleting())},
		{name: "deleting owner adopts nothing", ownerDeleting: true, pod: newPod("p", labelled("web"))},
		{name: "deleting owner releases nothing", ownerDeleting: true, pod: newPod("p", labelled("db"), ownedBy("owner-uid")), wantOwner: "owner-uid"},
		{name: "stale owner cannot adopt", canAdoptErr: errors.New("gone"), pod: newPod("p", labelled("web")), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			client := fake.NewClientset(tc.pod)
			podControl := RealPodControl{Client: client, Recorder: record.NewFakeRecorder(10)}
			selector := labels.SelectorFromSet(labels.Set{"app": "web"})
			m := NewRefManager(testOwner(tc.ownerDeleting), rsKind, selector, func(context.Context) error { return tc.canAdoptErr })
			claimed, err := m.ClaimPods(ctx, []*corev1.Pod{tc.pod}, podControl)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ClaimPods error = %v, want error %v", err, tc.wantErr)
			}
			if got := len(claimed) == 1; got != tc.wantClaimed {
				t.Errorf("claimed = %v, want %v", got, tc.wantClaimed)
			}
			stored, err := client.CoreV1().Pods("ns").Get(ctx, "p", metav1.GetOptions{})
			if err != nil {
				t.Fatalf("get pod: %v", err)
			}
			var gotOwner types.UID
			if ref := metav1.GetControllerOf(stored); ref != nil {
				gotOwner = ref.UID
			}
			if gotOwner != tc.wantOwner {
				t.Errorf("stored pod controller = %q, want %q (refs %v)", gotOwner, tc.wantOwner, stored.OwnerReferences)
			}
		})
	}
}

func TestAdoptPatchSetsFullControllerRef(t *testing.T) {
	ctx := context.Background()
	pod := newPod("p", labelled("web"))
	client := fake.NewClientset(pod)
	data, err := AdoptPatch(testOwner(false), rsKind, pod.UID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Pods("ns").Patch(ctx, "p", types.StrategicMergePatchType, data, metav1.PatchOptions{}); err != nil {
		t.Fatalf("patch: %v", err)
	}
	stored, _ := client.CoreV1().Pods("ns").Get(ctx, "p", metav1.GetOptions{})
	yes := true
	want := []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: "owner-uid", Controller: &yes, BlockOwnerDeletion: &yes}}
	if diff := cmp.Diff(want, stored.OwnerReferences); diff != "" {
		t.Errorf("ownerReferences (-want +got):\n%s", diff)
	}
}

func TestClaimReplicaSets(t *testing.T) {
	ctx := context.Background()
	orphan := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "orphan", Namespace: "ns", UID: "rs1", Labels: map[string]string{"app": "web"}}}
	other := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "ns", UID: "rs2", Labels: map[string]string{"app": "db"}}}
	client := fake.NewClientset(orphan, other)
	deployment := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "d1"}}
	m := NewRefManager(deployment, appsv1.SchemeGroupVersion.WithKind("Deployment"), labels.SelectorFromSet(labels.Set{"app": "web"}), nil)
	claimed, err := m.ClaimReplicaSets(ctx, client, []*appsv1.ReplicaSet{orphan, other})
	if err != nil {
		t.Fatal(err)
	}
	if len(claimed) != 1 || claimed[0].Name != "orphan" {
		t.Fatalf("claimed %v, want [orphan]", claimed)
	}
	stored, _ := client.AppsV1().ReplicaSets("ns").Get(ctx, "orphan", metav1.GetOptions{})
	if ref := metav1.GetControllerOf(stored); ref == nil || ref.UID != "d1" || ref.Kind != "Deployment" {
		t.Errorf("orphan controller = %+v, want Deployment d1", ref)
	}
}

func TestRealPodControl(t *testing.T) {
	yes := true
	ref := &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: "owner-uid", Controller: &yes, BlockOwnerDeletion: &yes}
	template := &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"a": "b"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
	}
	tests := []struct {
		name       string
		do         func(ctx context.Context, pc RealPodControl) error
		wantErr    bool
		wantEvents []string
	}{
		{
			name: "create",
			do: func(ctx context.Context, pc RealPodControl) error {
				return pc.CreatePods(ctx, "ns", template, testOwner(false), ref)
			},
			wantEvents: []string{"Normal SuccessfulCreate Created pod: "},
		},
		{
			name: "create without labels",
			do: func(ctx context.Context, pc RealPodControl) error {
				return pc.CreatePods(ctx, "ns", &corev1.PodTemplateSpec{}, testOwner(false), ref)
			},
			wantErr: true,
		},
		{
			name: "create without controller ref",
			do: func(ctx context.Context, pc RealPodControl) error {
				return pc.CreatePods(ctx, "ns", template, testOwner(false), nil)
			},
			wantErr: true,
		},
		{
			name: "delete",
			do: func(ctx context.Context, pc RealPodControl) error {
				return pc.DeletePod(ctx, "ns", "existing", testOwner(false))
			},
			wantEvents: []string{"Normal SuccessfulDelete Deleted pod: existing"},
		},
		{
			name: "delete missing",
			do: func(ctx context.Context, pc RealPodControl) error {
				return pc.DeletePod(ctx, "ns", "missing", testOwner(false))
			},
			wantErr: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(newPod("existing"))
			recorder := record.NewFakeRecorder(10)
			err := tc.do(context.Background(), RealPodControl{Client: client, Recorder: recorder})
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			close(recorder.Events)
			var got []string
			for e := range recorder.Events {
				got = append(got, e)
			}
			if diff := cmp.Diff(tc.wantEvents, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRealPodControlCreator checks that a PodControl with a creator
// creates through it, not through its client, and records its events with
// the name the creator reports.
func TestRealPodControlCreator(t *testing.T) {
	yes := true
	ref := &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: "owner-uid", Controller: &yes, BlockOwnerDeletion: &yes}
	template := &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
	}
	for _, tc := range []struct {
		name      string
		createErr error
		wantEvent string
	}{
		{name: "created", wantEvent: "Normal SuccessfulCreate Created pod: web-abcde"},
		{name: "refused", createErr: apierrors.NewForbidden(corev1.Resource("pods"), "", errors.New("quota")),
			wantEvent: "Warning FailedCreate Error creating: pods is forbidden: quota"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset()
			recorder := record.NewFakeRecorder(10)
			var got []*corev1.Pod
			create := func(_ context.Context, namespace string, pod *corev1.Pod) (string, error) {
				if namespace != "ns" {
					t.Errorf("created in namespace %q, want ns", namespace)
				}
				got = append(got, pod)
				return "web-abcde", tc.createErr
			}
			err := RealPodControl{Client: client, Recorder: recorder, Create: create}.CreatePods(context.Background(), "ns", template, testOwner(false), ref)
			if (err != nil) != (tc.createErr != nil) {
				t.Fatalf("err = %v, want %v", err, tc.createErr)
			}
			if len(got) != 1 || got[0].GenerateName != "web-" || got[0].Labels["app"] != "web" || len(got[0].OwnerReferences) != 1 {
				t.Fatalf("the creator got %+v, want one pod from the template", got)
			}
			if actions := client.Actions(); len(actions) != 0 {
				t.Errorf("the client was used: %v", actions)
			}
			if e := <-recorder.Events; e != tc.wantEvent {
				t.Errorf("event %q, want %q", e, tc.wantEvent)
			}
		})
	}
}

func TestPodFromTemplate(t *testing.T) {
	yes := true
	ref := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: "owner-uid", Controller: &yes}
	template := &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}, Finalizers: []string{"f"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
	}
	var owner runtime.Object = testOwner(false)
	pod, err := PodFromTemplate(template, owner, &ref)
	if err != nil {
		t.Fatal(err)
	}
	want := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "web-", Labels: map[string]string{"app": "web"}, Finalizers: []string{"f"}, OwnerReferences: []metav1.OwnerReference{ref}},
		Spec:       template.Spec,
	}
	if diff := cmp.Diff(want, pod); diff != "" {
		t.Errorf("pod (-want +got):\n%s", diff)
	}
	pod.Labels["app"] = "changed"
	if template.Labels["app"] != "web" {
		t.Errorf("PodFromTemplate shares the template's labels map")
	}
}
