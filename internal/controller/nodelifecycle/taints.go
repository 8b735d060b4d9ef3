package nodelifecycle

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
)

// conditionTaint maps a node condition in a given status to the
// NoSchedule taint it implies (upstream's taint-by-condition table).
type conditionTaint struct {
	condition corev1.NodeConditionType
	status    corev1.ConditionStatus
	taintKey  string
}

var conditionTaints = []conditionTaint{
	{corev1.NodeReady, corev1.ConditionFalse, corev1.TaintNodeNotReady},
	{corev1.NodeReady, corev1.ConditionUnknown, corev1.TaintNodeUnreachable},
	{corev1.NodeMemoryPressure, corev1.ConditionTrue, corev1.TaintNodeMemoryPressure},
	{corev1.NodeDiskPressure, corev1.ConditionTrue, corev1.TaintNodeDiskPressure},
	{corev1.NodeNetworkUnavailable, corev1.ConditionTrue, corev1.TaintNodeNetworkUnavailable},
	{corev1.NodePIDPressure, corev1.ConditionTrue, corev1.TaintNodePIDPressure},
}

// managedTaint reports whether this controller owns a taint: it adds and
// removes it by the node's conditions.
func managedTaint(t corev1.Taint) bool {
	switch t.Effect {
	case corev1.TaintEffectNoExecute:
		return t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable
	case corev1.TaintEffectNoSchedule:
		if t.Key == corev1.TaintNodeUnschedulable {
			return true
		}
		for _, ct := range conditionTaints {
			if ct.taintKey == t.Key {
				return true
			}
		}
	}
	return false
}

// wantedTaints returns the taints the node's conditions and spec call
// for (timeAdded not set).
func wantedTaints(node *corev1.Node) []corev1.Taint {
	var out []corev1.Taint
	for _, ct := range conditionTaints {
		if c := condition(node, ct.condition); c != nil && c.Status == ct.status {
			out = append(out, corev1.Taint{Key: ct.taintKey, Effect: corev1.TaintEffectNoSchedule})
		}
	}
	if node.Spec.Unschedulable {
		out = append(out, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule})
	}
	if ready := condition(node, corev1.NodeReady); ready != nil {
		switch ready.Status {
		case corev1.ConditionFalse:
			out = append(out, corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute})
		case corev1.ConditionUnknown:
			out = append(out, corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute})
		}
	}
	return out
}

// desiredTaints returns the node's taints with the managed ones replaced
// by the wanted ones. Taints kept keep their timeAdded; new NoExecute
// taints get now.
func desiredTaints(node *corev1.Node, now metav1.Time) []corev1.Taint {
	var out []corev1.Taint
	existing := map[string]corev1.Taint{}
	for _, t := range node.Spec.Taints {
		if managedTaint(t) {
			existing[t.Key+":"+string(t.Effect)] = t
			continue
		}
		out = append(out, t)
	}
	for _, want := range wantedTaints(node) {
		if have, ok := existing[want.Key+":"+string(want.Effect)]; ok {
			out = append(out, have)
			continue
		}
		if want.Effect == corev1.TaintEffectNoExecute {
			added := now
			want.TimeAdded = &added
		}
		out = append(out, want)
	}
	return out
}

// noExecuteTaints returns the NoExecute taints of a list.
func noExecuteTaints(taints []corev1.Taint) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			out = append(out, t)
		}
	}
	return out
}

// syncTaints makes a node's managed taints match its conditions,
// rereading the node on a write conflict.
func (c *Controller) syncTaints(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("nodelifecycle: reading node %s: %w", name, err)
	}
	first := true
	err = retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		if !first {
			fresh, err := c.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			node = fresh
		}
		first = false
		want := desiredTaints(node, metav1.NewTime(c.cfg.Clock.Now()))
		if apiequality.Semantic.DeepEqual(want, node.Spec.Taints) {
			return nil
		}
		updated := node.DeepCopy()
		updated.Spec.Taints = want
		if _, err := c.client.CoreV1().Nodes().Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
			return err
		}
		klog.FromContext(ctx).V(2).Info("Updated node taints", "node", klog.KObj(node), "taints", want)
		return nil
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("nodelifecycle: updating taints of node %s: %w", name, err)
	}
	return nil
}
