package volume

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/controller"
)

// Event reasons on claims, as upstream's PV controller records them.
const (
	reasonFailedBinding         = "FailedBinding"
	reasonWaitForFirstConsumer  = "WaitForFirstConsumer"
	reasonExternalProvisioning  = "ExternalProvisioning"
	reasonProvisioning          = "Provisioning"
	reasonProvisioningSucceeded = "ProvisioningSucceeded"
	reasonProvisioningFailed    = "ProvisioningFailed"
	reasonClaimLost             = "ClaimLost"
	reasonClaimMisbound         = "ClaimMisbound"
)

// syncClaim drives one claim (key "namespace/name") toward Bound.
func (c *Controller) syncClaim(ctx context.Context, key string) error {
	namespace, name, err := controller.SplitKey(key)
	if err != nil {
		return nil
	}
	claim, err := c.claims.PersistentVolumeClaims(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("volume: reading claim %s: %w", key, err)
	}
	if claim.Spec.VolumeName == "" {
		return c.syncUnboundClaim(ctx, claim)
	}
	return c.syncBoundClaim(ctx, claim)
}

// syncUnboundClaim finds, or provisions, a volume for a claim that names
// none.
func (c *Controller) syncUnboundClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	logger := klog.FromContext(ctx)
	if claim.DeletionTimestamp != nil {
		return nil
	}
	if !storagehelpers.PersistentVolumeClaimHasClass(claim) {
		assigned, err := c.assignDefaultClass(ctx, claim)
		if err != nil || assigned {
			// The update brings the claim back with its class.
			return err
		}
	}
	className := storagehelpers.GetPersistentVolumeClaimClass(claim)
	var class *storagev1.StorageClass
	if className != "" {
		class, _ = c.classes.Get(className)
	}
	delayBinding := class != nil && ptr.Deref(class.VolumeBindingMode, "") == storagev1.VolumeBindingWaitForFirstConsumer
	selectedNode := claim.Annotations[annSelectedNode]

	volumes, err := c.volumes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("volume: listing volumes: %w", err)
	}
	var node *corev1.Node
	if delayBinding && selectedNode != "" {
		node, _ = c.nodes.Get(selectedNode)
	}
	pv, err := findBestVolume(claim, volumes, node, delayBinding)
	if err != nil {
		c.recorder.Event(claim, corev1.EventTypeWarning, reasonFailedBinding, err.Error())
		return c.setClaimPending(ctx, claim)
	}
	if pv != nil {
		logger.V(2).Info("binding claim", "claim", klog.KObj(claim), "volume", pv.Name)
		return c.bind(ctx, pv, claim)
	}
	switch {
	case delayBinding && selectedNode == "":
		c.recorder.Event(claim, corev1.EventTypeNormal, reasonWaitForFirstConsumer, "waiting for first consumer to be created before binding")
	case className == "":
		c.recorder.Event(claim, corev1.EventTypeNormal, reasonFailedBinding, "no persistent volumes available for this claim and no storage class is set")
	case class == nil:
		c.recorder.Event(claim, corev1.EventTypeWarning, reasonProvisioningFailed, fmt.Sprintf("storageclass.storage.k8s.io %q not found", className))
	case class.Provisioner == storagehelpers.NotSupportedProvisioner:
		c.recorder.Event(claim, corev1.EventTypeNormal, reasonFailedBinding, "no persistent volumes available for this claim and no storage class is set")
	case class.Provisioner == LocalPathProvisioner:
		if err := c.provisionLocalPath(ctx, claim, class, selectedNode); err != nil {
			return err
		}
	default:
		if err := c.waitForExternalProvisioner(ctx, claim, class); err != nil {
			return err
		}
	}
	return c.setClaimPending(ctx, claim)
}

// assignDefaultClass writes the default class into a claim that has none;
// it reports whether it did.
func (c *Controller) assignDefaultClass(ctx context.Context, claim *corev1.PersistentVolumeClaim) (bool, error) {
	classes, err := c.classes.List(labels.Everything())
	if err != nil {
		return false, fmt.Errorf("volume: listing storage classes: %w", err)
	}
	class := defaultClass(classes)
	if class == nil {
		return false, nil
	}
	claim = claim.DeepCopy()
	claim.Spec.StorageClassName = &class.Name
	if _, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, claim, metav1.UpdateOptions{}); err != nil {
		return false, fmt.Errorf("volume: assigning default class %s to claim %s/%s: %w", class.Name, claim.Namespace, claim.Name, err)
	}
	klog.FromContext(ctx).V(2).Info("assigned default storage class", "claim", klog.KObj(claim), "class", class.Name)
	return true, nil
}

