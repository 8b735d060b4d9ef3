package controller

import (
	"math"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PodDeletionCostAnnotation lets users rank pods of one ReplicaSet for
// scale-down: lower cost goes first.
const PodDeletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

// IsPodActive reports whether a pod still counts toward its controller's
// replicas: not Succeeded, not Failed, and not being deleted.
func IsPodActive(pod *corev1.Pod) bool {
	return pod.Status.Phase != corev1.PodSucceeded &&
		pod.Status.Phase != corev1.PodFailed &&
		pod.DeletionTimestamp == nil
}

// FilterActivePods returns the active pods of pods, in order.
func FilterActivePods(pods []*corev1.Pod) []*corev1.Pod {
	var active []*corev1.Pod
	for _, pod := range pods {
		if IsPodActive(pod) {
			active = append(active, pod)
		}
	}
	return active
}

// PodReadyCondition returns the pod's Ready condition, or nil.
func PodReadyCondition(status *corev1.PodStatus) *corev1.PodCondition {
	for i := range status.Conditions {
		if status.Conditions[i].Type == corev1.PodReady {
			return &status.Conditions[i]
		}
	}
	return nil
}

// IsPodReady reports whether the pod's Ready condition is True.
func IsPodReady(pod *corev1.Pod) bool {
	c := PodReadyCondition(&pod.Status)
	return c != nil && c.Status == corev1.ConditionTrue
}

// IsPodAvailable reports whether the pod has been ready for at least
// minReadySeconds at now (ready is enough when minReadySeconds is 0).
func IsPodAvailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	if !IsPodReady(pod) {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	c := PodReadyCondition(&pod.Status)
	if c.LastTransitionTime.IsZero() {
		return false
	}
	return c.LastTransitionTime.Add(time.Duration(minReadySeconds) * time.Second).Before(now)
}

// PodDeletionCost parses the pod-deletion-cost annotation; absent or
// malformed is 0.
func PodDeletionCost(pod *corev1.Pod) int32 {
	v, ok := pod.Annotations[PodDeletionCostAnnotation]
	if !ok {
		return 0
	}
	cost, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0
	}
	return int32(cost)
}

// ActivePodsWithRanks sorts pods so that the ones a controller should
// delete first come first (upstream's order, with logarithmic time
// comparisons):
//
//  1. unassigned before assigned;
//  2. Pending before Unknown before Running;
//  3. not ready before ready;
//  4. lower pod-deletion-cost first;
//  5. higher Rank first (more related pods on the same node);
//  6. both ready: ready more recently first;
//  7. more container restarts first;
//  8. created more recently first.
//
// In 6 and 8 times are compared by log2 of their age at Now, so that pods
// of about the same age tie and fall back to UID order, spreading
// deletions rather than always hitting the newest. A zero Now compares
// times exactly.
type ActivePodsWithRanks struct {
	Pods []*corev1.Pod
	// Rank is parallel to Pods (see RankPodsByColocation).
	Rank []int
	Now  metav1.Time
}

// RankPodsByColocation ranks each of pods by how many active pods of
// related (usually all pods of the same owner) share its node.
func RankPodsByColocation(pods, related []*corev1.Pod, now metav1.Time) ActivePodsWithRanks {
	perNode := map[string]int{}
	for _, pod := range related {
		if IsPodActive(pod) {
			perNode[pod.Spec.NodeName]++
		}
	}
	ranks := make([]int, len(pods))
	for i, pod := range pods {
		ranks[i] = perNode[pod.Spec.NodeName]
	}
	return ActivePodsWithRanks{Pods: pods, Rank: ranks, Now: now}
}

func (s ActivePodsWithRanks) Len() int { return len(s.Pods) }

func (s ActivePodsWithRanks) Swap(i, j int) {
	s.Pods[i], s.Pods[j] = s.Pods[j], s.Pods[i]
	s.Rank[i], s.Rank[j] = s.Rank[j], s.Rank[i]
}

var podPhaseOrder = map[corev1.PodPhase]int{
	corev1.PodPending: 0,
	corev1.PodUnknown: 1,
	corev1.PodRunning: 2,
}

// Less reports whether pod i should be deleted before pod j.
func (s ActivePodsWithRanks) Less(i, j int) bool {
	a, b := s.Pods[i], s.Pods[j]
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if pa, pb := podPhaseOrder[a.Status.Phase], podPhaseOrder[b.Status.Phase]; pa != pb {
		return pa < pb
	}
	readyA, readyB := IsPodReady(a), IsPodReady(b)
	if readyA != readyB {
		return !readyA
	}
	if ca, cb := PodDeletionCost(a), PodDeletionCost(b); ca != cb {
		return ca < cb
	}
	if s.Rank[i] != s.Rank[j] {
		return s.Rank[i] > s.Rank[j]
	}
	if readyA && readyB {
		ta, tb := podReadyTime(a), podReadyTime(b)
		if !ta.Equal(&tb) {
			return s.newerFirst(ta, tb, a, b)
		}
	}
	if ra, rb := maxRestarts(a), maxRestarts(b); ra != rb {
		return ra > rb
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return s.newerFirst(a.CreationTimestamp, b.CreationTimestamp, a, b)
	}
	return false
}

// newerFirst orders two different times, newer (or zero) first, on the
// logarithmic scale when Now is set.
func (s ActivePodsWithRanks) newerFirst(ta, tb metav1.Time, a, b *corev1.Pod) bool {
	if s.Now.IsZero() || ta.IsZero() || tb.IsZero() {
		return afterOrZero(ta, tb)
	}
	diff := logAge(ta, s.Now) - logAge(tb, s.Now)
	if diff == 0 {
		return a.UID < b.UID
	}
	return diff < 0
}

func afterOrZero(a, b metav1.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero()
	}
	return a.After(b.Time)
}

// logAge is log2 of the age in nanoseconds, -1 for a time not in the past.
func logAge(t, now metav1.Time) int64 {
	age := now.Sub(t.Time)
	if age <= 0 {
		return -1
	}
	return int64(math.Log2(float64(age)))
}

func podReadyTime(pod *corev1.Pod) metav1.Time {
	if c := PodReadyCondition(&pod.Status); c != nil && c.Status == corev1.ConditionTrue {
		return c.LastTransitionTime
	}
	return metav1.Time{}
}

func maxRestarts(pod *corev1.Pod) int32 {
	var most int32
	for _, c := range pod.Status.ContainerStatuses {
		most = max(most, c.RestartCount)
	}
	return most
}
