package endpoints

import (
	"context"
	"errors"
	"fmt"
	"github.com/navarch/navarch/internal/controller/serviceendpoints"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/navarch/navarch/internal/controller"
)

const (
	// workers is how many Services are synced in parallel.
	workers = 2
	// maxRetries is how often a failing Service is retried (with
	// exponential back-off, about 82 s in all) before it is dropped until
	// its next change.
	maxRetries = 15
	// overCapacityTruncated is the value of the over-capacity annotation.
	overCapacityTruncated = "truncated"

	// LabelManagedBy marks the Endpoints this controller writes, as
	// upstream's (since 1.33) does, so that they can be told from
	// hand-made ones.
	LabelManagedBy = "endpoints.kubernetes.io/managed-by"
	// ControllerName is the value of LabelManagedBy.
	ControllerName = "endpoint-controller"
)

// Controller keeps the Endpoints of Services with selectors.
type Controller struct {
	client      kubernetes.Interface
	broadcaster record.EventBroadcaster
	// recorder emits core/v1 events as "endpoint-controller"; tests
	// replace it.
	recorder record.EventRecorder

	services        corelisters.ServiceLister
	pods            corelisters.PodLister
	endpoints       corelisters.EndpointsLister
	servicesSynced  cache.InformerSynced
	podsSynced      cache.InformerSynced
	endpointsSynced cache.InformerSynced

	// queue holds Service keys (namespace/name).
	queue        workqueue.TypedRateLimitingInterface[string]
	triggerTimes *serviceendpoints.TriggerTimes
}

// New returns a controller fed by the shared pod, service and endpoints
// informers. Register it before the informers start.
func New(client kubernetes.Interface, pods coreinformers.PodInformer, services coreinformers.ServiceInformer, endpoints coreinformers.EndpointsInformer) *Controller {
	broadcaster := record.NewBroadcaster()
	c := &Controller{
		client:          client,
		broadcaster:     broadcaster,
		recorder:        broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "endpoint-controller"}),
		services:        services.Lister(),
		pods:            pods.Lister(),
		endpoints:       endpoints.Lister(),
		servicesSynced:  services.Informer().HasSynced,
		podsSynced:      pods.Informer().HasSynced,
		endpointsSynced: endpoints.Informer().HasSynced,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "endpoint"}),
		triggerTimes: serviceendpoints.NewTriggerTimes(),
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
	// Someone deleting an Endpoints object of a selector Service gets it
	// back at once.
	_, _ = endpoints.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: c.enqueue,
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
	logger.Info("Starting endpoint controller")
	defer logger.Info("Shutting down endpoint controller")
	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.servicesSynced, c.podsSynced, c.endpointsSynced) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("endpoints: caches did not sync")
	}
	for range workers {
		go wait.UntilWithContext(ctx, c.worker, time.Second)
	}
	c.queueLeftovers(ctx)
	<-ctx.Done()
	return nil
}

// queueLeftovers queues every Endpoints object this controller wrote once
// at start, so that those whose Service was deleted while the controller
// was down go too. Hand-made Endpoints are not queued: a cache that has
// not yet seen their Service must not get them deleted.
func (c *Controller) queueLeftovers(ctx context.Context) {
	list, err := c.endpoints.List(labels.Everything())
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "listing endpoints; orphaned endpoints stay until restart")
		return
	}
	for _, ep := range list {
		if ep.Labels[LabelManagedBy] != ControllerName {
			continue
		}
		// Old leader-election records live in Endpoints without a Service.
		if _, ok := ep.Annotations[resourcelock.LeaderElectionRecordAnnotationKey]; ok {
			continue
		}
		c.queue.Add(ep.Namespace + "/" + ep.Name)
	}
}

func (c *Controller) enqueue(obj interface{}) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("endpoints: no key for %T: %w", obj, err))
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
		utilruntime.HandleError(fmt.Errorf("endpoints: services of pod %s/%s: %w", pod.Namespace, pod.Name, err))
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
		utilruntime.HandleError(fmt.Errorf("endpoints: services of pod %s/%s: %w", newPod.Namespace, newPod.Name, err))
		return
	}
	for key := range keys {
		c.queue.Add(key)
	}
}

