package deployment

import (
	"context"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/klog/v2"
)

// rolloutRolling advances a RollingUpdate one step: scale the new
// ReplicaSet up within maxSurge, or else old ones down within
// maxUnavailable; when done, clean up old revisions.
func (c *Controller) rolloutRolling(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, oldRSs, err := c.replicaSetsAndSyncRevision(ctx, d, rsList, true)
	if err != nil {
		return err
	}
	all := append(oldRSs, newRS)

	scaledUp, err := c.reconcileNewReplicaSet(ctx, d, all, newRS)
	if err != nil {
		return err
	}
	if scaledUp {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	scaledDown, err := c.reconcileOldReplicaSets(ctx, d, all, activeReplicaSets(oldRSs), newRS)
	if err != nil {
		return err
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	if deploymentComplete(d, &d.Status) {
		if err := c.cleanup(ctx, d, oldRSs); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, all, newRS)
}

// reconcileNewReplicaSet grows (or shrinks, if above spec.replicas) the
// new ReplicaSet as far as maxSurge allows.
func (c *Controller) reconcileNewReplicaSet(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (bool, error) {
	switch {
	case rsReplicas(newRS) == replicas(d):
		return false, nil
	case rsReplicas(newRS) > replicas(d):
		scaled, _, err := c.scaleAndRecord(ctx, newRS, replicas(d), d)
		return scaled, err
	}
	size, err := newRSReplicas(d, all, newRS)
	if err != nil {
		return false, err
	}
	scaled, _, err := c.scaleAndRecord(ctx, newRS, size, d)
	return scaled, err
}

// reconcileOldReplicaSets shrinks old ReplicaSets while the available
// pods stay at or above replicas-maxUnavailable: first their unavailable
// pods (which cost no availability), then available ones.
func (c *Controller) reconcileOldReplicaSets(ctx context.Context, d *appsv1.Deployment, all, oldRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (bool, error) {
	logger := klog.FromContext(ctx)
	if sumSpecReplicas(oldRSs) == 0 {
		return false, nil
	}
	minAvailable := replicas(d) - MaxUnavailable(d)
	newUnavailable := rsReplicas(newRS) - newRS.Status.AvailableReplicas
	// Pods the old ReplicaSets may lose: everything above minAvailable,
	// not counting new pods that are not available yet (they may never
	// be, and must not be relied on).
	maxScaledDown := sumSpecReplicas(all) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false, nil
	}
	oldRSs, cleaned, err := c.cleanupUnhealthyReplicas(ctx, d, oldRSs, maxScaledDown)
	if err != nil {
		return false, err
	}
	logger.V(4).Info("cleaned up unhealthy replicas of old replica sets", "deployment", klog.KObj(d), "count", cleaned)
	all = append(oldRSs, newRS)
	scaledDown, err := c.scaleDownOldForRollingUpdate(ctx, d, all, oldRSs)
	if err != nil {
		return false, err
	}
	return cleaned+scaledDown > 0, nil
}

// cleanupUnhealthyReplicas removes up to maxCleanup unavailable replicas
// from old ReplicaSets, oldest first.
func (c *Controller) cleanupUnhealthyReplicas(ctx context.Context, d *appsv1.Deployment, oldRSs []*appsv1.ReplicaSet, maxCleanup int32) ([]*appsv1.ReplicaSet, int32, error) {
	sort.Sort(byCreation(oldRSs))
	var total int32
	for i, rs := range oldRSs {
		if total >= maxCleanup {
			break
		}
		if rsReplicas(rs) == 0 || rsReplicas(rs) == rs.Status.AvailableReplicas {
			continue
		}
		down := min(maxCleanup-total, rsReplicas(rs)-rs.Status.AvailableReplicas)
		size := rsReplicas(rs) - down
		if size > rsReplicas(rs) {
			return nil, 0, fmt.Errorf("deployment: cleaning up %s/%s would grow it from %d to %d", rs.Namespace, rs.Name, rsReplicas(rs), size)
		}
		_, updated, err := c.scaleAndRecord(ctx, rs, size, d)
		if err != nil {
			return nil, total, err
		}
		total += down
		oldRSs[i] = updated
	}
	return oldRSs, total, nil
}

// scaleDownOldForRollingUpdate removes available replicas from old
// ReplicaSets, oldest first, down to replicas-maxUnavailable available in
// total.
func (c *Controller) scaleDownOldForRollingUpdate(ctx context.Context, d *appsv1.Deployment, all, oldRSs []*appsv1.ReplicaSet) (int32, error) {
	minAvailable := replicas(d) - MaxUnavailable(d)
	available := sumStatus(all, statusAvailable)
	if available <= minAvailable {
		return 0, nil
	}
	sort.Sort(byCreation(oldRSs))
	want := available - minAvailable
	var total int32
	for _, rs := range oldRSs {
		if total >= want {
			break
		}
		if rsReplicas(rs) == 0 {
			continue
		}
		down := min(rsReplicas(rs), want-total)
		if _, _, err := c.scaleAndRecord(ctx, rs, rsReplicas(rs)-down, d); err != nil {
			return total, err
		}
		total += down
	}
	return total, nil
}
