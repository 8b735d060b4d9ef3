package storageprotection

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/navarch/navarch/internal/controller"
)

// The finalizers this controller removes (upstream's names, which the
// API server adds on create).
const (
	PVCProtectionFinalizer = "kubernetes.io/pvc-protection"
	PVProtectionFinalizer  = "kubernetes.io/pv-protection"
)

// podsByClaimIndex indexes pods by "<namespace>/<claim>" for each claim
// they use.
const podsByClaimIndex = "storageprotection.pvc"

// workers is how many objects of each kind are synced in parallel.
const workers = 2

// Controller removes the protection finalizers of claims and volumes that
// are being deleted and no longer used.
type Controller struct {
	client kubernetes.Interface

	claims      corelisters.PersistentVolumeClaimLister
	volumes     corelisters.PersistentVolumeLister
	podIndexer  cache.Indexer
	cacheSynced []cache.InformerSynced

	// claimQueue holds "<namespace>/<name>" claim keys, volumeQueue
	// volume names.
	claimQueue  workqueue.TypedRateLimitingInterface[string]
	volumeQueue workqueue.TypedRateLimitingInterface[string]
}

// New returns a controller fed by the shared informers. Register it
// before the informers start.
func New(client kubernetes.Interface, pods coreinformers.PodInformer, claims coreinformers.PersistentVolumeClaimInformer, volumes coreinformers.PersistentVolumeInformer) (*Controller, error) {
	c := &Controller{
		client:      client,
		claims:      claims.Lister(),
		volumes:     volumes.Lister(),
		podIndexer:  pods.Informer().GetIndexer(),
		cacheSynced: []cache.InformerSynced{pods.Informer().HasSynced, claims.Informer().HasSynced, volumes.Informer().HasSynced},
		claimQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "pvcprotection"}),
		volumeQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "pvprotection"}),
	}
	if _, exists := pods.Informer().GetIndexer().GetIndexers()[podsByClaimIndex]; !exists {
		if err := pods.Informer().AddIndexers(cache.Indexers{podsByClaimIndex: claimKeysOfPod}); err != nil {
			return nil, fmt.Errorf("storageprotection: adding pod index: %w", err)
		}
	}
	_, _ = claims.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueClaim,
		UpdateFunc: func(_, obj any) { c.enqueueClaim(obj) },
	})
	_, _ = volumes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueVolume,
		UpdateFunc: func(_, obj any) { c.enqueueVolume(obj) },
	})
	// A pod that finishes or goes may free the claims it used.
	_, _ = pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) {
			if pod, ok := obj.(*corev1.Pod); ok && podFinished(pod) {
				c.enqueueClaimsOf(pod)
			}
		},
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				c.enqueueClaimsOf(pod)
			}
		},
	})
	return c, nil
}

// Start waits for the caches, runs the workers and blocks until ctx ends.
func (c *Controller) Start(ctx context.Context) error {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx)
	logger.Info("Starting storage protection controller")
	defer logger.Info("Shutting down storage protection controller")
	if err := controller.WaitForCaches(ctx, "storageprotection", c.cacheSynced...); err != nil {
		c.claimQueue.ShutDown()
		c.volumeQueue.ShutDown()
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		controller.RunWorkers(ctx, c.volumeQueue, workers, c.syncVolume)
	}()
	controller.RunWorkers(ctx, c.claimQueue, workers, c.syncClaim)
	<-done
	return nil
}

func (c *Controller) enqueueClaim(obj any) {
	pvc, ok := obj.(*corev1.PersistentVolumeClaim)
	if ok && pvc.DeletionTimestamp != nil && slices.Contains(pvc.Finalizers, PVCProtectionFinalizer) {
		c.claimQueue.Add(pvc.Namespace + "/" + pvc.Name)
	}
}

