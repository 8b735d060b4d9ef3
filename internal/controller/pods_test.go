package controller

import (
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

type podOpt func(*corev1.Pod)

func newPod(name string, opts ...podOpt) *corev1.Pod {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)}}
	for _, o := range opts {
		o(pod)
	}
	return pod
}

func onNode(n string) podOpt { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func phase(ph corev1.PodPhase) podOpt {
	return func(p *corev1.Pod) { p.Status.Phase = ph }
}
func readySince(t time.Time) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{
			Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t)})
	}
}
func created(t time.Time) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(t) }
}
func restarts(n int32) podOpt {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{RestartCount: n})
	}
}
func deletionCost(c string) podOpt {
	return func(p *corev1.Pod) { p.Annotations = map[string]string{PodDeletionCostAnnotation: c} }
}
func deleting() podOpt {
	return func(p *corev1.Pod) { now := metav1.NewTime(epoch); p.DeletionTimestamp = &now }
}

func TestIsPodAvailable(t *testing.T) {
	now := epoch.Add(time.Hour)
	tests := []struct {
		name            string
		pod             *corev1.Pod
		minReadySeconds int32
		want            bool
	}{
		{name: "not ready", pod: newPod("a", phase(corev1.PodRunning)), want: false},
		{name: "ready, no minReadySeconds", pod: newPod("a", readySince(now)), want: true},
		{name: "ready long enough", pod: newPod("a", readySince(now.Add(-11*time.Second))), minReadySeconds: 10, want: true},
		{name: "ready too recently", pod: newPod("a", readySince(now.Add(-9*time.Second))), minReadySeconds: 10, want: false},
		{name: "exactly minReadySeconds is not yet", pod: newPod("a", readySince(now.Add(-10*time.Second))), minReadySeconds: 10, want: false},
		{name: "ready without transition time", pod: newPod("a", readySince(time.Time{})), minReadySeconds: 1, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsPodAvailable(tc.pod, tc.minReadySeconds, now); got != tc.want {
				t.Errorf("IsPodAvailable = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFilterActivePods(t *testing.T) {
	pods := []*corev1.Pod{
		newPod("running", phase(corev1.PodRunning)),
		newPod("pending", phase(corev1.PodPending)),
		newPod("succeeded", phase(corev1.PodSucceeded)),
		newPod("failed", phase(corev1.PodFailed)),
		newPod("deleting", phase(corev1.PodRunning), deleting()),
	}
	var got []string
	for _, p := range FilterActivePods(pods) {
		got = append(got, p.Name)
	}
	if diff := cmp.Diff([]string{"running", "pending"}, got); diff != "" {
		t.Errorf("active pods (-want +got):\n%s", diff)
	}
}

func TestActivePodsWithRanksOrder(t *testing.T) {
	now := epoch.Add(24 * time.Hour)
	tests := []struct {
		name   string
		first  *corev1.Pod // should be deleted first
		second *corev1.Pod
		ranks  [2]int // of first, second
	}{
		{name: "unassigned before assigned", first: newPod("a"), second: newPod("b", onNode("n1"))},
		{name: "pending before running", first: newPod("a", onNode("n"), phase(corev1.PodPending)), second: newPod("b", onNode("n"), phase(corev1.PodRunning))},
		{name: "unknown before running", first: newPod("a", onNode("n"), phase(corev1.PodUnknown)), second: newPod("b", onNode("n"), phase(corev1.PodRunning))},
		{name: "not ready before ready", first: newPod("a", onNode("n"), phase(corev1.PodRunning)), second: newPod("b", onNode("n"), phase(corev1.PodRunning), readySince(epoch))},
		{name: "lower deletion cost first", first: newPod("a", onNode("n"), deletionCost("-5")), second: newPod("b", onNode("n"), deletionCost("10"))},
		{name: "doubled up first", first: newPod("a", onNode("n")), second: newPod("b", onNode("m")), ranks: [2]int{3, 1}},
		{name: "ready more recently first", first: newPod("a", onNode("n"), readySince(now.Add(-time.Minute))), second: newPod("b", onNode("n"), readySince(now.Add(-10*time.Hour)))},
		{name: "more restarts first", first: newPod("a", onNode("n"), restarts(5)), second: newPod("b", onNode("n"), restarts(1))},
		{name: "newer first", first: newPod("a", onNode("n"), created(now.Add(-time.Minute))), second: newPod("b", onNode("n"), created(now.Add(-10*time.Hour)))},
		{name: "zero creation time first", first: newPod("a", onNode("n")), second: newPod("b", onNode("n"), created(now.Add(-time.Minute)))},
		{
			// 100s and 101s old are in the same log2 bucket: UID decides.
			name:   "same log bucket falls back to uid",
			first:  newPod("a", onNode("n"), created(now.Add(-101*time.Second))),
			second: newPod("b", onNode("n"), created(now.Add(-100*time.Second))),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Both input orders must give the same result.
			for _, order := range [][2]int{{0, 1}, {1, 0}} {
				in := [2]*corev1.Pod{tc.first, tc.second}
				s := ActivePodsWithRanks{
					Pods: []*corev1.Pod{in[order[0]], in[order[1]]},
					Rank: []int{tc.ranks[order[0]], tc.ranks[order[1]]},
					Now:  metav1.NewTime(now),
				}
				sort.Sort(s)
				if got, want := s.Pods[0].Name, tc.first.Name; got != want {
					t.Errorf("input order %v: first after sort = %s, want %s", order, got, want)
				}
			}
		})
	}
}

func TestRankPodsByColocation(t *testing.T) {
	related := []*corev1.Pod{
		newPod("a", onNode("n1")), newPod("b", onNode("n1")), newPod("c", onNode("n2")),
		newPod("d", onNode("n1"), deleting()),
	}
	got := RankPodsByColocation(related[:3], related, metav1.Time{}).Rank
	if diff := cmp.Diff([]int{2, 2, 1}, got); diff != "" {
		t.Errorf("ranks (-want +got):\n%s", diff)
	}
}