func (c *Controller) worker(ctx context.Context) {
	for c.processNext(ctx) {
	}
}

func (c *Controller) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	err := c.sync(ctx, key)
	switch {
	case err == nil:
		c.queue.Forget(key)
	case c.queue.NumRequeues(key) < maxRetries:
		klog.FromContext(ctx).V(2).Info("Error syncing endpoints, retrying", "service", key, "err", err)
		c.queue.AddRateLimited(key)
	default:
		utilruntime.HandleErrorWithContext(ctx, err, "dropping service out of the endpoints queue", "service", key)
		c.queue.Forget(key)
	}
	return true
}

// sync makes the Endpoints of one Service match its pods. It deletes the
// Endpoints of a Service that is gone and leaves those of Services without
// a selector (or of type ExternalName) alone.
func (c *Controller) sync(ctx context.Context, key string) error {
	logger := klog.FromContext(ctx)
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return fmt.Errorf("endpoints: bad key %q: %w", key, err)
	}
	svc, err := c.services.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		err := c.client.CoreV1().Endpoints(namespace).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("endpoints: deleting %s: %w", key, err)
		}
		c.triggerTimes.Forget(namespace, name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("endpoints: reading service %s: %w", key, err)
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.Selector == nil {
		return nil
	}
	pods, err := c.pods.Pods(namespace).List(labels.Set(svc.Spec.Selector).AsSelectorPreValidated())
	if err != nil {
		return fmt.Errorf("endpoints: listing pods of %s: %w", key, err)
	}
	// Observe even when nothing gets written, so the next write reports
	// only changes made after this one.
	triggerTime := c.triggerTimes.Observe(svc, pods)
	subsets := desiredSubsets(logger, svc, pods)

	current, err := c.endpoints.Endpoints(namespace).Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("endpoints: reading endpoints %s: %w", key, err)
	}
	create := current == nil || apierrors.IsNotFound(err)
	if create {
		current = &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	}
	wantLabels := endpointsLabels(svc)
	if !create && subsetsEqual(serviceendpoints.RepackSubsets(current.Subsets), subsets) &&
		labelsEqual(current.Labels, wantLabels) && capacityAnnotationRight(current) {
		return nil
	}

	updated := current.DeepCopy()
	updated.Subsets = subsets
	updated.Labels = wantLabels
	if updated.Annotations == nil {
		updated.Annotations = map[string]string{}
	}
	if triggerTime.IsZero() {
		delete(updated.Annotations, corev1.EndpointsLastChangeTriggerTime)
	} else {
		updated.Annotations[corev1.EndpointsLastChangeTriggerTime] = triggerTime.UTC().Format(time.RFC3339Nano)
	}
	if truncate(updated.Subsets) {
		updated.Annotations[corev1.EndpointsOverCapacity] = overCapacityTruncated
	} else {
		delete(updated.Annotations, corev1.EndpointsOverCapacity)
	}

	if create {
		_, err = c.client.CoreV1().Endpoints(namespace).Create(ctx, updated, metav1.CreateOptions{})
	} else {
		_, err = c.client.CoreV1().Endpoints(namespace).Update(ctx, updated, metav1.UpdateOptions{})
	}
	if err != nil {
		if create && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			// Creates keep failing in a terminating namespace; drop it.
			return nil
		}
		if create {
			c.recorder.Eventf(updated, corev1.EventTypeWarning, "FailedToCreateEndpoint",
				"Failed to create endpoint for service %v/%v: %v", namespace, name, err)
			return fmt.Errorf("endpoints: creating %s: %w", key, err)
		}
		c.recorder.Eventf(updated, corev1.EventTypeWarning, "FailedToUpdateEndpoint",
			"Failed to update endpoint %v/%v: %v", namespace, name, err)
		return fmt.Errorf("endpoints: updating %s: %w", key, err)
	}
	logger.V(4).Info("Wrote endpoints", "service", klog.KObj(svc), "addresses", addressCount(subsets))
	return nil
}

