package deployment

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/controller"
)

// checkPausedConditions sets Progressing to Unknown with
// DeploymentPaused / DeploymentResumed when spec.paused flips, so that a
// paused Deployment does not time out.
func (c *Controller) checkPausedConditions(ctx context.Context, d *appsv1.Deployment) error {
	if !hasProgressDeadline(d) {
		return nil
	}
	cond := getCondition(&d.Status, appsv1.DeploymentProgressing)
	if cond != nil && cond.Reason == TimedOutReason {
		// A timed-out rollout stays timed out until a new one.
		return nil
	}
	pausedNoted := cond != nil && cond.Reason == PausedDeployReason
	switch {
	case d.Spec.Paused && !pausedNoted:
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, PausedDeployReason, "Deployment is paused", c.now()))
	case !d.Spec.Paused && pausedNoted:
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, ResumedDeployReason, "Deployment is resumed", c.now()))
	default:
		return nil
	}
	return c.updateStatus(ctx, d)
}

// isScalingEvent reports whether only spec.replicas changed since the
// ReplicaSets were last sized: an active one records another desired
// size than spec.replicas.
func (c *Controller) isScalingEvent(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (bool, error) {
	newRS, oldRSs, err := c.replicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return false, err
	}
	for _, rs := range activeReplicaSets(append(oldRSs, newRS)) {
		desired, err := strconv.ParseInt(rs.Annotations[DesiredReplicasAnnotation], 10, 32)
		if err != nil {
			continue
		}
		if int32(desired) != replicas(d) {
			return true, nil
		}
	}
	return false, nil
}

// syncScale resizes the ReplicaSets for a scaling event or a paused
// Deployment, without rolling anything out.
func (c *Controller) syncScale(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, oldRSs, err := c.replicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	if err := c.scale(ctx, d, newRS, oldRSs); err != nil {
		return err
	}
	if d.Spec.Paused {
		if err := c.cleanup(ctx, d, oldRSs); err != nil {
			return err
		}
	}
	return c.syncDeploymentStatus(ctx, d, append(oldRSs, newRS), newRS)
}

// syncStatusOnly writes the status of a Deployment being deleted.
func (c *Controller) syncStatusOnly(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, oldRSs, err := c.replicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	return c.syncDeploymentStatus(ctx, d, append(oldRSs, newRS), newRS)
}

// replicaSetsAndSyncRevision returns the new ReplicaSet (created when
// create is set and none exists; else possibly nil) and the old ones,
// and brings revisions up to date on both sides.
func (c *Controller) replicaSetsAndSyncRevision(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet, error) {
	oldRSs := findOldReplicaSets(d, rsList)
	newRS, err := c.newReplicaSet(ctx, d, rsList, oldRSs, create)
	if err != nil {
		return nil, nil, err
	}
	return newRS, oldRSs, nil
}

