package endpoints

import (
	"math"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
)

// maxCapacity is the most addresses one Endpoints object lists; more are
// truncated (upstream's limit).
const maxCapacity = 1000

// subsetsEqual compares two canonical subset lists, ignoring the
// resourceVersion of target references (a pod's resourceVersion changes
// with every status write; it says nothing about the endpoint).
func subsetsEqual(a, b []corev1.EndpointSubset) bool {
	return apiequality.Semantic.DeepEqual(withoutTargetVersions(a), withoutTargetVersions(b))
}

func withoutTargetVersions(subsets []corev1.EndpointSubset) []corev1.EndpointSubset {
	out := make([]corev1.EndpointSubset, len(subsets))
	for i := range subsets {
		s := subsets[i].DeepCopy()
		for _, list := range [][]corev1.EndpointAddress{s.Addresses, s.NotReadyAddresses} {
			for j := range list {
				if list[j].TargetRef != nil {
					list[j].TargetRef.ResourceVersion = ""
				}
			}
		}
		out[i] = *s
	}
	return out
}

// addressCount is how many addresses, ready or not, subsets list.
func addressCount(subsets []corev1.EndpointSubset) int {
	n := 0
	for _, s := range subsets {
		n += len(s.Addresses) + len(s.NotReadyAddresses)
	}
	return n
}

// truncate keeps at most maxCapacity addresses, preferring ready ones and
// sharing the cut between subsets in proportion to their size, as
// upstream does. It reports whether anything was cut.
func truncate(subsets []corev1.EndpointSubset) bool {
	ready, notReady := 0, 0
	for _, s := range subsets {
		ready += len(s.Addresses)
		notReady += len(s.NotReadyAddresses)
	}
	if ready+notReady <= maxCapacity {
		return false
	}
	cutReady := ready > maxCapacity
	budget, total := maxCapacity-ready, notReady
	if cutReady {
		budget, total = maxCapacity, ready
	}
	left := budget
	for i := range subsets {
		s := &subsets[i]
		n := len(s.NotReadyAddresses)
		if cutReady {
			n = len(s.Addresses)
		}
		share := int(math.Ceil(float64(n) / float64(total) * float64(budget)))
		share = min(share, left)
		if cutReady {
			s.Addresses = s.Addresses[:min(share, len(s.Addresses))]
			s.NotReadyAddresses = nil
			left -= len(s.Addresses)
		} else {
			s.NotReadyAddresses = s.NotReadyAddresses[:min(share, len(s.NotReadyAddresses))]
			left -= len(s.NotReadyAddresses)
		}
	}
	return true
}
