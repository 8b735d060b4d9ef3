package metrics

import (
	"context"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// nodeMetrics returns the metrics of the nodes whose agents answered,
// in the order of nodes.
func (s *Server) nodeMetrics(ctx context.Context, nodes []*corev1.Node) []metricsv1beta1.NodeMetrics {
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.Name
	}
	summaries := s.summaries(ctx, names)
	now := metav1.NewTime(s.cfg.Clock())
	out := []metricsv1beta1.NodeMetrics{}
	for _, n := range nodes {
		sum := summaries[n.Name]
		if sum == nil {
			continue
		}
		usage, at, ok := usageOf(sum.Node.CPU, sum.Node.Memory)
		if !ok {
			continue
		}
		out = append(out, metricsv1beta1.NodeMetrics{
			ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: n.Labels, CreationTimestamp: now},
			Timestamp:  at,
			Window:     metav1.Duration{Duration: s.cfg.Window},
			Usage:      usage,
		})
	}
	return out
}

// podMetrics returns the metrics of the Running pods among pods whose
// nodes answered with figures for every container, in the order of pods.
func (s *Server) podMetrics(ctx context.Context, pods []*corev1.Pod) []metricsv1beta1.PodMetrics {
	var nodeNames []string
	for _, p := range pods {
		if p.Status.Phase == corev1.PodRunning && p.Spec.NodeName != "" && !slices.Contains(nodeNames, p.Spec.NodeName) {
			nodeNames = append(nodeNames, p.Spec.NodeName)
		}
	}
	if len(nodeNames) == 0 {
		return []metricsv1beta1.PodMetrics{}
	}
	summaries := s.summaries(ctx, nodeNames)
	// Each node's pods by namespace/name.
	type podKey struct{ node, namespace, name string }
	reported := map[podKey]*statsapi.PodStats{}
	for node, sum := range summaries {
		for i := range sum.Pods {
			ref := sum.Pods[i].PodRef
			reported[podKey{node, ref.Namespace, ref.Name}] = &sum.Pods[i]
		}
	}
	now := metav1.NewTime(s.cfg.Clock())
	out := []metricsv1beta1.PodMetrics{}
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning {
			continue
		}
		ps := reported[podKey{p.Spec.NodeName, p.Namespace, p.Name}]
		if ps == nil || (ps.PodRef.UID != "" && ps.PodRef.UID != string(p.UID)) {
			continue
		}
		containers, at, ok := containerMetrics(p, ps)
		if !ok {
			continue
		}
		out = append(out, metricsv1beta1.PodMetrics{
			ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, Labels: p.Labels, CreationTimestamp: now},
			Timestamp:  at,
			Window:     metav1.Duration{Duration: s.cfg.Window},
			Containers: containers,
		})
	}
	return out
}

// containerMetrics turns a pod's reported containers into metrics, in
// the order of the pod's spec, and returns the newest sample time. It
// returns false when the pod reports no container or a container
// without CPU rate or working set.
func containerMetrics(p *corev1.Pod, ps *statsapi.PodStats) ([]metricsv1beta1.ContainerMetrics, metav1.Time, bool) {
	var latest metav1.Time
	out := make([]metricsv1beta1.ContainerMetrics, 0, len(ps.Containers))
	for _, c := range ps.Containers {
		usage, at, ok := usageOf(c.CPU, c.Memory)
		if !ok {
			return nil, latest, false
		}
		if at.After(latest.Time) {
			latest = at
		}
		out = append(out, metricsv1beta1.ContainerMetrics{Name: c.Name, Usage: usage})
	}
	if len(out) == 0 {
		return nil, latest, false
	}
	order := func(name string) int {
		for i, c := range p.Spec.Containers {
			if c.Name == name {
				return i
			}
		}
		return len(p.Spec.Containers)
	}
	sort.SliceStable(out, func(i, j int) bool {
		oi, oj := order(out[i].Name), order(out[j].Name)
		if oi != oj {
			return oi < oj
		}
		return out[i].Name < out[j].Name
	})
	return out, latest, true
}

// usageOf is the usage metrics-server reports for CPU and memory stats:
// cpu in nano-cores, memory the working set in bytes; with the time of
// the CPU sample. It returns false when either figure is missing.
func usageOf(cpu *statsapi.CPUStats, mem *statsapi.MemoryStats) (corev1.ResourceList, metav1.Time, bool) {
	if cpu == nil || cpu.UsageNanoCores == nil || mem == nil || mem.WorkingSetBytes == nil {
		return nil, metav1.Time{}, false
	}
	return corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewScaledQuantity(int64(*cpu.UsageNanoCores), resource.Nano),
		corev1.ResourceMemory: *resource.NewQuantity(int64(*mem.WorkingSetBytes), resource.BinarySI),
	}, cpu.Time, true
}
