package agent

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The kubelet's words for a pod past spec.activeDeadlineSeconds.
const (
	reasonDeadlineExceeded  = "DeadlineExceeded"
	messageDeadlineExceeded = "Pod was active on the node longer than the specified deadline"
)

// activeDeadline tells whether a pod that started at start has run past
// its spec.activeDeadlineSeconds (deadline), counted from status.startTime
// as the kubelet counts it, and otherwise how long it has left (0 when it
// has no deadline or has not started).
func activeDeadline(deadline *int64, start *metav1.Time, now time.Time) (exceeded bool, left time.Duration) {
	if deadline == nil || start == nil {
		return false, 0
	}
	left = start.Add(time.Duration(*deadline) * time.Second).Sub(now)
	if left <= 0 {
		return true, 0
	}
	return false, left
}
