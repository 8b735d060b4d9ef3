package volume

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
)

// Event reasons on volumes, as upstream's PV controller records them.
const (
	reasonVolumeFailedDelete  = "VolumeFailedDelete"
	reasonVolumeFailedRecycle = "VolumeFailedRecycle"
)

// syncVolume keeps one volume's phase right and reclaims it once its
// claim is gone.
func (c *Controller) syncVolume(ctx context.Context, name string) error {
	pv, err := c.volumes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("volume: reading volume %s: %w", name, err)
	}
	if pv.DeletionTimestamp != nil {
		return nil
	}
	ref := pv.Spec.ClaimRef
	if ref == nil || ref.UID == "" {
		// Free, or pre-bound by a user to a claim not bound yet.
		if pv.Status.Phase == corev1.VolumeAvailable {
			return nil
		}
		_, err := c.setVolumePhase(ctx, pv, corev1.VolumeAvailable, "")
		return err
	}
	claim, err := c.claims.PersistentVolumeClaims(ref.Namespace).Get(ref.Name)
	if apierrors.IsNotFound(err) {
		// The lister may lag behind a claim created a moment ago; ask
		// the API server before releasing the volume.
		claim, err = c.client.CoreV1().PersistentVolumeClaims(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			claim, err = nil, nil
		}
	}
	if err != nil {
		return fmt.Errorf("volume: reading claim %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	if claim == nil || claim.UID != ref.UID {
		return c.reclaim(ctx, pv)
	}
	switch claim.Spec.VolumeName {
	case "":
		// The claim sync binds it; keep a new volume out of Pending.
		if pv.Status.Phase == corev1.VolumePending {
			_, err := c.setVolumePhase(ctx, pv, corev1.VolumeAvailable, "")
			return err
		}
		return nil
	case pv.Name:
		if pv.Status.Phase == corev1.VolumeBound {
			return nil
		}
		_, err := c.setVolumePhase(ctx, pv, corev1.VolumeBound, "")
		return err
	default:
		// The claim is bound to another volume. A binding the controller
		// made is undone; one a user made stays, waiting.
		if pv.Annotations[annBoundByController] == "" {
			return nil
		}
		return c.unbind(ctx, pv)
	}
}

// reclaim handles a volume whose claim is gone: it turns Released and its
// reclaim policy decides the rest.
func (c *Controller) reclaim(ctx context.Context, pv *corev1.PersistentVolume) error {
	logger := klog.FromContext(ctx)
	if pv.Status.Phase != corev1.VolumeReleased && pv.Status.Phase != corev1.VolumeFailed {
		var err error
		if pv, err = c.setVolumePhase(ctx, pv, corev1.VolumeReleased, ""); err != nil {
			return err
		}
	}
	switch pv.Spec.PersistentVolumeReclaimPolicy {
	case corev1.PersistentVolumeReclaimRetain:
		return nil
	case corev1.PersistentVolumeReclaimDelete:
		provisioner := pv.Annotations[annDynamicallyProvisioned]
		switch {
		case provisioner == LocalPathProvisioner:
			uid := pv.UID
			err := c.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return fmt.Errorf("volume: deleting released volume %s: %w", pv.Name, err)
			}
			logger.V(2).Info("deleted released volume", "volume", pv.Name)
			return nil
		case provisioner != "":
			// Another provisioner made it; deleting it is its job.
			return nil
		case pv.Status.Phase == corev1.VolumeFailed:
			return nil
		}
		msg := fmt.Sprintf("error getting deleter volume plugin for volume %q: no deletable volume plugin matched", pv.Name)
		c.recorder.Event(pv, corev1.EventTypeWarning, reasonVolumeFailedDelete, msg)
		_, err := c.setVolumePhase(ctx, pv, corev1.VolumeFailed, msg)
		return err
	default:
		if pv.Status.Phase == corev1.VolumeFailed {
			return nil
		}
		msg := fmt.Sprintf("No recycler plugin found for the volume %q", pv.Name)
		c.recorder.Event(pv, corev1.EventTypeWarning, reasonVolumeFailedRecycle, msg)
		_, err := c.setVolumePhase(ctx, pv, corev1.VolumeFailed, msg)
		return err
	}
}

// unbind clears a claimRef the controller set, making the volume
// Available again.
func (c *Controller) unbind(ctx context.Context, pv *corev1.PersistentVolume) error {
	updated := pv.DeepCopy()
	updated.Spec.ClaimRef = nil
	delete(updated.Annotations, annBoundByController)
	pv, err := c.client.CoreV1().PersistentVolumes().Update(ctx, updated, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("volume: unbinding volume %s: %w", updated.Name, err)
	}
	_, err = c.setVolumePhase(ctx, pv, corev1.VolumeAvailable, "")
	return err
}

// setVolumePhase writes a volume's phase and message and returns the
// stored volume.
func (c *Controller) setVolumePhase(ctx context.Context, pv *corev1.PersistentVolume, phase corev1.PersistentVolumePhase, message string) (*corev1.PersistentVolume, error) {
	if pv.Status.Phase == phase && pv.Status.Message == message {
		return pv, nil
	}
	updated := pv.DeepCopy()
	updated.Status.Phase = phase
	updated.Status.Message = message
	stored, err := c.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("volume: setting volume %s %s: %w", pv.Name, phase, err)
	}
	klog.FromContext(ctx).V(2).Info("volume phase changed", "volume", pv.Name, "phase", phase)
	return stored, nil
}
