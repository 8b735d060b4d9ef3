package scheduler

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
)

// This file holds the plugins that look at the node object alone:
// unschedulable nodes, taints (and readiness), node affinity, host ports.

// Reasons of the node plugins, as upstream words them.
const (
	reasonUnschedulable  = "node(s) were unschedulable"
	reasonNodeAffinity   = "node(s) didn't match Pod's node affinity/selector"
	reasonPortsTaken     = "node(s) didn't have free ports for the requested pod ports"
	untoleratedTaintForm = "node(s) had untolerated taint {%s: %s}"
)

// Plugin names, as upstream's default profile names them.
const (
	nameNodeUnschedulable = "NodeUnschedulable"
	nameTaintToleration   = "TaintToleration"
	nameNodeAffinity      = "NodeAffinity"
	nameNodePorts         = "NodePorts"
	nameNodeResourcesFit  = "NodeResourcesFit"
	nameVolumeBinding     = "VolumeBinding"
	nameInterPodAffinity  = "InterPodAffinity"
	nameSelectorSpread    = "SelectorSpread"
)

// nodeUnschedulable rejects cordoned nodes (spec.unschedulable) unless the
// pod tolerates the node.kubernetes.io/unschedulable taint.
type nodeUnschedulable struct{}

var _ FilterPlugin = nodeUnschedulable{}

func (nodeUnschedulable) Name() string { return nameNodeUnschedulable }

func (nodeUnschedulable) Filter(c *Cycle, ni *NodeInfo) *Status {
	if !ni.unschedulable {
		return nil
	}
	taint := corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}
	if tolerates(c.Pod.Spec.Tolerations, &taint) {
		return nil
	}
	return NewStatus(UnschedulableAndUnresolvable, reasonUnschedulable)
}

// taintToleration rejects nodes with a NoSchedule or NoExecute taint the
// pod does not tolerate, and prefers nodes with fewer untolerated
// PreferNoSchedule taints. A node that is not Ready counts as tainted
// node.kubernetes.io/not-ready (unreachable when its state is Unknown),
// as upstream's node lifecycle controller taints it: pods that tolerate
// that (CNI and other node daemons) may still go there.
type taintToleration struct{}

var (
	_ FilterPlugin    = taintToleration{}
	_ ScorePlugin     = taintToleration{}
	_ ScoreNormalizer = taintToleration{}
)

func (taintToleration) Name() string { return nameTaintToleration }

func (taintToleration) Filter(c *Cycle, ni *NodeInfo) *Status {
	for i := range ni.taints {
		t := &ni.taints[i]
		if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		if !tolerates(c.Pod.Spec.Tolerations, t) {
			return NewStatus(UnschedulableAndUnresolvable, fmt.Sprintf(untoleratedTaintForm, t.Key, t.Value))
		}
	}
	if t := ni.readinessTaint; t != nil && !tolerates(c.Pod.Spec.Tolerations, t) {
		return NewStatus(UnschedulableAndUnresolvable, fmt.Sprintf(untoleratedTaintForm, t.Key, t.Value))
	}
	return nil
}

// Score counts the untolerated PreferNoSchedule taints (fewer is better).
func (taintToleration) Score(c *Cycle, ni *NodeInfo) int64 {
	var n int64
	for i := range ni.taints {
		t := &ni.taints[i]
		if t.Effect == corev1.TaintEffectPreferNoSchedule && !tolerates(preferNoScheduleTolerations(c.Pod), t) {
			n++
		}
	}
	return n
}

func (taintToleration) NormalizeScores(_ *Cycle, scores []int64) { normalizeToMax(scores, true) }

// preferNoScheduleTolerations are the tolerations that count against
// PreferNoSchedule taints: those without an effect or with that effect.
func preferNoScheduleTolerations(pod *corev1.Pod) []corev1.Toleration {
	var out []corev1.Toleration
	for _, t := range pod.Spec.Tolerations {
		if t.Effect == "" || t.Effect == corev1.TaintEffectPreferNoSchedule {
			out = append(out, t)
		}
	}
	return out
}

// readinessTaint returns the NoSchedule taint a node that is not Ready
// carries upstream, unless the node already has it; nil for Ready nodes.
func readinessTaint(node *corev1.Node) *corev1.Taint {
	key := corev1.TaintNodeNotReady
	ready := false
	for _, cond := range node.Status.Conditions {
		if cond.Type != corev1.NodeReady {
			continue
		}
		switch cond.Status {
		case corev1.ConditionTrue:
			ready = true
		case corev1.ConditionUnknown:
			key = corev1.TaintNodeUnreachable
		}
	}
	if ready {
		return nil
	}
	for _, t := range node.Spec.Taints {
		if (t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable) && t.Effect == corev1.TaintEffectNoSchedule {
			// Already tainted (and checked) by the lifecycle controller.
			return nil
		}
	}
	return &corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule}
}

func tolerates(tolerations []corev1.Toleration, taint *corev1.Taint) bool {
	for i := range tolerations {
		if tolerations[i].ToleratesTaint(klog.Background(), taint, true) {
			return true
		}
	}
	return false
}

// nodeAffinity rejects nodes that do not match the pod's nodeSelector and
// required node affinity, and scores the preferred node affinity terms.
type nodeAffinity struct{}

var (
	_ FilterPlugin    = nodeAffinity{}
	_ ScorePlugin     = nodeAffinity{}
	_ ScoreNormalizer = nodeAffinity{}
)

func (nodeAffinity) Name() string { return nameNodeAffinity }

// nodeAffinityState is what nodeAffinity parses once per decision.
type nodeAffinityState struct {
	required  nodeaffinity.RequiredNodeAffinity
	preferred *nodeaffinity.PreferredSchedulingTerms
	err       error
}

func (nodeAffinity) state(c *Cycle) *nodeAffinityState {
	if c.nodeAffinity != nil {
		return c.nodeAffinity
	}
	s := &nodeAffinityState{required: nodeaffinity.GetRequiredNodeAffinity(c.Pod)}
	if a := c.Pod.Spec.Affinity; a != nil && a.NodeAffinity != nil && len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0 {
		s.preferred, s.err = nodeaffinity.NewPreferredSchedulingTerms(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
	}
	c.nodeAffinity = s
	return s
}

func (p nodeAffinity) Filter(c *Cycle, ni *NodeInfo) *Status {
	ok, err := p.state(c).required.Match(ni.Node())
	if err != nil {
		return NewStatus(Error, err.Error())
	}
	if !ok {
		return NewStatus(UnschedulableAndUnresolvable, reasonNodeAffinity)
	}
	return nil
}

// Score sums the weights of the preferred terms the node matches.
func (p nodeAffinity) Score(c *Cycle, ni *NodeInfo) int64 {
	s := p.state(c)
	if s.preferred == nil || s.err != nil {
		return 0
	}
	return s.preferred.Score(ni.Node())
}

func (nodeAffinity) NormalizeScores(_ *Cycle, scores []int64) { normalizeToMax(scores, false) }

// nodePorts rejects nodes where a host port the pod asks for is taken.
type nodePorts struct{}

var _ FilterPlugin = nodePorts{}

func (nodePorts) Name() string { return nameNodePorts }

func (nodePorts) Filter(c *Cycle, ni *NodeInfo) *Status {
	for _, want := range c.PodInfo.ports {
		for _, used := range ni.ports {
			if want.conflicts(used) {
				return NewStatus(Unschedulable, reasonPortsTaken)
			}
		}
	}
	return nil
}
