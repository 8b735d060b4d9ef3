package daemonset

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/controller/controllertest"
)

type harness struct {
	c          *Controller
	client     *fake.Clientset
	podControl *controllertest.FakePodControl
	recorder   *record.FakeRecorder
}

func newHarness(t *testing.T, objs ...runtime.Object) *harness {
	t.Helper()
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	pods := factory.Core().V1().Pods()
	nodes := factory.Core().V1().Nodes()
	sets := factory.Apps().V1().DaemonSets()
	revisions := factory.Apps().V1().ControllerRevisions()
	c := New(client, pods, nodes, sets, revisions)
	for _, obj := range objs {
		var err error
		switch o := obj.(type) {
		case *corev1.Pod:
			err = pods.Informer().GetIndexer().Add(o)
		case *corev1.Node:
			err = nodes.Informer().GetIndexer().Add(o)
		case *appsv1.DaemonSet:
			err = sets.Informer().GetIndexer().Add(o)
		case *appsv1.ControllerRevision:
			err = revisions.Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	h := &harness{c: c, client: client, podControl: &controllertest.FakePodControl{}, recorder: record.NewFakeRecorder(100)}
	c.podControl, c.recorder = h.podControl, h.recorder
	return h
}

func (h *harness) sync(t *testing.T) *appsv1.DaemonSet {
	t.Helper()
	if err := h.c.sync(t.Context(), "kube-system/agent"); err != nil {
		t.Fatalf("sync: %v", err)
	}
	ds, err := h.client.AppsV1().DaemonSets("kube-system").Get(t.Context(), "agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// created returns "node" of each created pod, sorted.
func (h *harness) created() []string {
	var out []string
	for _, pod := range h.podControl.Pods {
		out = append(out, targetNode(pod))
	}
	sort.Strings(out)
	return out
}

func (h *harness) deleted() []string {
	out := append([]string(nil), h.podControl.DeletePodNames...)
	sort.Strings(out)
	return out
}

type dsOpt func(*appsv1.DaemonSet)

func newDaemonSet(opts ...dsOpt) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "kube-system", UID: "ds-uid", Generation: 2},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "agent:1"}}},
			},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr.To(intstr.FromInt32(1))}},
			RevisionHistoryLimit: ptr.To[int32](10),
		},
	}
	for _, o := range opts {
		o(ds)
	}
	return ds
}

func newNode(name string, opts ...func(*corev1.Node)) *corev1.Node {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
	for _, o := range opts {
		o(node)
	}
	return node
}

func taint(key string, effect corev1.TaintEffect) func(*corev1.Node) {
	return func(n *corev1.Node) { n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Effect: effect}) }
}

func nodeLabel(k, v string) func(*corev1.Node) {
	return func(n *corev1.Node) { n.Labels[k] = v }
}

// revisionOf is the stored revision of ds's template and its hash.
func revisionOf(t *testing.T, ds *appsv1.DaemonSet, number int64) (*appsv1.ControllerRevision, string) {
	t.Helper()
	data, err := revisionData(&ds.Spec.Template)
	if err != nil {
		t.Fatal(err)
	}
	hash := hashRevision(data, ptr.To[int32](0))
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Name: ds.Name + "-" + hash, Namespace: ds.Namespace,
			Labels:          map[string]string{"app": "agent", appsv1.DefaultDaemonSetUniqueLabelKey: hash},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, controllerKind)}},
		Data: runtime.RawExtension{Raw: data}, Revision: number,
	}, hash
}

var podSeq int

func daemonPod(ds *appsv1.DaemonSet, hash, node string, opts ...func(*corev1.Pod)) *corev1.Pod {
	podSeq++
	template := podTemplate(ds, hash, node)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("agent-%d", podSeq), Namespace: ds.Namespace, UID: types.UID(fmt.Sprint("pod-", podSeq)),
			Labels: template.Labels, OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, controllerKind)},
			CreationTimestamp: metav1.Unix(int64(1000+podSeq), 0)},
		Spec:   template.Spec,
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	for _, o := range opts {
		o(pod)
	}
	return pod
}

func notReady(p *corev1.Pod) { p.Status.Conditions = nil }

