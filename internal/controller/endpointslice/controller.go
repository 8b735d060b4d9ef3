package endpointslice

import (
	"context"
	"errors"
	"fmt"
	"github.com/navarch/navarch/internal/controller/serviceendpoints"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	coreinformers "k8s.io/client-go/informers/core/v1"
	discoveryinformers "k8s.io/client-go/informers/discovery/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

const (
	// ControllerName is the managed-by label value of the slices
	// Controller writes.
	ControllerName = "endpointslice-controller.k8s.io"
	// MaxEndpointsPerSlice is how many endpoints Controller puts in one
	// slice (upstream's --max-endpoints-per-slice default).
	MaxEndpointsPerSlice = 100

	// workers is how many Services (or Endpoints) sync in parallel.
	workers = 2
	// maxRetries is how often a failing key is retried before it waits
	// for its next change.
	maxRetries = 15
)

// errStaleCache is returned by a sync that found the informer cache
// behind this controller's own writes; the key is retried.
var errStaleCache = errors.New("endpointslice: informer cache is out of date")

// Controller keeps the EndpointSlices of Services with selectors.
type Controller struct {
	client      kubernetes.Interface
	broadcaster record.EventBroadcaster
	// recorder emits core/v1 events as "endpoint-slice-controller";
	// tests replace it.
	recorder record.EventRecorder

	services corelisters.ServiceLister
	pods     corelisters.PodLister
	nodes    corelisters.NodeLister
	slices   discoverylisters.EndpointSliceLister
	synced   []cache.InformerSynced

	// queue holds Service keys (namespace/name).
	queue        workqueue.TypedRateLimitingInterface[string]
	tracker      *sliceTracker
	triggerTimes *serviceendpoints.TriggerTimes
	// maxEndpointsPerSlice is MaxEndpointsPerSlice; tests lower it.
	maxEndpointsPerSlice int
}

// New returns a controller fed by the shared pod, service, node and
// endpointslice informers. Register it before the informers start.
func New(client kubernetes.Interface, pods coreinformers.PodInformer, services coreinformers.ServiceInformer,
	nodes coreinformers.NodeInformer, slices discoveryinformers.EndpointSliceInformer) *Controller {
	broadcaster := record.NewBroadcaster()
	c := &Controller{
		client:      client,
		broadcaster: broadcaster,
		recorder:    broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "endpoint-slice-controller"}),
		services:    services.Lister(),
		pods:        pods.Lister(),
		nodes:       nodes.Lister(),
		slices:      slices.Lister(),
		synced: []cache.InformerSynced{
			pods.Informer().HasSynced, services.Informer().HasSynced,
			nodes.Informer().HasSynced, slices.Informer().HasSynced,
		},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "endpoint_slice"}),
		tracker:              newSliceTracker(),
		triggerTimes:         serviceendpoints.NewTriggerTimes(),
		maxEndpointsPerSlice: MaxEndpointsPerSlice,
	}
	_, _ = services.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj interface{}) { c.enqueue(obj) },
		DeleteFunc: c.enqueue,
	})
	_, _ = pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.podAddedOrDeleted,
		UpdateFunc: c.podUpdated,
		DeleteFunc: c.podAddedOrDeleted,
	})
	_, _ = slices.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.sliceChanged,
		UpdateFunc: c.sliceUpdated,
		DeleteFunc: c.sliceDeleted,
	})
	return c
}

// Start waits for the caches, runs the workers and blocks until ctx ends;
// it returns nil then, or an error if the caches never synced.
func (c *Controller) Start(ctx context.Context) error {
	defer utilruntime.HandleCrashWithContext(ctx)
	defer c.queue.ShutDown()
	logger := klog.FromContext(ctx)
	c.broadcaster.StartStructuredLogging(3)
	c.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer c.broadcaster.Shutdown()
	logger.Info("Starting endpoint slice controller")
	defer logger.Info("Shutting down endpoint slice controller")
	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("endpointslice: caches did not sync")
	}
	for range workers {
		go wait.UntilWithContext(ctx, func(ctx context.Context) {
			for processNext(ctx, c.queue, c.sync) {
			}
		}, time.Second)
	}
	<-ctx.Done()
	return nil
}

// processNext syncs one key of queue; false once the queue shuts down.
func processNext(ctx context.Context, queue workqueue.TypedRateLimitingInterface[string], sync func(context.Context, string) error) bool {
	key, quit := queue.Get()
	if quit {
		return false
	}
	defer queue.Done(key)
	err := sync(ctx, key)
	switch {
	case err == nil:
		queue.Forget(key)
	case errors.Is(err, errStaleCache) || queue.NumRequeues(key) < maxRetries:
		klog.FromContext(ctx).V(2).Info("Error syncing endpoint slices, retrying", "key", key, "err", err)
		queue.AddRateLimited(key)
	default:
		utilruntime.HandleErrorWithContext(ctx, err, "dropping key out of the endpoint slice queue", "key", key)
		queue.Forget(key)
	}
	return true
}