// waitForExternalProvisioner marks a claim for the provisioner its class
// names, which runs elsewhere, and says so.
func (c *Controller) waitForExternalProvisioner(ctx context.Context, claim *corev1.PersistentVolumeClaim, class *storagev1.StorageClass) error {
	if claim.Annotations[annStorageProvisioner] != class.Provisioner || claim.Annotations[annBetaStorageProvisioner] != class.Provisioner {
		claim = claim.DeepCopy()
		metav1.SetMetaDataAnnotation(&claim.ObjectMeta, annStorageProvisioner, class.Provisioner)
		metav1.SetMetaDataAnnotation(&claim.ObjectMeta, annBetaStorageProvisioner, class.Provisioner)
		updated, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, claim, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("volume: annotating claim %s/%s: %w", claim.Namespace, claim.Name, err)
		}
		claim = updated
	}
	c.recorder.Event(claim, corev1.EventTypeNormal, reasonExternalProvisioning, fmt.Sprintf(
		"Waiting for a volume to be created either by the external provisioner '%s' or manually by the system administrator. "+
			"If volume creation is delayed, please verify that the provisioner is running and correctly registered.", class.Provisioner))
	return nil
}

// syncBoundClaim keeps a claim that names a volume consistent with it.
func (c *Controller) syncBoundClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	pv, err := c.volumes.Get(claim.Spec.VolumeName)
	if apierrors.IsNotFound(err) {
		if claim.Status.Phase != corev1.ClaimBound && claim.Status.Phase != corev1.ClaimLost {
			// Pre-bound by a user to a volume that does not exist yet.
			return c.setClaimPending(ctx, claim)
		}
		// The lister may lag behind a volume created a moment ago.
		if _, err := c.client.CoreV1().PersistentVolumes().Get(ctx, claim.Spec.VolumeName, metav1.GetOptions{}); err == nil || !apierrors.IsNotFound(err) {
			return err
		}
		if claim.Status.Phase == corev1.ClaimBound {
			c.recorder.Event(claim, corev1.EventTypeWarning, reasonClaimLost, "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!")
		}
		return c.setClaimPhase(ctx, claim, corev1.ClaimLost, nil)
	}
	if err != nil {
		return fmt.Errorf("volume: reading volume %s: %w", claim.Spec.VolumeName, err)
	}
	ref := pv.Spec.ClaimRef
	switch {
	case ref == nil:
		// Pre-bound claim: take the volume if it fits.
		if reason := volumeUnfit(pv, claim); reason != "" {
			c.recorder.Event(claim, corev1.EventTypeWarning, reasonFailedBinding, fmt.Sprintf("Cannot bind to requested volume %q: %s", pv.Name, reason))
			return c.setClaimPending(ctx, claim)
		}
		return c.bind(ctx, pv, claim)
	case storagehelpers.IsVolumeBoundToClaim(pv, claim):
		return c.bind(ctx, pv, claim)
	default:
		if claim.Status.Phase == corev1.ClaimBound {
			c.recorder.Event(claim, corev1.EventTypeWarning, reasonClaimMisbound, "Two claims are bound to the same volume, this one is bound incorrectly")
			return c.setClaimPhase(ctx, claim, corev1.ClaimLost, nil)
		}
		c.recorder.Event(claim, corev1.EventTypeWarning, reasonFailedBinding, fmt.Sprintf("volume %q already bound to a different claim.", pv.Name))
		return c.setClaimPending(ctx, claim)
	}
}

// bind binds pv and claim to each other: volume claimRef, volume phase,
// claim volumeName and annotations, claim status, each written only when
// missing so that a sync after a partial bind finishes it.
func (c *Controller) bind(ctx context.Context, pv *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) error {
	bound, dirty, err := storagehelpers.GetBindVolumeToClaim(pv, claim)
	if err != nil {
		return fmt.Errorf("volume: binding %s to %s/%s: %w", pv.Name, claim.Namespace, claim.Name, err)
	}
	if dirty {
		if pv, err = c.client.CoreV1().PersistentVolumes().Update(ctx, bound, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("volume: binding volume %s to claim %s/%s: %w", bound.Name, claim.Namespace, claim.Name, err)
		}
	}
	if pv.Status.Phase != corev1.VolumeBound {
		if _, err := c.setVolumePhase(ctx, pv, corev1.VolumeBound, ""); err != nil {
			return err
		}
	}
	if claim.Spec.VolumeName != pv.Name || claim.Annotations[annBindCompleted] == "" {
		updated := claim.DeepCopy()
		if updated.Spec.VolumeName != pv.Name {
			updated.Spec.VolumeName = pv.Name
			metav1.SetMetaDataAnnotation(&updated.ObjectMeta, annBoundByController, "yes")
		}
		metav1.SetMetaDataAnnotation(&updated.ObjectMeta, annBindCompleted, "yes")
		if claim, err = c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("volume: binding claim %s/%s to volume %s: %w", updated.Namespace, updated.Name, pv.Name, err)
		}
	}
	return c.setClaimPhase(ctx, claim, corev1.ClaimBound, pv)
}

