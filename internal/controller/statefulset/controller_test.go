package statefulset

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

type harness struct {
	c        *Controller
	client   *fake.Clientset
	recorder *record.FakeRecorder
}

func newHarness(t *testing.T, objs ...runtime.Object) *harness {
	t.Helper()
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	pods := factory.Core().V1().Pods()
	sets := factory.Apps().V1().StatefulSets()
	claims := factory.Core().V1().PersistentVolumeClaims()
	revisions := factory.Apps().V1().ControllerRevisions()
	c := New(client, pods, sets, claims, revisions)
	for _, obj := range objs {
		var err error
		switch o := obj.(type) {
		case *corev1.Pod:
			err = pods.Informer().GetIndexer().Add(o)
		case *appsv1.StatefulSet:
			err = sets.Informer().GetIndexer().Add(o)
		case *corev1.PersistentVolumeClaim:
			err = claims.Informer().GetIndexer().Add(o)
		case *appsv1.ControllerRevision:
			err = revisions.Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	h := &harness{c: c, client: client, recorder: record.NewFakeRecorder(100)}
	c.recorder = h.recorder
	return h
}

func (h *harness) sync(t *testing.T) *appsv1.StatefulSet {
	t.Helper()
	if err := h.c.sync(t.Context(), "default/web"); err != nil {
		t.Fatalf("sync: %v", err)
	}
	set, err := h.client.AppsV1().StatefulSets("default").Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get set: %v", err)
	}
	return set
}

func (h *harness) podNames(t *testing.T) []string {
	t.Helper()
	list, err := h.client.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range list.Items {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	return names
}

func (h *harness) events() []string {
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

type setOpt func(*appsv1.StatefulSet)

func newSet(replicas int32, opts ...setOpt) *appsv1.StatefulSet {
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "set-uid", Generation: 1},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(replicas),
			ServiceName:         "nginx",
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](0)}},
			RevisionHistoryLimit: ptr.To[int32](10),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx", Image: "nginx:1"}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
	for _, o := range opts {
		o(set)
	}
	return set
}

func image(img string) setOpt {
	return func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = img }
}

// revisionOf is the stored revision of set's template.
func revisionOf(t *testing.T, set *appsv1.StatefulSet, number int64) *appsv1.ControllerRevision {
	t.Helper()
	data, err := revisionData(&set.Spec.Template)
	if err != nil {
		t.Fatal(err)
	}
	hash := hashRevision(data, ptr.To[int32](0))
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Name: revisionName(set.Name, hash), Namespace: set.Namespace,
			Labels:          map[string]string{"app": "web", appsv1.ControllerRevisionHashLabelKey: hash},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)}},
		Data:     runtime.RawExtension{Raw: data},
		Revision: number,
	}
}

type podOpt func(*corev1.Pod)

// podOf is the pod of ordinal as set (at revision rev) makes it, in
// phase.
func podOf(t *testing.T, set *appsv1.StatefulSet, rev *appsv1.ControllerRevision, ordinal int, phase corev1.PodPhase, opts ...podOpt) *corev1.Pod {
	t.Helper()
	pod, err := newPod(set, &set.Spec.Template, rev.Name, ordinal)
	if err != nil {
		t.Fatal(err)
	}
	pod.UID = types.UID(fmt.Sprintf("uid-%s", pod.Name))
	pod.Status.Phase = phase
	for _, o := range opts {
		o(pod)
	}
	return pod
}

func readyPod(p *corev1.Pod) {
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
}

