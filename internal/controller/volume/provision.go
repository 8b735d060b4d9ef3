package volume

import (
	"context"
	"fmt"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/reference"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// localPathVolumeName is the name of the volume provisioned for a claim.
func localPathVolumeName(claim *corev1.PersistentVolumeClaim) string {
	return "pvc-" + string(claim.UID)
}

// LocalPathDir returns the directory of the local-path volume of a claim
// under storageDir: pvc-<uid>_<namespace>_<name>. The node agent finds it
// in the volume's hostPath; this function documents the layout.
func LocalPathDir(storageDir string, claim *corev1.PersistentVolumeClaim) string {
	return filepath.Join(storageDir, fmt.Sprintf("pvc-%s_%s_%s", claim.UID, claim.Namespace, claim.Name))
}

// provisionLocalPath creates the hostPath volume of a local-path claim on
// its selected node, pre-bound to the claim; the next claim sync binds
// them.
func (c *Controller) provisionLocalPath(ctx context.Context, claim *corev1.PersistentVolumeClaim, class *storagev1.StorageClass, nodeName string) error {
	logger := klog.FromContext(ctx)
	name := localPathVolumeName(claim)
	if _, err := c.volumes.Get(name); err == nil {
		return nil
	}
	if nodeName == "" {
		c.recorder.Event(claim, corev1.EventTypeWarning, reasonProvisioningFailed,
			fmt.Sprintf("failed to provision volume with StorageClass %q: configuration error, no node was specified", class.Name))
		return nil
	}
	c.recorder.Event(claim, corev1.EventTypeNormal, reasonProvisioning,
		fmt.Sprintf("External provisioner is provisioning volume for claim \"%s/%s\"", claim.Namespace, claim.Name))
	pv, err := c.localPathVolume(claim, class, nodeName)
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		c.recorder.Event(claim, corev1.EventTypeWarning, reasonProvisioningFailed,
			fmt.Sprintf("failed to provision volume with StorageClass %q: %v", class.Name, err))
		return fmt.Errorf("volume: provisioning %s for claim %s/%s: %w", name, claim.Namespace, claim.Name, err)
	}
	logger.V(2).Info("provisioned local-path volume", "claim", klog.KObj(claim), "volume", name, "node", nodeName, "path", pv.Spec.HostPath.Path)
	c.recorder.Event(claim, corev1.EventTypeNormal, reasonProvisioningSucceeded, fmt.Sprintf("Successfully provisioned volume %s", name))
	return nil
}

// localPathVolume builds the volume provisioned for claim on node.
func (c *Controller) localPathVolume(claim *corev1.PersistentVolumeClaim, class *storagev1.StorageClass, nodeName string) (*corev1.PersistentVolume, error) {
	dir := c.storageDir
	hostname := nodeName
	if node, err := c.nodes.Get(nodeName); err == nil {
		if d := node.Annotations[LocalPathDirAnnotation]; d != "" {
			dir = filepath.Clean(d)
		}
		if h := node.Labels[hostnameLabel]; h != "" {
			hostname = h
		}
	}
	claimRef, err := reference.GetReference(scheme.Scheme, claim)
	if err != nil {
		return nil, fmt.Errorf("volume: reference to claim %s/%s: %w", claim.Namespace, claim.Name, err)
	}
	request := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        localPathVolumeName(claim),
			Annotations: map[string]string{annDynamicallyProvisioned: LocalPathProvisioner},
			Finalizers:  []string{LocalPathCleanupFinalizer},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: request},
			AccessModes:                   claim.Spec.AccessModes,
			VolumeMode:                    claim.Spec.VolumeMode,
			ClaimRef:                      claimRef,
			StorageClassName:              class.Name,
			PersistentVolumeReclaimPolicy: ptr.Deref(class.ReclaimPolicy, corev1.PersistentVolumeReclaimDelete),
			MountOptions:                  class.MountOptions,
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{
					Path: LocalPathDir(dir, claim),
					Type: ptr.To(corev1.HostPathDirectoryOrCreate),
				},
			},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: hostnameLabel, Operator: corev1.NodeSelectorOpIn, Values: []string{hostname},
				}}}},
			}},
		},
	}, nil
}
