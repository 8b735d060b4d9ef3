package volume

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// Names of the built-in local-path storage.
const (
	// LocalPathClassName is the name of the built-in StorageClass.
	LocalPathClassName = "local-path"
	// LocalPathProvisioner is the provisioner of the built-in class; this
	// controller provisions every class that names it.
	LocalPathProvisioner = "navarch.io/local-path"
	// LocalPathCleanupFinalizer holds a provisioned local-path volume
	// until the node agent removed its directory.
	LocalPathCleanupFinalizer = "navarch.io/local-path-cleanup"
	// LocalPathDirAnnotation on a Node names the directory under which
	// that node keeps local-path volumes, overriding Config.StorageDir.
	LocalPathDirAnnotation = "navarch.io/local-path-dir"
)

// Annotations and labels the controller reads and writes, as upstream
// names them.
const (
	annBindCompleted          = "pv.kubernetes.io/bind-completed"
	annBoundByController      = "pv.kubernetes.io/bound-by-controller"
	annSelectedNode           = "volume.kubernetes.io/selected-node"
	annDynamicallyProvisioned = "pv.kubernetes.io/provisioned-by"
	annStorageProvisioner     = "volume.kubernetes.io/storage-provisioner"
	annBetaStorageProvisioner = "volume.beta.kubernetes.io/storage-provisioner"
	annIsDefaultClass         = "storageclass.kubernetes.io/is-default-class"
	annBetaIsDefaultClass     = "storageclass.beta.kubernetes.io/is-default-class"
	hostnameLabel             = corev1.LabelHostname
)

// LocalPathStorageClass returns the built-in StorageClass: provisioner
// navarch.io/local-path, WaitForFirstConsumer (a local volume must be
// created on the node its first pod is scheduled to), reclaim policy
// Delete, and annotated as the cluster's default class.
func LocalPathStorageClass() *storagev1.StorageClass {
	return &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        LocalPathClassName,
			Annotations: map[string]string{annIsDefaultClass: "true"},
		},
		Provisioner:       LocalPathProvisioner,
		ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimDelete),
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
	}
}

// EnsureLocalPathStorageClass creates the built-in local-path StorageClass
// unless a class of that name exists. An existing class is left as it is,
// so an administrator may take the default annotation off it (or replace
// it) and keep that across restarts. The server calls it at start, once
// the API serves; it is safe to call concurrently from several servers.
func EnsureLocalPathStorageClass(ctx context.Context, client kubernetes.Interface) error {
	classes := client.StorageV1().StorageClasses()
	_, err := classes.Get(ctx, LocalPathClassName, metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("volume: reading storage class %s: %w", LocalPathClassName, err)
	}
	_, err = classes.Create(ctx, LocalPathStorageClass(), metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("volume: creating storage class %s: %w", LocalPathClassName, err)
	}
	return nil
}

// isDefaultClass reports whether a class carries the default annotation
// (or its beta spelling).
func isDefaultClass(class *storagev1.StorageClass) bool {
	return class.Annotations[annIsDefaultClass] == "true" || class.Annotations[annBetaIsDefaultClass] == "true"
}

// defaultClass returns the default class among classes: the newest one
// annotated default (upstream's rule when several are), or nil.
func defaultClass(classes []*storagev1.StorageClass) *storagev1.StorageClass {
	var best *storagev1.StorageClass
	for _, class := range classes {
		if !isDefaultClass(class) {
			continue
		}
		if best == nil || class.CreationTimestamp.After(best.CreationTimestamp.Time) ||
			(class.CreationTimestamp.Equal(&best.CreationTimestamp) && class.Name < best.Name) {
			best = class
		}
	}
	return best
}