func TestFirstSyncCreatesOnePodWithIdentityAndStorage(t *testing.T) {
	set := newSet(3)
	h := newHarness(t, set)
	got := h.sync(t)
	if diff := cmp.Diff([]string{"web-0"}, h.podNames(t)); diff != "" {
		t.Fatalf("pods (-want +got):\n%s", diff)
	}
	pod, err := h.client.CoreV1().Pods("default").Get(t.Context(), "web-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rev := revisionOf(t, set, 1)
	wantLabels := map[string]string{"app": "web", appsv1.StatefulSetPodNameLabel: "web-0", appsv1.PodIndexLabel: "0",
		appsv1.StatefulSetRevisionLabel: rev.Name}
	if diff := cmp.Diff(wantLabels, pod.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if pod.Spec.Hostname != "web-0" || pod.Spec.Subdomain != "nginx" {
		t.Errorf("hostname %q subdomain %q, want web-0 nginx", pod.Spec.Hostname, pod.Spec.Subdomain)
	}
	if len(pod.Spec.Volumes) != 1 || pod.Spec.Volumes[0].PersistentVolumeClaim == nil || pod.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "data-web-0" {
		t.Errorf("volumes = %+v, want data from claim data-web-0", pod.Spec.Volumes)
	}
	if !metav1.IsControlledBy(pod, set) {
		t.Errorf("pod not controlled by the set: %+v", pod.OwnerReferences)
	}
	claim, err := h.client.CoreV1().PersistentVolumeClaims("default").Get(t.Context(), "data-web-0", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	if claim.Labels["app"] != "web" || len(claim.OwnerReferences) != 0 {
		t.Errorf("claim labels %v owners %v, want the selector labels and no owner (Retain)", claim.Labels, claim.OwnerReferences)
	}
	stored, err := h.client.AppsV1().ControllerRevisions("default").Get(t.Context(), rev.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("revision %s: %v", rev.Name, err)
	}
	if stored.Revision != 1 || !strings.Contains(string(stored.Data.Raw), `"$patch":"replace"`) {
		t.Errorf("revision %d data %s", stored.Revision, stored.Data.Raw)
	}
	if got.Status.UpdateRevision != rev.Name || got.Status.CurrentRevision != rev.Name || got.Status.Replicas != 1 || got.Status.ObservedGeneration != 1 {
		t.Errorf("status = %+v", got.Status)
	}
	events := h.events()
	for _, want := range []string{"Normal SuccessfulCreate create Claim data-web-0 Pod web-0 in StatefulSet web success",
		"Normal SuccessfulCreate create Pod web-0 in StatefulSet web successful"} {
		found := false
		for _, e := range events {
			found = found || e == want
		}
		if !found {
			t.Errorf("events = %q, want %q", events, want)
		}
	}
}

func TestScaling(t *testing.T) {
	set := newSet(3)
	rev := revisionOf(t, set, 1)
	parallel := func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }
	tests := []struct {
		name     string
		set      *appsv1.StatefulSet
		pods     func(set *appsv1.StatefulSet) []*corev1.Pod
		wantPods []string
	}{
		{
			name: "ordered: next pod once the previous is ready", set: newSet(3),
			pods:     func(s *appsv1.StatefulSet) []*corev1.Pod { return []*corev1.Pod{podOf(t, s, rev, 0, "", readyPod)} },
			wantPods: []string{"web-0", "web-1"},
		},
		{
			name: "ordered: waits for a pending pod", set: newSet(3),
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{podOf(t, s, rev, 0, corev1.PodPending)}
			},
			wantPods: []string{"web-0"},
		},
		{
			name: "parallel: all at once", set: newSet(3, parallel),
			pods:     func(*appsv1.StatefulSet) []*corev1.Pod { return nil },
			wantPods: []string{"web-0", "web-1", "web-2"},
		},
		{
			name: "ordered: scale down removes the highest ordinal first", set: newSet(1),
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{podOf(t, s, rev, 0, "", readyPod), podOf(t, s, rev, 1, "", readyPod), podOf(t, s, rev, 2, "", readyPod)}
			},
			wantPods: []string{"web-0", "web-1"},
		},
		{
			name: "ordered: no scale down while another pod is unhealthy", set: newSet(1),
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{podOf(t, s, rev, 0, "", readyPod), podOf(t, s, rev, 1, corev1.PodPending), podOf(t, s, rev, 2, "", readyPod)}
			},
			wantPods: []string{"web-0", "web-1", "web-2"},
		},
		{
			name: "parallel: scale down removes all surplus", set: newSet(1, parallel),
			pods: func(s *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{podOf(t, s, rev, 0, "", readyPod), podOf(t, s, rev, 1, corev1.PodPending), podOf(t, s, rev, 2, "", readyPod)}
			},
			wantPods: []string{"web-0"},
		},
		{
			name: "failed pod is deleted for recreation", set: newSet(1),
			pods:     func(s *appsv1.StatefulSet) []*corev1.Pod { return []*corev1.Pod{podOf(t, s, rev, 0, corev1.PodFailed)} },
			wantPods: nil,
		},
		{
			name: "start ordinal", set: newSet(2, parallel, func(s *appsv1.StatefulSet) { s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 5} }),
			pods:     func(*appsv1.StatefulSet) []*corev1.Pod { return nil },
			wantPods: []string{"web-5", "web-6"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs := []runtime.Object{tc.set, rev}
			for _, p := range tc.pods(tc.set) {
				objs = append(objs, p)
			}
			h := newHarness(t, objs...)
			h.sync(t)
			if diff := cmp.Diff(tc.wantPods, h.podNames(t)); diff != "" {
				t.Errorf("pods (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRollingUpdate(t *testing.T) {
	old := newSet(3)
	oldRev := revisionOf(t, old, 1)
	allOld := func(set *appsv1.StatefulSet) []runtime.Object {
		return []runtime.Object{set, oldRev,
			podOf(t, old, oldRev, 0, "", readyPod), podOf(t, old, oldRev, 1, "", readyPod), podOf(t, old, oldRev, 2, "", readyPod)}
	}
	withCurrent := func(s *appsv1.StatefulSet) { s.Status.CurrentRevision = oldRev.Name }
	tests := []struct {
		name     string
		set      *appsv1.StatefulSet
		wantPods []string
	}{
		{name: "highest ordinal first", set: newSet(3, image("nginx:2"), withCurrent), wantPods: []string{"web-0", "web-1"}},
		{name: "partition keeps lower ordinals", set: newSet(3, image("nginx:2"), withCurrent, func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](3)
		}), wantPods: []string{"web-0", "web-1", "web-2"}},
		{name: "on delete leaves pods alone", set: newSet(3, image("nginx:2"), withCurrent, func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
		}), wantPods: []string{"web-0", "web-1", "web-2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, allOld(tc.set)...)
			got := h.sync(t)
			if diff := cmp.Diff(tc.wantPods, h.podNames(t)); diff != "" {
				t.Errorf("pods (-want +got):\n%s", diff)
			}
			newRev := revisionOf(t, tc.set, 2)
			if got.Status.CurrentRevision != oldRev.Name || got.Status.UpdateRevision != newRev.Name {
				t.Errorf("current %s update %s, want %s %s", got.Status.CurrentRevision, got.Status.UpdateRevision, oldRev.Name, newRev.Name)
			}
		})
	}

	t.Run("recreated pod below the partition keeps the current revision", func(t *testing.T) {
		set := newSet(3, image("nginx:2"), withCurrent, func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](2)
		})
		h := newHarness(t, set, oldRev, podOf(t, old, oldRev, 1, "", readyPod), podOf(t, old, oldRev, 2, "", readyPod))
		h.sync(t)
		pod, err := h.client.CoreV1().Pods("default").Get(t.Context(), "web-0", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pod.Labels[appsv1.StatefulSetRevisionLabel] != oldRev.Name || pod.Spec.Containers[0].Image != "nginx:1" {
			t.Errorf("web-0 at %s with %s, want %s with nginx:1", pod.Labels[appsv1.StatefulSetRevisionLabel], pod.Spec.Containers[0].Image, oldRev.Name)
		}
	})

	t.Run("update completes when every pod is updated and ready", func(t *testing.T) {
		set := newSet(2, withCurrent, image("nginx:2"))
		newRev := revisionOf(t, set, 2)
		h := newHarness(t, set, oldRev, newRev, podOf(t, set, newRev, 0, "", readyPod), podOf(t, set, newRev, 1, "", readyPod))
		got := h.sync(t)
		if got.Status.CurrentRevision != newRev.Name || got.Status.CurrentReplicas != 2 || got.Status.UpdatedReplicas != 2 || got.Status.ReadyReplicas != 2 {
			t.Errorf("status = %+v, want current = update = %s with 2 replicas", got.Status, newRev.Name)
		}
	})
}