// desiredSubsets builds the canonical subsets of a Service from its pods.
func desiredSubsets(logger klog.Logger, svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	publishNotReady := svc.Spec.PublishNotReadyAddresses
	var subsets []corev1.EndpointSubset
	for _, pod := range pods {
		if !serviceendpoints.IncludePod(pod, publishNotReady) {
			continue
		}
		addr, ok := addressFor(svc, pod)
		if !ok {
			logger.V(4).Info("Pod has no IP of the service's family", "pod", klog.KObj(pod), "service", klog.KObj(svc))
			continue
		}
		ready := publishNotReady || controller.IsPodReady(pod)
		add := func(ports []corev1.EndpointPort) {
			subset := corev1.EndpointSubset{Ports: ports}
			if ready {
				subset.Addresses = []corev1.EndpointAddress{addr}
			} else {
				subset.NotReadyAddresses = []corev1.EndpointAddress{addr}
			}
			subsets = append(subsets, subset)
		}
		if len(svc.Spec.Ports) == 0 {
			// A headless Service may have no ports: list the pods alone.
			if svc.Spec.ClusterIP == corev1.ClusterIPNone {
				add(nil)
			}
			continue
		}
		for i := range svc.Spec.Ports {
			port := &svc.Spec.Ports[i]
			number, err := serviceendpoints.FindPort(pod, port)
			if err != nil {
				logger.V(4).Info("Pod left out of a service port", "pod", klog.KObj(pod), "service", klog.KObj(svc), "err", err)
				continue
			}
			add([]corev1.EndpointPort{{Name: port.Name, Port: number, Protocol: port.Protocol, AppProtocol: port.AppProtocol}})
		}
	}
	return serviceendpoints.RepackSubsets(subsets)
}

// addressFor returns the address of pod for svc: the pod IP of the
// Service's first IP family, the node and a reference to the pod.
func addressFor(svc *corev1.Service, pod *corev1.Pod) (corev1.EndpointAddress, bool) {
	wantIPv6 := false
	switch {
	case len(svc.Spec.IPFamilies) > 0:
		wantIPv6 = svc.Spec.IPFamilies[0] == corev1.IPv6Protocol
	case svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone:
		wantIPv6 = isIPv6(svc.Spec.ClusterIP)
	default:
		wantIPv6 = isIPv6(pod.Status.PodIP)
	}
	ips := pod.Status.PodIPs
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = []corev1.PodIP{{IP: pod.Status.PodIP}}
	}
	for _, ip := range ips {
		if isIPv6(ip.IP) == wantIPv6 {
			nodeName := pod.Spec.NodeName
			return corev1.EndpointAddress{
				IP:       ip.IP,
				Hostname: serviceendpoints.HostnameFor(pod, svc),
				NodeName: &nodeName,
				TargetRef: &corev1.ObjectReference{
					Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
				},
			}, true
		}
	}
	return corev1.EndpointAddress{}, false
}

// endpointsLabels returns the labels Endpoints of svc carry: the
// Service's own, the headless marker when it has no cluster IP, and the
// managed-by label.
func endpointsLabels(svc *corev1.Service) map[string]string {
	out := maps.Clone(svc.Labels)
	if out == nil {
		out = map[string]string{}
	}
	out[LabelManagedBy] = ControllerName
	if svc.Spec.ClusterIP == corev1.ClusterIPNone || svc.Spec.ClusterIP == "" {
		out[corev1.IsHeadlessService] = ""
	} else {
		delete(out, corev1.IsHeadlessService)
	}
	return out
}

func labelsEqual(a, b map[string]string) bool {
	return len(a) == len(b) && maps.Equal(a, b)
}

// capacityAnnotationRight reports whether the over-capacity annotation
// matches the addresses listed: absent while they fit.
func capacityAnnotationRight(ep *corev1.Endpoints) bool {
	if addressCount(ep.Subsets) > maxCapacity {
		return false
	}
	_, marked := ep.Annotations[corev1.EndpointsOverCapacity]
	return !marked
}
