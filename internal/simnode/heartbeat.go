package simnode

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
)

// heartbeatBatches splits the nodes into groups renewed one after the
// other across the interval, so that a thousand nodes cost a steady
// hundred Lease updates a second rather than a burst every ten seconds.
const heartbeatBatches = 10

// heartbeat renews the nodes' Leases, one batch per tick, until ctx ends.
func (s *Simulator) heartbeat(ctx context.Context) {
	batches := min(heartbeatBatches, len(s.nodes))
	ticker := time.NewTicker(s.cfg.HeartbeatInterval / time.Duration(batches))
	defer ticker.Stop()
	groups := make([][]*simNode, batches)
	for _, n := range s.nodes {
		groups[n.index%batches] = append(groups[n.index%batches], n)
	}
	for next := 0; ; next = (next + 1) % batches {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		_ = s.forEachNode(ctx, groups[next], func(ctx context.Context, n *simNode) error {
			s.beat(ctx, n)
			return nil
		})
	}
}

// renewAll renews every node's Lease once (at start).
func (s *Simulator) renewAll(ctx context.Context) {
	_ = s.forEachNode(ctx, s.nodes, func(ctx context.Context, n *simNode) error {
		if err := s.renewLease(ctx, n); err != nil && ctx.Err() == nil {
			klog.FromContext(ctx).Error(err, "renewing lease", "node", n.name)
		}
		return nil
	})
}

// beat is one heartbeat of a live node: renew its Lease, report its
// status when it is due or was changed by someone else (a node lifecycle
// controller marking it NotReady), and catch up with its pods after a
// ResumeNode.
func (s *Simulator) beat(ctx context.Context, n *simNode) {
	if n.stopped.Load() {
		return
	}
	logger := klog.FromContext(ctx)
	// A beat cut short because the simulator stops is not an error.
	if err := s.renewLease(ctx, n); err != nil && ctx.Err() == nil {
		logger.Error(err, "renewing lease", "node", n.name)
	}
	if err := s.reportStatus(ctx, n); err != nil && ctx.Err() == nil {
		logger.Error(err, "reporting node status", "node", n.name)
	}
	if n.resync.Swap(false) {
		pods, _ := s.podsIdx.ByIndex(podsByNodeIndex, n.name)
		for _, obj := range pods {
			s.onPod(obj)
		}
	}
}

// renewLease writes the node's Lease with a fresh renewTime, creating it
// when missing; it reuses the last written object to save a read.
func (s *Simulator) renewLease(ctx context.Context, n *simNode) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	leases := s.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	if n.lease != nil {
		l := n.lease.DeepCopy()
		l.Spec.RenewTime = &now
		updated, err := leases.Update(ctx, l, metav1.UpdateOptions{})
		if err == nil {
			n.lease = updated
			return nil
		}
		if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			return fmt.Errorf("simnode: renewing lease of %s: %w", n.name, err)
		}
		n.lease = nil // changed or deleted by someone else: start over
	}
	current, err := leases.Get(ctx, n.name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		created, err := leases.Create(ctx, s.leaseObject(n, now), metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("simnode: creating lease of %s: %w", n.name, err)
		}
		n.lease = created
		return nil
	case err != nil:
		return fmt.Errorf("simnode: reading lease of %s: %w", n.name, err)
	}
	l := current.DeepCopy()
	want := s.leaseObject(n, now)
	l.Spec = want.Spec
	l.OwnerReferences = want.OwnerReferences
	updated, err := leases.Update(ctx, l, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("simnode: renewing lease of %s: %w", n.name, err)
	}
	n.lease = updated
	return nil
}

// leaseObject is the node Lease a kubelet keeps; it is owned by the Node
// so that deleting the node deletes it. Callers hold n.mu.
func (s *Simulator) leaseObject(n *simNode, now metav1.MicroTime) *coordinationv1.Lease {
	holder := n.name
	duration := int32(leaseDurationSeconds)
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: n.name, Namespace: corev1.NamespaceNodeLease},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity: &holder, LeaseDurationSeconds: &duration, RenewTime: &now,
		},
	}
	if n.uid != "" {
		l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: n.name, UID: n.uid}}
	}
	return l
}

// reportStatus updates the node's status when it is not Ready (someone
// marked it so) or its last report is older than statusReportInterval.
func (s *Simulator) reportStatus(ctx context.Context, n *simNode) error {
	node, err := s.nodeLst.Get(n.name)
	if err != nil {
		// Deleted by a user: a kubelet does not register again until it
		// restarts, and neither does the simulator.
		return nil
	}
	now := metav1.Now()
	if ready := readyCondition(node); ready != nil && ready.Status == corev1.ConditionTrue &&
		now.Sub(ready.LastHeartbeatTime.Time) < statusReportInterval {
		return nil
	}
	updated := node.DeepCopy()
	updated.Status.Conditions = mergeConditions(node.Status.Conditions, nodeConditions(now))
	if _, err := s.client.CoreV1().Nodes().UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) {
		return fmt.Errorf("simnode: reporting status of node %s: %w", n.name, err)
	}
	return nil
}

func readyCondition(node *corev1.Node) *corev1.NodeCondition {
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == corev1.NodeReady {
			return &node.Status.Conditions[i]
		}
	}
	return nil
}