func (c *Controller) enqueueVolume(obj any) {
	pv, ok := obj.(*corev1.PersistentVolume)
	if ok && pv.DeletionTimestamp != nil && slices.Contains(pv.Finalizers, PVProtectionFinalizer) {
		c.volumeQueue.Add(pv.Name)
	}
}

func (c *Controller) enqueueClaimsOf(pod *corev1.Pod) {
	keys, _ := claimKeysOfPod(pod)
	for _, key := range keys {
		c.claimQueue.Add(key)
	}
}

// syncClaim removes the finalizer of a claim being deleted that no
// unfinished pod uses.
func (c *Controller) syncClaim(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pvc, err := c.claims.PersistentVolumeClaims(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if pvc.DeletionTimestamp == nil || !slices.Contains(pvc.Finalizers, PVCProtectionFinalizer) {
		return nil
	}
	if c.claimUsedInCache(key) {
		klog.FromContext(ctx).V(4).Info("claim still in use", "claim", key)
		return nil
	}
	// The cache may not have a pod created a moment ago: ask the API.
	pods, err := c.client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("storageprotection: listing pods of %s: %w", namespace, err)
	}
	for i := range pods.Items {
		if podUsesClaim(&pods.Items[i], name) {
			return nil
		}
	}
	return removeFinalizer(ctx, c.client.CoreV1().PersistentVolumeClaims(namespace).Patch, name, pvc.ResourceVersion, pvc.Finalizers, PVCProtectionFinalizer)
}

// syncVolume removes the finalizer of a volume being deleted that is not
// bound to a claim.
func (c *Controller) syncVolume(ctx context.Context, name string) error {
	pv, err := c.volumes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if pv.DeletionTimestamp == nil || !slices.Contains(pv.Finalizers, PVProtectionFinalizer) {
		return nil
	}
	if pv.Status.Phase == corev1.VolumeBound {
		return nil
	}
	return removeFinalizer(ctx, c.client.CoreV1().PersistentVolumes().Patch, name, pv.ResourceVersion, pv.Finalizers, PVProtectionFinalizer)
}

// patchFunc is the Patch method of a typed client.
type patchFunc[T any] func(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error)

// removeFinalizer writes finalizers without finalizer, guarded by the
// object's resourceVersion (a stale cache gets a 409 and a retry); an
// object already gone is fine.
func removeFinalizer[T any](ctx context.Context, patch patchFunc[T], name, resourceVersion string, finalizers []string, finalizer string) error {
	kept := slices.DeleteFunc(slices.Clone(finalizers), func(f string) bool { return f == finalizer })
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"resourceVersion": resourceVersion, "finalizers": kept,
	}})
	if err != nil {
		return err
	}
	_, err = patch(ctx, name, types.MergePatchType, body, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("storageprotection: removing %s from %s: %w", finalizer, name, err)
	}
	klog.FromContext(ctx).V(2).Info("Removed protection finalizer", "object", name, "finalizer", finalizer)
	return nil
}

// claimUsedInCache reports whether a cached pod that has not finished
// uses the claim with key "<namespace>/<name>".
func (c *Controller) claimUsedInCache(key string) bool {
	objs, err := c.podIndexer.ByIndex(podsByClaimIndex, key)
	if err != nil {
		return true // no index: keep the claim, the safe answer
	}
	for _, obj := range objs {
		if pod, ok := obj.(*corev1.Pod); ok && !podFinished(pod) {
			return true
		}
	}
	return false
}

// claimKeysOfPod is the pod index: "<namespace>/<claim>" for each claim
// the pod's volumes name.
func claimKeysOfPod(obj any) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	var keys []string
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			keys = append(keys, pod.Namespace+"/"+v.PersistentVolumeClaim.ClaimName)
		}
	}
	return keys, nil
}

// podUsesClaim reports whether an unfinished pod names the claim.
func podUsesClaim(pod *corev1.Pod, claim string) bool {
	if podFinished(pod) {
		return false
	}
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claim {
			return true
		}
	}
	return false
}

// podFinished reports whether the pod's containers are done for good.
func podFinished(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}
