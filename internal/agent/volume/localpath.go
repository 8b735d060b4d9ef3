package volume

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// Run removes the directories of this node's local-path volumes that are
// being deleted, then their finalizers (see the package documentation),
// until ctx ends. It watches PersistentVolumes through its own informer.
func (m *Manager) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithName("local-path")
	ctx = klog.NewContext(ctx, logger)
	factory := informers.NewSharedInformerFactory(m.client, 0)
	informer := factory.Core().V1().PersistentVolumes().Informer()
	queue := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Second, time.Minute),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "local-path-cleanup"})
	defer queue.ShutDown()
	enqueue := func(obj any) {
		if pv, ok := obj.(*corev1.PersistentVolume); ok && m.mustCleanUp(pv) {
			queue.Add(pv.Name)
		}
	}
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		return fmt.Errorf("volume: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		return nil
	}
	go func() {
		<-ctx.Done()
		queue.ShutDown()
	}()
	lister := factory.Core().V1().PersistentVolumes().Lister()
	for {
		name, quit := queue.Get()
		if quit {
			return nil
		}
		pv, err := lister.Get(name)
		if err == nil && m.mustCleanUp(pv) {
			err = m.cleanUpLocalPath(ctx, pv)
		} else if apierrors.IsNotFound(err) {
			err = nil
		}
		switch {
		case errors.Is(err, errNotLocalPath):
			// Retrying will not change the path: an administrator must
			// remove the directory and the finalizer.
			logger.Error(err, "not cleaning up a local-path volume", "volume", name)
			queue.Forget(name)
		case err != nil:
			logger.Error(err, "cleaning up a local-path volume; retrying", "volume", name)
			queue.AddRateLimited(name)
		default:
			queue.Forget(name)
		}
		queue.Done(name)
	}
}

// errNotLocalPath refuses to remove a path that is not a local-path
// volume's directory.
var errNotLocalPath = errors.New("volume: not a local-path directory")

// mustCleanUp reports whether pv is a local-path volume of this node
// being deleted that still holds the cleanup finalizer.
func (m *Manager) mustCleanUp(pv *corev1.PersistentVolume) bool {
	return pv.DeletionTimestamp != nil &&
		slices.Contains(pv.Finalizers, LocalPathCleanupFinalizer) &&
		pv.Annotations[annProvisionedBy] == LocalPathProvisioner &&
		pv.Spec.HostPath != nil &&
		affinityNames(pv, m.cfg.NodeName)
}

// affinityNames reports whether the volume's required node affinity
// selects the node by its hostname label (which the agent sets to the
// node name).
func affinityNames(pv *corev1.PersistentVolume, node string) bool {
	na := pv.Spec.NodeAffinity
	if na == nil || na.Required == nil {
		return false
	}
	for _, term := range na.Required.NodeSelectorTerms {
		for _, expr := range term.MatchExpressions {
			if expr.Key == corev1.LabelHostname && expr.Operator == corev1.NodeSelectorOpIn && slices.Contains(expr.Values, node) {
				return true
			}
		}
	}
	return false
}

// cleanUpLocalPath removes the volume's directory, then its finalizer.
// It refuses paths that are not a pvc-* directory, and waits while a pod
// on this node still uses the volume.
func (m *Manager) cleanUpLocalPath(ctx context.Context, pv *corev1.PersistentVolume) error {
	logger := klog.FromContext(ctx)
	dir := pv.Spec.HostPath.Path
	if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir || !strings.HasPrefix(filepath.Base(dir), "pvc-") {
		return fmt.Errorf("%w: refusing to remove %q of volume %s", errNotLocalPath, dir, pv.Name)
	}
	if m.inUse(pv.Name) {
		return fmt.Errorf("volume: volume %s is still used by a pod on this node", pv.Name)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("volume: removing %s of volume %s: %w", dir, pv.Name, err)
	}
	logger.Info("removed local-path volume directory", "volume", pv.Name, "path", dir)
	volumes := m.client.CoreV1().PersistentVolumes()
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		current, err := volumes.Get(ctx, pv.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if current.UID != pv.UID || !slices.Contains(current.Finalizers, LocalPathCleanupFinalizer) {
			return nil
		}
		current.Finalizers = slices.DeleteFunc(current.Finalizers, func(f string) bool { return f == LocalPathCleanupFinalizer })
		_, err = volumes.Update(ctx, current, metav1.UpdateOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("volume: removing the finalizer of volume %s: %w", pv.Name, err)
	}
	return nil
}