// newReplicaSet finds the ReplicaSet for the Deployment's template and
// brings its annotations, minReadySeconds and revision up to date, or
// creates it when create is set.
func (c *Controller) newReplicaSet(ctx context.Context, d *appsv1.Deployment, rsList, oldRSs []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, error) {
	logger := klog.FromContext(ctx)
	existing := findNewReplicaSet(d, rsList)
	newRevision := maxRevision(oldRSs) + 1

	if existing != nil {
		rs := existing.DeepCopy()
		annotationsChanged := setNewReplicaSetAnnotations(d, rs, newRevision, true)
		if annotationsChanged || rs.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
			rs.Spec.MinReadySeconds = d.Spec.MinReadySeconds
			updated, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, rs, metav1.UpdateOptions{})
			if err != nil {
				return nil, fmt.Errorf("deployment: updating replica set %s/%s: %w", rs.Namespace, rs.Name, err)
			}
			// Later steps of this sync look the list up again; let
			// them see what is stored, not the cache's older copy.
			for i := range rsList {
				if rsList[i].UID == updated.UID {
					rsList[i] = updated
				}
			}
			// The revision reaches the Deployment on the sync this
			// update triggers.
			return updated, nil
		}
		needsUpdate := setDeploymentRevision(d, rs.Annotations[RevisionAnnotation])
		if hasProgressDeadline(d) && getCondition(&d.Status, appsv1.DeploymentProgressing) == nil {
			msg := fmt.Sprintf("Found new replica set %q", rs.Name)
			setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, FoundNewRSReason, msg, c.now()))
			needsUpdate = true
		}
		if needsUpdate {
			if err := c.updateStatus(ctx, d); err != nil {
				return nil, err
			}
		}
		return rs, nil
	}
	if !create {
		return nil, nil
	}

	hash := controller.ComputeHash(&d.Spec.Template, d.Status.CollisionCount)
	template := *d.Spec.Template.DeepCopy()
	template.Labels = withLabel(d.Spec.Template.Labels, appsv1.DefaultDeploymentUniqueLabelKey, hash)
	selector := d.Spec.Selector.DeepCopy()
	selector.MatchLabels = withLabel(selector.MatchLabels, appsv1.DefaultDeploymentUniqueLabelKey, hash)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            d.Name + "-" + hash,
			Namespace:       d.Namespace,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, controllerKind)},
			Labels:          template.Labels,
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        ptr.To[int32](0),
			MinReadySeconds: d.Spec.MinReadySeconds,
			Selector:        selector,
			Template:        template,
		},
	}
	size, err := newRSReplicas(d, append(oldRSs, rs), rs)
	if err != nil {
		return nil, err
	}
	rs.Spec.Replicas = ptr.To(size)
	setNewReplicaSetAnnotations(d, rs, newRevision, false)

	created, err := c.client.AppsV1().ReplicaSets(d.Namespace).Create(ctx, rs, metav1.CreateOptions{})
	alreadyExisted := false
	switch {
	case apierrors.IsAlreadyExists(err):
		alreadyExisted = true
		found, getErr := c.rsLister.ReplicaSets(rs.Namespace).Get(rs.Name)
		if getErr != nil {
			return nil, fmt.Errorf("deployment: replica set %s/%s exists but is not cached: %w", rs.Namespace, rs.Name, getErr)
		}
		// Ours with our template: an earlier create whose event has
		// not reached us.
		if ref := metav1.GetControllerOfNoCopy(found); ref != nil && ref.UID == d.UID && EqualIgnoreHash(&d.Spec.Template, &found.Spec.Template) {
			created, err = found, nil
			break
		}
		// A different template hashed to the same name: salt the hash
		// and try again on the next sync.
		if d.Status.CollisionCount == nil {
			d.Status.CollisionCount = ptr.To[int32](0)
		}
		*d.Status.CollisionCount++
		if statusErr := c.updateStatus(ctx, d); statusErr == nil {
			logger.V(2).Info("hash collision, bumping collisionCount", "deployment", klog.KObj(d), "collisionCount", *d.Status.CollisionCount)
		}
		return nil, fmt.Errorf("deployment: replica set name %s/%s collides: %w", rs.Namespace, rs.Name, err)
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return nil, fmt.Errorf("deployment: creating replica set %s/%s: %w", rs.Namespace, rs.Name, err)
	case err != nil:
		msg := fmt.Sprintf("Failed to create new replica set %q: %v", rs.Name, err)
		if hasProgressDeadline(d) {
			setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, FailedRSCreateReason, msg, c.now()))
			// The create error is what matters; a failed status
			// write is retried with it.
			_ = c.updateStatus(ctx, d)
		}
		c.recorder.Event(d, corev1.EventTypeWarning, FailedRSCreateReason, msg)
		return nil, fmt.Errorf("deployment: creating replica set %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	if !alreadyExisted && size > 0 {
		c.recorder.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled up replica set %s from 0 to %d", created.Name, size)
	}
	needsUpdate := setDeploymentRevision(d, strconv.FormatInt(newRevision, 10))
	if !alreadyExisted && hasProgressDeadline(d) {
		msg := fmt.Sprintf("Created new replica set %q", created.Name)
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, NewReplicaSetReason, msg, c.now()))
		needsUpdate = true
	}
	if needsUpdate {
		if err := c.updateStatus(ctx, d); err != nil {
			return nil, err
		}
	}
	return created, nil
}