func TestPlacement(t *testing.T) {
	tests := []struct {
		name       string
		ds         *appsv1.DaemonSet
		node       *corev1.Node
		wantRun    bool
		wantToStay bool
	}{
		{name: "plain node", ds: newDaemonSet(), node: newNode("n"), wantRun: true, wantToStay: true},
		{name: "node selector mismatch", ds: newDaemonSet(func(d *appsv1.DaemonSet) { d.Spec.Template.Spec.NodeSelector = map[string]string{"gpu": "yes"} }),
			node: newNode("n")},
		{name: "node selector match", ds: newDaemonSet(func(d *appsv1.DaemonSet) { d.Spec.Template.Spec.NodeSelector = map[string]string{"gpu": "yes"} }),
			node: newNode("n", nodeLabel("gpu", "yes")), wantRun: true, wantToStay: true},
		{name: "required affinity mismatch", ds: newDaemonSet(func(d *appsv1.DaemonSet) {
			d.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}}}}}}
		}), node: newNode("n", nodeLabel("zone", "b"))},
		{name: "untolerated NoSchedule: stays, not placed", ds: newDaemonSet(), node: newNode("n", taint("dedicated", corev1.TaintEffectNoSchedule)), wantToStay: true},
		{name: "untolerated NoExecute: evicted", ds: newDaemonSet(), node: newNode("n", taint("dedicated", corev1.TaintEffectNoExecute))},
		{name: "tolerated taint", ds: newDaemonSet(func(d *appsv1.DaemonSet) {
			d.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
		}), node: newNode("n", taint("dedicated", corev1.TaintEffectNoExecute)), wantRun: true, wantToStay: true},
		{name: "cordoned and not ready nodes get daemons", ds: newDaemonSet(),
			node: newNode("n", taint(corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule), taint(corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute)), wantRun: true, wantToStay: true},
		{name: "network-unavailable only for host network", ds: newDaemonSet(), node: newNode("n", taint(corev1.TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule)), wantToStay: true},
		{name: "network-unavailable tolerated by host network", ds: newDaemonSet(func(d *appsv1.DaemonSet) { d.Spec.Template.Spec.HostNetwork = true }),
			node: newNode("n", taint(corev1.TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule)), wantRun: true, wantToStay: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run, stay := placement(tc.ds, tc.node)
			if run != tc.wantRun || stay != tc.wantToStay {
				t.Errorf("placement = (%v, %v), want (%v, %v)", run, stay, tc.wantRun, tc.wantToStay)
			}
		})
	}
}

func TestCreatedPodIsPinned(t *testing.T) {
	ds := newDaemonSet(func(d *appsv1.DaemonSet) {
		d.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpExists}}}}}}}
	})
	h := newHarness(t, ds, newNode("n1"))
	h.sync(t)
	if len(h.podControl.Pods) != 1 {
		t.Fatalf("created %d pods, want 1", len(h.podControl.Pods))
	}
	pod := h.podControl.Pods[0]
	want := &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{
		{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"n1"}}}}}}
	if diff := cmp.Diff(want, pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution); diff != "" {
		t.Errorf("required affinity (-want +got):\n%s", diff)
	}
	if pod.Spec.NodeName != "" {
		t.Errorf("nodeName = %q, want it left to the scheduler", pod.Spec.NodeName)
	}
	_, hash := revisionOf(t, ds, 1)
	if pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != hash || pod.Labels[templateGenerationLabel] != "2" {
		t.Errorf("labels = %v, want hash %s and generation 2", pod.Labels, hash)
	}
	if got := len(pod.Spec.Tolerations); got != 6 {
		t.Errorf("tolerations = %d (%v), want the 6 daemon tolerations", got, pod.Spec.Tolerations)
	}
	if pod.GenerateName != "agent-" {
		t.Errorf("generateName = %q", pod.GenerateName)
	}
}

func TestManage(t *testing.T) {
	ds := newDaemonSet()
	rev, hash := revisionOf(t, ds, 1)
	tests := []struct {
		name        string
		objs        []runtime.Object
		wantCreated []string
		wantDeleted []string
		wantEvent   string
	}{
		{name: "one pod per eligible node",
			objs:        []runtime.Object{newNode("a"), newNode("b"), newNode("c", taint("x", corev1.TaintEffectNoSchedule))},
			wantCreated: []string{"a", "b"}},
		{name: "node already served",
			objs:        []runtime.Object{newNode("a"), newNode("b"), daemonPod(ds, hash, "a")},
			wantCreated: []string{"b"}},
		{name: "evicting taint deletes the pod",
			objs:        []runtime.Object{newNode("a", taint("x", corev1.TaintEffectNoExecute)), daemonPod(ds, hash, "a")},
			wantDeleted: []string{fmt.Sprintf("kube-system/agent-%d", podSeq)}},
		{name: "pod on a vanished node is deleted",
			objs:        []runtime.Object{daemonPod(ds, hash, "gone")},
			wantDeleted: []string{fmt.Sprintf("kube-system/agent-%d", podSeq)}},
		{name: "extra pod on a node: the newest goes",
			objs:        []runtime.Object{newNode("a"), daemonPod(ds, hash, "a"), daemonPod(ds, hash, "a")},
			wantDeleted: []string{fmt.Sprintf("kube-system/agent-%d", podSeq)}},
		{name: "failed pod is deleted",
			objs:        []runtime.Object{newNode("a"), daemonPod(ds, hash, "a", func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed })},
			wantDeleted: []string{fmt.Sprintf("kube-system/agent-%d", podSeq)},
			wantEvent:   "Warning FailedDaemonPod Found failed daemon pod kube-system/agent-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, append(tc.objs, ds, rev)...)
			h.sync(t)
			if diff := cmp.Diff(tc.wantCreated, h.created()); diff != "" {
				t.Errorf("created on (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantDeleted, h.deleted()); diff != "" {
				t.Errorf("deleted (-want +got):\n%s", diff)
			}
			if tc.wantEvent != "" {
				found := false
				for len(h.recorder.Events) > 0 {
					found = found || strings.HasPrefix(<-h.recorder.Events, tc.wantEvent)
				}
				if !found {
					t.Errorf("no event %q", tc.wantEvent)
				}
			}
		})
	}
}