func (c *Controller) enqueue(obj interface{}) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("endpointslice: no key for %T: %w", obj, err))
		return
	}
	c.queue.Add(key)
}

func (c *Controller) podAddedOrDeleted(obj interface{}) {
	pod := serviceendpoints.PodFromEvent(obj)
	if pod == nil {
		return
	}
	keys, err := serviceendpoints.ServicesSelecting(c.services, pod.Namespace, labels.Set(pod.Labels))
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("endpointslice: services of pod %s/%s: %w", pod.Namespace, pod.Name, err))
		return
	}
	for key := range keys {
		c.queue.Add(key)
	}
}

func (c *Controller) podUpdated(oldObj, newObj interface{}) {
	oldPod, newPod := serviceendpoints.PodFromEvent(oldObj), serviceendpoints.PodFromEvent(newObj)
	if oldPod == nil || newPod == nil {
		return
	}
	keys, err := serviceendpoints.ServicesForPodChange(c.services, oldPod, newPod)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("endpointslice: services of pod %s/%s: %w", newPod.Namespace, newPod.Name, err))
		return
	}
	for key := range keys {
		c.queue.Add(key)
	}
}

// sliceChanged queues the Service of one of our slices that someone else
// wrote (or that we have not seen written).
func (c *Controller) sliceChanged(obj interface{}) {
	slice, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || slice.Labels[discoveryv1.LabelManagedBy] != ControllerName {
		return
	}
	if c.tracker.changedByOthers(slice) {
		c.queueServiceOf(slice)
	}
}

func (c *Controller) sliceUpdated(oldObj, newObj interface{}) {
	oldSlice, ok1 := oldObj.(*discoveryv1.EndpointSlice)
	slice, ok2 := newObj.(*discoveryv1.EndpointSlice)
	if !ok1 || !ok2 {
		return
	}
	// Labels move slices between Services and controllers without a
	// generation change.
	if oldSlice.Labels[discoveryv1.LabelServiceName] != slice.Labels[discoveryv1.LabelServiceName] ||
		(oldSlice.Labels[discoveryv1.LabelManagedBy] == ControllerName) != (slice.Labels[discoveryv1.LabelManagedBy] == ControllerName) {
		c.queueServiceOf(oldSlice)
		c.queueServiceOf(slice)
		return
	}
	c.sliceChanged(slice)
}

func (c *Controller) sliceDeleted(obj interface{}) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	slice, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || slice.Labels[discoveryv1.LabelManagedBy] != ControllerName {
		return
	}
	if !c.tracker.deleted(slice) {
		c.queueServiceOf(slice)
	}
}

func (c *Controller) queueServiceOf(slice *discoveryv1.EndpointSlice) {
	if name := slice.Labels[discoveryv1.LabelServiceName]; name != "" {
		c.queue.Add(slice.Namespace + "/" + name)
	}
}

// sync makes the slices of one Service match its pods. Slices of a
// deleted Service are left to the garbage collector (they are owned by
// it); Services without a selector, and ExternalName ones, get none from
// this controller.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return fmt.Errorf("endpointslice: bad key %q: %w", key, err)
	}
	svc, err := c.services.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.triggerTimes.Forget(namespace, name)
		c.tracker.forget(namespace, name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("endpointslice: reading service %s: %w", key, err)
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.Selector == nil {
		return nil
	}
	pods, err := c.pods.Pods(namespace).List(labels.Set(svc.Spec.Selector).AsSelectorPreValidated())
	if err != nil {
		return fmt.Errorf("endpointslice: listing pods of %s: %w", key, err)
	}
	cached, err := c.slices.EndpointSlices(namespace).List(labels.Set{
		discoveryv1.LabelServiceName: name,
		discoveryv1.LabelManagedBy:   ControllerName,
	}.AsSelectorPreValidated())
	if err != nil {
		return fmt.Errorf("endpointslice: listing slices of %s: %w", key, err)
	}
	var existing []*discoveryv1.EndpointSlice
	for _, slice := range cached {
		// Slices on their way out (foreground deletion of an old
		// incarnation of the Service) are not reused.
		if slice.DeletionTimestamp == nil {
			existing = append(existing, slice)
		}
	}
	if c.tracker.stale(namespace, name, existing) {
		return errStaleCache
	}
	triggerTime := c.triggerTimes.Observe(svc, pods)
	if err := c.reconcile(ctx, svc, pods, existing, triggerTime); err != nil {
		c.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToUpdateEndpointSlices",
			"Error updating Endpoint Slices for Service %s/%s: %v", namespace, name, err)
		return err
	}
	return nil
}