func withLabel(in map[string]string, key, value string) map[string]string {
	out := make(map[string]string, len(in)+1)
	for k, v := range in {
		out[k] = v
	}
	out[key] = value
	return out
}

// setDeploymentRevision sets the revision annotation of d; it reports
// whether it changed.
func setDeploymentRevision(d *appsv1.Deployment, rev string) bool {
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	if d.Annotations[RevisionAnnotation] == rev {
		return false
	}
	d.Annotations[RevisionAnnotation] = rev
	return true
}

// scale sizes the ReplicaSets to spec.replicas: all to the only active
// (or newest) one; old ones to 0 once the new one is saturated; otherwise,
// during a rolling update, spread the change over all active ones in
// proportion to their size.
func (c *Controller) scale(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) error {
	if target := findActiveOrLatest(newRS, oldRSs); target != nil {
		if rsReplicas(target) == replicas(d) {
			return nil
		}
		_, _, err := c.scaleAndRecord(ctx, target, replicas(d), d)
		return err
	}
	if isSaturated(d, newRS) {
		for _, old := range activeReplicaSets(oldRSs) {
			if _, _, err := c.scaleAndRecord(ctx, old, 0, d); err != nil {
				return err
			}
		}
		return nil
	}
	if !isRollingUpdate(d) {
		return nil
	}
	all := activeReplicaSets(append(oldRSs, newRS))
	var allowed int32
	if replicas(d) > 0 {
		allowed = replicas(d) + MaxSurge(d)
	}
	toAdd := allowed - sumSpecReplicas(all)
	operation := ""
	switch {
	case toAdd > 0:
		sort.Sort(bySizeNewer(all))
		operation = "up"
	case toAdd < 0:
		sort.Sort(bySizeOlder(all))
		operation = "down"
	}
	sizes := make(map[string]int32, len(all))
	var added int32
	for _, rs := range all {
		share := proportion(rs, d, toAdd, added)
		sizes[rs.Name] = rsReplicas(rs) + share
		added += share
	}
	for i, rs := range all {
		// Rounding leftovers go to the largest.
		if i == 0 && toAdd != 0 {
			sizes[rs.Name] = max(sizes[rs.Name]+toAdd-added, 0)
		}
		if _, _, err := c.scaleReplicaSet(ctx, rs, sizes[rs.Name], d, operation); err != nil {
			return err
		}
	}
	return nil
}

// scaleAndRecord sets rs to size replicas, recording the event.
func (c *Controller) scaleAndRecord(ctx context.Context, rs *appsv1.ReplicaSet, size int32, d *appsv1.Deployment) (bool, *appsv1.ReplicaSet, error) {
	if rsReplicas(rs) == size {
		return false, rs, nil
	}
	operation := "down"
	if rsReplicas(rs) < size {
		operation = "up"
	}
	return c.scaleReplicaSet(ctx, rs, size, d, operation)
}

