package scheduler

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
)

const reasonTooManyPods = "Too many pods"

// nodeResourcesFit rejects nodes whose allocatable resources, minus what
// the pods bound to them request, cannot hold the pod's requests, and
// scores nodes by how much stays free (upstream's LeastAllocated
// strategy, cpu and memory weighted equally).
type nodeResourcesFit struct{}

var (
	_ FilterPlugin = nodeResourcesFit{}
	_ ScorePlugin  = nodeResourcesFit{}
)

func (nodeResourcesFit) Name() string { return nameNodeResourcesFit }

// Filter lists every resource that does not fit, one reason each
// ("Insufficient cpu", "Too many pods"), as upstream does.
func (nodeResourcesFit) Filter(c *Cycle, ni *NodeInfo) *Status {
	want := &c.PodInfo.Requests
	have, used := &ni.allocatable, &ni.requested
	var reasons []string
	if used.Pods+1 > have.Pods {
		reasons = append(reasons, reasonTooManyPods)
	}
	insufficient := func(name corev1.ResourceName) {
		reasons = append(reasons, "Insufficient "+string(name))
	}
	if want.MilliCPU > 0 && want.MilliCPU > have.MilliCPU-used.MilliCPU {
		insufficient(corev1.ResourceCPU)
	}
	if want.Memory > 0 && want.Memory > have.Memory-used.Memory {
		insufficient(corev1.ResourceMemory)
	}
	if want.EphemeralStorage > 0 && want.EphemeralStorage > have.EphemeralStorage-used.EphemeralStorage {
		insufficient(corev1.ResourceEphemeralStorage)
	}
	if len(want.Scalar) > 0 {
		names := make([]corev1.ResourceName, 0, len(want.Scalar))
		for name := range want.Scalar {
			names = append(names, name)
		}
		sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
		for _, name := range names {
			if q := want.Scalar[name]; q > 0 && q > have.Scalar[name]-used.Scalar[name] {
				insufficient(name)
			}
		}
	}
	if len(reasons) > 0 {
		return NewStatus(Unschedulable, reasons...)
	}
	return nil
}

// Score is the mean over cpu and memory of the share left free once the
// pod is placed, in [0, MaxNodeScore]. Containers without requests count
// as small ones, so best-effort pods spread too.
func (nodeResourcesFit) Score(c *Cycle, ni *NodeInfo) int64 {
	cpu := leastAllocated(ni.nonZeroMilliCPU+c.PodInfo.NonZeroMilliCPU, ni.allocatable.MilliCPU)
	mem := leastAllocated(ni.nonZeroMemory+c.PodInfo.NonZeroMemory, ni.allocatable.Memory)
	return (cpu + mem) / 2
}

func leastAllocated(requested, capacity int64) int64 {
	if capacity <= 0 || requested > capacity {
		return 0
	}
	return (capacity - requested) * MaxNodeScore / capacity
}