func TestRollbackReusesRevision(t *testing.T) {
	setA := newSet(1)
	revA := revisionOf(t, setA, 1)
	revB := revisionOf(t, newSet(1, image("nginx:2")), 2)
	h := newHarness(t, setA, revA, revB)
	got := h.sync(t)
	stored, err := h.client.AppsV1().ControllerRevisions("default").Get(t.Context(), revA.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if stored.Revision != 3 || got.Status.UpdateRevision != revA.Name {
		t.Errorf("revision %s number %d, update revision %s; want number 3 and update revision %s", stored.Name, stored.Revision, got.Status.UpdateRevision, revA.Name)
	}
	list, _ := h.client.AppsV1().ControllerRevisions("default").List(t.Context(), metav1.ListOptions{})
	if len(list.Items) != 2 {
		t.Errorf("revisions = %d, want 2 (no new one)", len(list.Items))
	}
}

func TestHistoryLimit(t *testing.T) {
	set := newSet(1, func(s *appsv1.StatefulSet) { s.Spec.RevisionHistoryLimit = ptr.To[int32](1) })
	objs := []runtime.Object{set}
	var oldNames []string
	for i := 1; i <= 3; i++ {
		rev := revisionOf(t, newSet(1, image(fmt.Sprintf("old:%d", i))), int64(i))
		oldNames = append(oldNames, rev.Name)
		objs = append(objs, rev)
	}
	h := newHarness(t, objs...)
	h.sync(t)
	list, err := h.client.AppsV1().ControllerRevisions("default").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range list.Items {
		names = append(names, r.Name)
	}
	sort.Strings(names)
	want := []string{oldNames[2], revisionOf(t, set, 4).Name}
	sort.Strings(want)
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("revisions kept (-want +got):\n%s", diff)
	}
}