// scaleReplicaSet writes size and the Deployment's size annotations to rs
// when either differs; a size change records ScalingReplicaSet.
func (c *Controller) scaleReplicaSet(ctx context.Context, rs *appsv1.ReplicaSet, size int32, d *appsv1.Deployment, operation string) (bool, *appsv1.ReplicaSet, error) {
	sizeChanged := rsReplicas(rs) != size
	maxReplicas := replicas(d) + MaxSurge(d)
	if !sizeChanged && !replicasAnnotationsNeedUpdate(rs, replicas(d), maxReplicas) {
		return false, rs, nil
	}
	from := rsReplicas(rs)
	next := rs.DeepCopy()
	next.Spec.Replicas = ptr.To(size)
	setReplicasAnnotations(next, replicas(d), maxReplicas)
	updated, err := c.client.AppsV1().ReplicaSets(next.Namespace).Update(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		return false, rs, fmt.Errorf("deployment: scaling replica set %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	if sizeChanged {
		c.recorder.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled %s replica set %s from %d to %d", operation, rs.Name, from, size)
	}
	return sizeChanged, updated, nil
}

// cleanup deletes the oldest scaled-down ReplicaSets beyond
// revisionHistoryLimit.
func (c *Controller) cleanup(ctx context.Context, d *appsv1.Deployment, oldRSs []*appsv1.ReplicaSet) error {
	if !hasRevisionHistoryLimit(d) {
		return nil
	}
	var alive []*appsv1.ReplicaSet
	for _, rs := range oldRSs {
		if rs != nil && rs.DeletionTimestamp == nil {
			alive = append(alive, rs)
		}
	}
	surplus := len(alive) - int(*d.Spec.RevisionHistoryLimit)
	if surplus <= 0 {
		return nil
	}
	sort.Sort(byRevision(alive))
	for _, rs := range alive[:surplus] {
		// Only ReplicaSets that are empty and known to be.
		if rs.Status.Replicas != 0 || rsReplicas(rs) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		klog.FromContext(ctx).V(4).Info("deleting old replica set", "replicaSet", klog.KObj(rs), "deployment", klog.KObj(d))
		uid := rs.UID
		err := c.client.AppsV1().ReplicaSets(rs.Namespace).Delete(ctx, rs.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deployment: deleting old replica set %s/%s: %w", rs.Namespace, rs.Name, err)
		}
	}
	return nil
}

// calculateStatus derives the Deployment's status from its ReplicaSets.
func (c *Controller) calculateStatus(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) appsv1.DeploymentStatus {
	available := sumStatus(all, statusAvailable)
	status := appsv1.DeploymentStatus{
		ObservedGeneration:  d.Generation,
		Replicas:            sumStatus(all, statusReplicas),
		UpdatedReplicas:     sumStatus([]*appsv1.ReplicaSet{newRS}, statusReplicas),
		ReadyReplicas:       sumStatus(all, statusReady),
		AvailableReplicas:   available,
		UnavailableReplicas: max(sumSpecReplicas(all)-available, 0),
		TerminatingReplicas: sumTerminating(all),
		CollisionCount:      d.Status.CollisionCount,
		Conditions:          append([]appsv1.DeploymentCondition(nil), d.Status.Conditions...),
	}
	if available >= replicas(d)-MaxUnavailable(d) {
		setCondition(&status, newCondition(appsv1.DeploymentAvailable, corev1.ConditionTrue, MinimumReplicasAvailable, "Deployment has minimum availability.", c.now()))
	} else {
		setCondition(&status, newCondition(appsv1.DeploymentAvailable, corev1.ConditionFalse, MinimumReplicasUnavailable, "Deployment does not have minimum availability.", c.now()))
	}
	return status
}

// syncDeploymentStatus writes the calculated status if it changed.
func (c *Controller) syncDeploymentStatus(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	status := c.calculateStatus(d, all, newRS)
	if apiequality.Semantic.DeepEqual(d.Status, status) {
		return nil
	}
	d.Status = status
	return c.updateStatus(ctx, d)
}

// updateStatus writes d's status and leaves the stored Deployment in d.
//
// Upstream's status subresource of Deployments also stores annotation
// changes, and the revision annotation reaches the Deployment that way.
// When the API server drops them instead, the revision is written with a
// metadata patch on the Deployment itself.
func (c *Controller) updateStatus(ctx context.Context, d *appsv1.Deployment) error {
	client := c.client.AppsV1().Deployments(d.Namespace)
	updated, err := client.UpdateStatus(ctx, d, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("deployment: updating status of %s/%s: %w", d.Namespace, d.Name, err)
	}
	want, wanted := d.Annotations[RevisionAnnotation]
	if wanted && updated.Annotations[RevisionAnnotation] != want {
		patch, err := json.Marshal(map[string]interface{}{
			"metadata": map[string]interface{}{
				"annotations":     map[string]string{RevisionAnnotation: want},
				"resourceVersion": updated.ResourceVersion,
			},
		})
		if err != nil {
			return fmt.Errorf("deployment: revision patch: %w", err)
		}
		updated, err = client.Patch(ctx, d.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		if err != nil {
			return fmt.Errorf("deployment: setting revision of %s/%s: %w", d.Namespace, d.Name, err)
		}
	}
	*d = *updated
	return nil
}