// setClaimPending makes a claim's phase Pending (a no-op when it is).
func (c *Controller) setClaimPending(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	return c.setClaimPhase(ctx, claim, corev1.ClaimPending, nil)
}

// setClaimPhase writes a claim's phase; for Bound, also the capacity and
// access modes of pv, which the claim then reports.
func (c *Controller) setClaimPhase(ctx context.Context, claim *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase, pv *corev1.PersistentVolume) error {
	status := claim.Status.DeepCopy()
	status.Phase = phase
	if pv != nil {
		status.AccessModes = pv.Spec.AccessModes
		if size, ok := pv.Spec.Capacity[corev1.ResourceStorage]; ok {
			status.Capacity = corev1.ResourceList{corev1.ResourceStorage: size}
		}
	}
	if phase == corev1.ClaimLost {
		status.Capacity, status.AccessModes = nil, nil
	}
	if equality.Semantic.DeepEqual(*status, claim.Status) {
		return nil
	}
	updated := claim.DeepCopy()
	updated.Status = *status
	if _, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("volume: setting claim %s/%s %s: %w", claim.Namespace, claim.Name, phase, err)
	}
	return nil
}

// findBestVolume returns the volume a claim should bind to, or nil: one
// pre-bound to it, else the smallest fitting Available volume among those
// with the fewest access modes beyond the claim's. With node set (delayed
// binding after the scheduler chose a node) the volume must be reachable
// from that node.
func findBestVolume(claim *corev1.PersistentVolumeClaim, volumes []*corev1.PersistentVolume, node *corev1.Node, delayBinding bool) (*corev1.PersistentVolume, error) {
	for _, pv := range volumes {
		if storagehelpers.IsVolumeBoundToClaim(pv, claim) && pv.DeletionTimestamp == nil {
			// Whoever pre-bound it chose the node already (the
			// provisioner, or a user): the scheduler follows the
			// volume's affinity, so it is not checked here.
			return storagehelpers.FindMatchingVolume(claim, []*corev1.PersistentVolume{pv}, nil, nil, delayBinding, true)
		}
	}
	if delayBinding && node == nil {
		return nil, nil
	}
	// Group candidate volumes by their access modes; try the groups with
	// the fewest modes first, as upstream's index does.
	groups := map[string][]*corev1.PersistentVolume{}
	var keys []string
	for _, pv := range volumes {
		if !storagehelpers.CheckAccessModes(claim, pv) {
			continue
		}
		key := accessModesKey(pv.Spec.AccessModes)
		if _, ok := groups[key]; !ok {
			keys = append(keys, key)
		}
		groups[key] = append(groups[key], pv)
	}
	sort.Slice(keys, func(i, j int) bool {
		if len(groups[keys[i]][0].Spec.AccessModes) != len(groups[keys[j]][0].Spec.AccessModes) {
			return len(groups[keys[i]][0].Spec.AccessModes) < len(groups[keys[j]][0].Spec.AccessModes)
		}
		return keys[i] < keys[j]
	})
	for _, key := range keys {
		pv, err := storagehelpers.FindMatchingVolume(claim, groups[key], node, nil, delayBinding, true)
		if err != nil || pv != nil {
			return pv, err
		}
	}
	return nil, nil
}

func accessModesKey(modes []corev1.PersistentVolumeAccessMode) string {
	set := sets.New[string]()
	for _, m := range modes {
		set.Insert(string(m))
	}
	key := ""
	for _, m := range sets.List(set) {
		key += m + ","
	}
	return key
}

// volumeUnfit says why pv cannot serve a claim pre-bound to it, or "".
func volumeUnfit(pv *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) string {
	requested := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	capacity := pv.Spec.Capacity[corev1.ResourceStorage]
	switch {
	case capacity.Cmp(requested) < 0:
		return "requested PV is too small"
	case storagehelpers.GetPersistentVolumeClass(pv) != storagehelpers.GetPersistentVolumeClaimClass(claim):
		return "storageClassName does not match"
	case storagehelpers.CheckVolumeModeMismatches(&claim.Spec, &pv.Spec):
		return "incompatible volumeMode"
	case !storagehelpers.CheckAccessModes(claim, pv):
		return "incompatible accessMode"
	}
	return ""
}