func TestClaims(t *testing.T) {
	t.Run("claim being deleted holds the pod back", func(t *testing.T) {
		set := newSet(1)
		claim := newClaims(set, 0)[0]
		claim.DeletionTimestamp = &metav1.Time{}
		claim.Finalizers = []string{"kubernetes.io/pvc-protection"}
		h := newHarness(t, set, claim)
		h.sync(t)
		if names := h.podNames(t); len(names) != 0 {
			t.Errorf("pods = %v, want none", names)
		}
	})
	t.Run("whenDeleted Delete makes the set own the claim", func(t *testing.T) {
		set := newSet(1, func(s *appsv1.StatefulSet) {
			s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType, WhenScaled: appsv1.RetainPersistentVolumeClaimRetentionPolicyType}
		})
		h := newHarness(t, set)
		h.sync(t)
		claim, err := h.client.CoreV1().PersistentVolumeClaims("default").Get(t.Context(), "data-web-0", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(claim.OwnerReferences) != 1 || claim.OwnerReferences[0].UID != set.UID {
			t.Errorf("owners = %+v, want the set", claim.OwnerReferences)
		}
	})
	t.Run("whenScaled Delete makes the condemned pod own its claim", func(t *testing.T) {
		set := newSet(1, func(s *appsv1.StatefulSet) {
			s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType, WhenScaled: appsv1.DeletePersistentVolumeClaimRetentionPolicyType}
		})
		rev := revisionOf(t, set, 1)
		claim := newClaims(set, 1)[0]
		pod1 := podOf(t, set, rev, 1, "", readyPod)
		h := newHarness(t, set, rev, podOf(t, set, rev, 0, "", readyPod), pod1, claim, newClaims(set, 0)[0])
		h.sync(t)
		got, err := h.client.CoreV1().PersistentVolumeClaims("default").Get(t.Context(), claim.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.OwnerReferences) != 1 || got.OwnerReferences[0].UID != pod1.UID {
			t.Errorf("owners = %+v, want pod web-1", got.OwnerReferences)
		}
		if diff := cmp.Diff([]string{"web-0"}, h.podNames(t)); diff != "" {
			t.Errorf("pods (-want +got):\n%s", diff)
		}
	})
}