func TestRollingUpdate(t *testing.T) {
	old := newDaemonSet()
	oldRev, oldHash := revisionOf(t, old, 1)
	updated := newDaemonSet(func(d *appsv1.DaemonSet) { d.Spec.Template.Spec.Containers[0].Image = "agent:2" })
	nodes := []runtime.Object{newNode("a"), newNode("b"), newNode("c"), newNode("d")}
	maxUnavailable := func(v intstr.IntOrString) dsOpt {
		return func(d *appsv1.DaemonSet) { d.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = &v }
	}
	tests := []struct {
		name        string
		ds          *appsv1.DaemonSet
		pods        []*corev1.Pod
		wantDeleted int
	}{
		{name: "one at a time", ds: updated.DeepCopy(),
			pods: []*corev1.Pod{daemonPod(old, oldHash, "a"), daemonPod(old, oldHash, "b"), daemonPod(old, oldHash, "c"), daemonPod(old, oldHash, "d")}, wantDeleted: 1},
		{name: "percentage rounds up", ds: newDaemonSet(func(d *appsv1.DaemonSet) { d.Spec.Template = updated.Spec.Template }, maxUnavailable(intstr.FromString("30%"))),
			pods: []*corev1.Pod{daemonPod(old, oldHash, "a"), daemonPod(old, oldHash, "b"), daemonPod(old, oldHash, "c"), daemonPod(old, oldHash, "d")}, wantDeleted: 2},
		{name: "unavailable old pods go first and free", ds: updated.DeepCopy(),
			pods: []*corev1.Pod{daemonPod(old, oldHash, "a", notReady), daemonPod(old, oldHash, "b"), daemonPod(old, oldHash, "c"), daemonPod(old, oldHash, "d")}, wantDeleted: 2},
		{name: "waits while a node is unavailable", ds: updated.DeepCopy(),
			pods: []*corev1.Pod{daemonPod(old, oldHash, "b"), daemonPod(old, oldHash, "c"), daemonPod(old, oldHash, "d")}, wantDeleted: 0},
		{name: "on delete", ds: newDaemonSet(func(d *appsv1.DaemonSet) {
			d.Spec.Template = updated.Spec.Template
			d.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
		}), pods: []*corev1.Pod{daemonPod(old, oldHash, "a"), daemonPod(old, oldHash, "b"), daemonPod(old, oldHash, "c"), daemonPod(old, oldHash, "d")}, wantDeleted: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs := append([]runtime.Object{tc.ds, oldRev}, nodes...)
			for _, p := range tc.pods {
				objs = append(objs, p)
			}
			h := newHarness(t, objs...)
			if tc.name == "waits while a node is unavailable" {
				// Node a has no pod; manage creates one and the update waits.
				h.sync(t)
				if len(h.podControl.Pods) != 1 {
					t.Fatalf("created %d pods, want 1", len(h.podControl.Pods))
				}
			} else {
				h.sync(t)
			}
			if got := len(h.podControl.DeletePodNames); got != tc.wantDeleted {
				t.Errorf("deleted %d (%v), want %d", got, h.podControl.DeletePodNames, tc.wantDeleted)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	old := newDaemonSet()
	oldRev, oldHash := revisionOf(t, old, 1)
	ds := newDaemonSet(func(d *appsv1.DaemonSet) { d.Spec.Template.Spec.Containers[0].Image = "agent:2" })
	rev, hash := revisionOf(t, ds, 2)
	h := newHarness(t, ds, oldRev, rev,
		newNode("a"), newNode("b"), newNode("c"), newNode("d", taint("x", corev1.TaintEffectNoSchedule)),
		daemonPod(ds, hash, "a"), daemonPod(old, oldHash, "b", notReady), daemonPod(ds, hash, "d"))
	h.c.podControl = &controllertest.FakePodControl{}
	got := h.sync(t).Status
	want := appsv1.DaemonSetStatus{
		DesiredNumberScheduled: 3, CurrentNumberScheduled: 2, NumberReady: 1, NumberAvailable: 1, NumberUnavailable: 2,
		UpdatedNumberScheduled: 1, NumberMisscheduled: 1, ObservedGeneration: 2, CollisionCount: ptr.To[int32](0),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
}
