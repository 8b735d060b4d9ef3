package nodelifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/klog/v2"
)

// Reasons and messages of conditions the controller sets, as upstream's.
const (
	reasonStatusUnknown       = "NodeStatusUnknown"
	messageStatusUnknown      = "Kubelet stopped posting node status."
	reasonStatusNeverUpdated  = "NodeStatusNeverUpdated"
	messageStatusNeverUpdated = "Kubelet never posted node status."
)

// conditionsMarkedUnknown are the node conditions set to Unknown when a
// node goes silent.
var conditionsMarkedUnknown = []corev1.NodeConditionType{
	corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure,
}

// nodeHealth is what the monitor last saw of a node.
type nodeHealth struct {
	// heartbeat is the Ready condition's lastHeartbeatTime (zero: none).
	heartbeat metav1.Time
	// leaseRenew is the Lease's renewTime (zero: no Lease).
	leaseRenew time.Time
	// probed is when, by this controller's clock, heartbeat or lease
	// last changed.
	probed time.Time
}

// monitor checks every node once: a node silent for longer than its
// grace period gets its conditions set to Unknown and its pods marked
// not ready.
func (c *Controller) monitor(ctx context.Context) error {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("nodelifecycle: listing nodes: %w", err)
	}
	present := map[string]bool{}
	var errs []error
	for _, node := range nodes {
		present[node.Name] = true
		if err := c.checkNode(ctx, node); err != nil {
			errs = append(errs, err)
		}
	}
	c.mu.Lock()
	for name := range c.health {
		if !present[name] {
			delete(c.health, name)
			delete(c.retryMarkPods, name)
		}
	}
	c.mu.Unlock()
	return errors.Join(errs...)
}

// checkNode updates what is known of one node and marks it Unknown when
// it has been silent too long.
func (c *Controller) checkNode(ctx context.Context, node *corev1.Node) error {
	logger := klog.FromContext(ctx)
	now := c.cfg.Clock.Now()
	ready := condition(node, corev1.NodeReady)
	grace := c.cfg.GracePeriod
	var heartbeat metav1.Time
	if ready == nil {
		grace = c.cfg.StartupGracePeriod
		heartbeat = node.CreationTimestamp
	} else {
		heartbeat = ready.LastHeartbeatTime
	}
	var leaseRenew time.Time
	lease, err := c.leases.Leases(corev1.NamespaceNodeLease).Get(node.Name)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("nodelifecycle: reading lease of %s: %w", node.Name, err)
	}
	if lease != nil && err == nil {
		leaseRenew = renewTime(lease)
	}

	c.mu.Lock()
	h := c.health[node.Name]
	switch {
	case h == nil:
		// First sight (or a restart of this controller): the node gets a
		// whole grace period from now. A node that never reported counts
		// from its creation.
		h = &nodeHealth{heartbeat: heartbeat, leaseRenew: leaseRenew, probed: now}
		if ready == nil && node.CreationTimestamp.Time.Before(now) {
			h.probed = node.CreationTimestamp.Time
		}
		c.health[node.Name] = h
	default:
		if !h.heartbeat.Equal(&heartbeat) {
			h.heartbeat, h.probed = heartbeat, now
		}
		if leaseRenew.After(h.leaseRenew) {
			h.leaseRenew, h.probed = leaseRenew, now
		}
	}
	probed := h.probed
	retry := c.retryMarkPods[node.Name]
	c.mu.Unlock()
	silent := now.After(probed.Add(grace))

	wasReady := ready != nil && ready.Status == corev1.ConditionTrue
	markPods := false
	if silent {
		updated, changed := markUnknown(node, metav1.NewTime(now))
		if changed {
			if _, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("nodelifecycle: marking node %s unknown: %w", node.Name, err)
			}
			logger.Info("Node stopped reporting; marked its status unknown", "node", klog.KObj(node), "silentFor", now.Sub(probed).Round(time.Second))
			if wasReady {
				c.recorder.Eventf(node, corev1.EventTypeNormal, "NodeNotReady", "Node %s status is now: %s", node.Name, "NodeNotReady")
				markPods = true
			}
		}
	}
	// A failed attempt is repeated while the node stays not ready.
	stillNotReady := silent || (ready != nil && ready.Status != corev1.ConditionTrue)
	markPods = markPods || (retry && stillNotReady)
	if !markPods {
		if retry {
			c.mu.Lock()
			delete(c.retryMarkPods, node.Name)
			c.mu.Unlock()
		}
		return nil
	}
	err = c.markPodsNotReady(ctx, node.Name)
	c.mu.Lock()
	if err != nil {
		c.retryMarkPods[node.Name] = true
	} else {
		delete(c.retryMarkPods, node.Name)
	}
	c.mu.Unlock()
	return err
}

// markUnknown returns a copy of node with the watched conditions set to
// Unknown, and whether anything changed. Conditions the node never
// posted are added as never updated.
func markUnknown(node *corev1.Node, now metav1.Time) (*corev1.Node, bool) {
	updated := node.DeepCopy()
	changed := false
	for _, conditionType := range conditionsMarkedUnknown {
		current := condition(updated, conditionType)
		switch {
		case current == nil:
			updated.Status.Conditions = append(updated.Status.Conditions, corev1.NodeCondition{
				Type: conditionType, Status: corev1.ConditionUnknown,
				Reason: reasonStatusNeverUpdated, Message: messageStatusNeverUpdated,
				LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: now,
			})
			changed = true
		case current.Status != corev1.ConditionUnknown:
			current.Status = corev1.ConditionUnknown
			current.Reason, current.Message = reasonStatusUnknown, messageStatusUnknown
			current.LastTransitionTime = now
			changed = true
		}
	}
	return updated, changed
}

// markPodsNotReady sets the Ready condition of every ready pod on a node
// to False, so Services stop sending them traffic.
func (c *Controller) markPodsNotReady(ctx context.Context, nodeName string) error {
	pods, err := c.podsOn(nodeName)
	if err != nil {
		return err
	}
	var errs []error
	for _, pod := range pods {
		updated := pod.DeepCopy()
		changed := false
		for i := range updated.Status.Conditions {
			cond := &updated.Status.Conditions[i]
			if cond.Type == corev1.PodReady && cond.Status != corev1.ConditionFalse {
				cond.Status = corev1.ConditionFalse
				cond.LastTransitionTime = metav1.NewTime(c.cfg.Clock.Now())
				changed = true
			}
		}
		if !changed {
			continue
		}
		_, err := c.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("nodelifecycle: marking pod %s/%s not ready: %w", pod.Namespace, pod.Name, err))
			continue
		}
		klog.FromContext(ctx).V(2).Info("Marked pod not ready", "pod", klog.KObj(pod), "node", nodeName)
		c.recorder.Event(pod, corev1.EventTypeWarning, "NodeNotReady", "Node is not ready")
	}
	return errors.Join(errs...)
}

func condition(node *corev1.Node, conditionType corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == conditionType {
			return &node.Status.Conditions[i]
		}
	}
	return nil
}

func renewTime(lease *coordinationv1.Lease) time.Time {
	if lease.Spec.RenewTime == nil {
		return time.Time{}
	}
	return lease.Spec.RenewTime.Time
}
