package endpointslice

import (
	"context"
	"errors"
	"fmt"
	"github.com/navarch/navarch/internal/controller/serviceendpoints"
	"maps"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

const (
	// MirroringControllerName is the managed-by label value of the slices
	// MirroringController writes.
	MirroringControllerName = "endpointslicemirroring-controller.k8s.io"
	// MaxEndpointsPerSubset is how many addresses of one Endpoints subset
	// are mirrored (upstream's --mirroring-max-endpoints-per-subset
	// default); the rest are skipped with an event.
	MaxEndpointsPerSubset = 1000
)

// MirroringController mirrors the Endpoints of selector-less Services
// into EndpointSlices.
type MirroringController struct {
	client      kubernetes.Interface
	broadcaster record.EventBroadcaster
	// recorder emits core/v1 events as
	// "endpoint-slice-mirroring-controller"; tests replace it.
	recorder record.EventRecorder

	endpoints corelisters.EndpointsLister
	services  corelisters.ServiceLister
	slices    discoverylisters.EndpointSliceLister
	synced    []cache.InformerSynced

	// queue holds Endpoints keys (namespace/name, the Service's too).
	queue   workqueue.TypedRateLimitingInterface[string]
	tracker *sliceTracker
	// maxEndpointsPerSubset is MaxEndpointsPerSubset; tests lower it.
	maxEndpointsPerSubset int
}

// NewMirroring returns a mirroring controller fed by the shared
// endpoints, service and endpointslice informers. Register it before the
// informers start.
func NewMirroring(client kubernetes.Interface, endpoints coreinformers.EndpointsInformer, services coreinformers.ServiceInformer,
	slices discoveryinformers.EndpointSliceInformer) *MirroringController {
	broadcaster := record.NewBroadcaster()
	c := &MirroringController{
		client:      client,
		broadcaster: broadcaster,
		recorder:    broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "endpoint-slice-mirroring-controller"}),
		endpoints:   endpoints.Lister(),
		services:    services.Lister(),
		slices:      slices.Lister(),
		synced: []cache.InformerSynced{
			endpoints.Informer().HasSynced, services.Informer().HasSynced, slices.Informer().HasSynced,
		},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "endpoint_slice_mirroring"}),
		tracker:               newSliceTracker(),
		maxEndpointsPerSubset: MaxEndpointsPerSubset,
	}
	_, _ = services.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			if svc, ok := obj.(*corev1.Service); ok && svc.Spec.Selector == nil {
				c.enqueue(obj)
			}
		},
		UpdateFunc: func(oldObj, newObj interface{}) {
			oldSvc, ok1 := oldObj.(*corev1.Service)
			svc, ok2 := newObj.(*corev1.Service)
			if ok1 && ok2 && (oldSvc.Spec.Selector == nil) != (svc.Spec.Selector == nil) {
				c.enqueue(newObj)
			}
		},
		DeleteFunc: func(obj interface{}) {
			svc, ok := obj.(*corev1.Service)
			if tombstone, isTombstone := obj.(cache.DeletedFinalStateUnknown); isTombstone {
				svc, ok = tombstone.Obj.(*corev1.Service)
			}
			if ok && svc.Spec.Selector == nil {
				c.enqueue(obj)
			}
		},
	})
	_, _ = endpoints.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			if ep, ok := obj.(*corev1.Endpoints); ok && shouldMirror(ep) {
				c.enqueue(obj)
			}
		},
		UpdateFunc: func(oldObj, newObj interface{}) {
			oldEp, ok1 := oldObj.(*corev1.Endpoints)
			ep, ok2 := newObj.(*corev1.Endpoints)
			// Turning skip-mirror on needs a sync too: to delete.
			if ok1 && ok2 && (shouldMirror(oldEp) || shouldMirror(ep)) {
				c.enqueue(newObj)
			}
		},
		DeleteFunc: func(obj interface{}) {
			ep, ok := obj.(*corev1.Endpoints)
			if tombstone, isTombstone := obj.(cache.DeletedFinalStateUnknown); isTombstone {
				ep, ok = tombstone.Obj.(*corev1.Endpoints)
			}
			if ok && shouldMirror(ep) {
				c.enqueue(obj)
			}
		},
	})
	_, _ = slices.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.sliceChanged,
		UpdateFunc: c.sliceUpdated,
		DeleteFunc: c.sliceDeleted,
	})
	return c
}

// shouldMirror reports whether an Endpoints object may be mirrored: not
// labelled skip-mirror=true and not an old leader-election record.
func shouldMirror(ep *corev1.Endpoints) bool {
	if ep == nil || ep.Labels[discoveryv1.LabelSkipMirror] == "true" {
		return false
	}
	_, leaderElection := ep.Annotations[resourcelock.LeaderElectionRecordAnnotationKey]
	return !leaderElection
}

// Start waits for the caches, runs the workers and blocks until ctx ends;
// it returns nil then, or an error if the caches never synced.
func (c *MirroringController) Start(ctx context.Context) error {
	defer utilruntime.HandleCrashWithContext(ctx)
	defer c.queue.ShutDown()
	logger := klog.FromContext(ctx)
	c.broadcaster.StartStructuredLogging(3)
	c.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer c.broadcaster.Shutdown()
	logger.Info("Starting endpoint slice mirroring controller")
	defer logger.Info("Shutting down endpoint slice mirroring controller")
	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("endpointslice: mirroring caches did not sync")
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

func (c *MirroringController) enqueue(obj interface{}) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("endpointslice: no key for %T: %w", obj, err))
		return
	}
	c.queue.Add(key)
}

func (c *MirroringController) sliceChanged(obj interface{}) {
	slice, ok := obj.(*discoveryv1.EndpointSlice)
	if ok && slice.Labels[discoveryv1.LabelManagedBy] == MirroringControllerName && c.tracker.changedByOthers(slice) {
		c.queueEndpointsOf(slice)
	}
}

func (c *MirroringController) sliceUpdated(oldObj, newObj interface{}) {
	oldSlice, ok1 := oldObj.(*discoveryv1.EndpointSlice)
	slice, ok2 := newObj.(*discoveryv1.EndpointSlice)
	if !ok1 || !ok2 {
		return
	}
	if oldSlice.Labels[discoveryv1.LabelServiceName] != slice.Labels[discoveryv1.LabelServiceName] ||
		(oldSlice.Labels[discoveryv1.LabelManagedBy] == MirroringControllerName) != (slice.Labels[discoveryv1.LabelManagedBy] == MirroringControllerName) {
		c.queueEndpointsOf(oldSlice)
		c.queueEndpointsOf(slice)
		return
	}
	c.sliceChanged(slice)
}

func (c *MirroringController) sliceDeleted(obj interface{}) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	slice, ok := obj.(*discoveryv1.EndpointSlice)
	if ok && slice.Labels[discoveryv1.LabelManagedBy] == MirroringControllerName && !c.tracker.deleted(slice) {
		c.queueEndpointsOf(slice)
	}
}

func (c *MirroringController) queueEndpointsOf(slice *discoveryv1.EndpointSlice) {
	if name := slice.Labels[discoveryv1.LabelServiceName]; name != "" {
		c.queue.Add(slice.Namespace + "/" + name)
	}
}

// sync mirrors one Endpoints object, or deletes its mirrored slices when
// it must not be mirrored (gone, skip-mirror, no Service, or a Service
// with a selector, whose slices Controller writes).
func (c *MirroringController) sync(ctx context.Context, key string) error {
	logger := klog.FromContext(ctx)
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return fmt.Errorf("endpointslice: bad key %q: %w", key, err)
	}
	ep, err := c.endpoints.Endpoints(namespace).Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("endpointslice: reading endpoints %s: %w", key, err)
	}
	if apierrors.IsNotFound(err) || !shouldMirror(ep) {
		return c.deleteMirrored(ctx, namespace, name)
	}
	svc, err := c.services.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return c.deleteMirrored(ctx, namespace, name)
	}
	if err != nil {
		return fmt.Errorf("endpointslice: reading service %s: %w", key, err)
	}
	if svc.Spec.Selector != nil {
		return c.deleteMirrored(ctx, namespace, name)
	}
	existing, err := c.mirroredSlices(namespace, name)
	if err != nil {
		return err
	}
	if c.tracker.stale(namespace, name, existing) {
		return errStaleCache
	}
	plan := c.plan(logger, ep, existing)
	return c.apply(ctx, ep, &plan)
}

func (c *MirroringController) mirroredSlices(namespace, name string) ([]*discoveryv1.EndpointSlice, error) {
	list, err := c.slices.EndpointSlices(namespace).List(labels.Set{
		discoveryv1.LabelServiceName: name,
		discoveryv1.LabelManagedBy:   MirroringControllerName,
	}.AsSelectorPreValidated())
	if err != nil {
		return nil, fmt.Errorf("endpointslice: listing mirrored slices of %s/%s: %w", namespace, name, err)
	}
	return list, nil
}

func (c *MirroringController) deleteMirrored(ctx context.Context, namespace, name string) error {
	existing, err := c.mirroredSlices(namespace, name)
	if err != nil {
		return err
	}
	c.tracker.forget(namespace, name)
	var errs []error
	for _, slice := range existing {
		err := c.client.DiscoveryV1().EndpointSlices(namespace).Delete(ctx, slice.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("endpointslice: deleting mirrored slice %s/%s: %w", namespace, slice.Name, err))
		}
	}
	return errors.Join(errs...)
}

// mirrorGroup is the endpoints of one address type and port set.
type mirrorGroup struct {
	addressType discoveryv1.AddressType
	ports       []discoveryv1.EndpointPort
	endpoints   map[string]discoveryv1.Endpoint
}

// plan computes the mirrored slices of ep: one per address type and port
// set. An existing slice of a group is kept and rewritten when it
// differs; extra ones are deleted.
func (c *MirroringController) plan(logger klog.Logger, ep *corev1.Endpoints, existing []*discoveryv1.EndpointSlice) slicePlan {
	groups := map[string]*mirrorGroup{}
	invalid, skipped := 0, 0
	for _, subset := range serviceendpoints.RepackSubsets(ep.Subsets) {
		ports := mirroredPorts(subset.Ports)
		added := 0
		add := func(address corev1.EndpointAddress, ready bool) {
			if added >= c.maxEndpointsPerSubset {
				skipped++
				return
			}
			endpoint, addressType, ok := mirroredEndpoint(address, ready)
			if !ok {
				invalid++
				logger.Info("Address in Endpoints is not a valid IP, it will not be mirrored", "endpoints", klog.KObj(ep), "ip", address.IP)
				return
			}
			key := string(addressType) + "/" + portsKey(ports)
			group := groups[key]
			if group == nil {
				group = &mirrorGroup{addressType: addressType, ports: ports, endpoints: map[string]discoveryv1.Endpoint{}}
				groups[key] = group
			}
			group.endpoints[endpointKey(&endpoint)] = endpoint
			added++
		}
		for _, address := range subset.Addresses {
			add(address, true)
		}
		for _, address := range subset.NotReadyAddresses {
			add(address, false)
		}
	}
	if invalid > 0 {
		c.recorder.Eventf(ep, corev1.EventTypeWarning, "InvalidIPAddress",
			"Skipped %d invalid IP addresses when mirroring to EndpointSlices", invalid)
	}
	if skipped > 0 {
		c.recorder.Eventf(ep, corev1.EventTypeWarning, "TooManyAddressesToMirror",
			"A max of %d addresses can be mirrored to EndpointSlices per Endpoints subset. %d addresses were skipped", c.maxEndpointsPerSubset, skipped)
	}

	existingByKey := map[string][]*discoveryv1.EndpointSlice{}
	for _, slice := range existing {
		key := string(slice.AddressType) + "/" + portsKey(slice.Ports)
		existingByKey[key] = append(existingByKey[key], slice)
	}
	var plan slicePlan
	for _, key := range slices.Sorted(maps.Keys(groups)) {
		group := groups[key]
		current := existingByKey[key]
		var name, resourceVersion string
		if len(current) > 0 {
			plan.delete = append(plan.delete, current[1:]...)
			if mirrorUpToDate(current[0], ep, group) {
				continue
			}
			name, resourceVersion = current[0].Name, current[0].ResourceVersion
		}
		slice := newMirroredSlice(ep, group)
		slice.Name, slice.ResourceVersion = name, resourceVersion
		if name == "" {
			plan.create = append(plan.create, slice)
		} else {
			slice.GenerateName = ""
			plan.update = append(plan.update, slice)
		}
	}
	for key, unwanted := range existingByKey {
		if groups[key] == nil {
			plan.delete = append(plan.delete, unwanted...)
		}
	}
	return plan
}

// mirrorUpToDate reports whether a mirrored slice already shows group
// with the Endpoints' labels and annotations.
func mirrorUpToDate(slice *discoveryv1.EndpointSlice, ep *corev1.Endpoints, group *mirrorGroup) bool {
	if len(slice.Endpoints) != len(group.endpoints) {
		return false
	}
	for i := range slice.Endpoints {
		want, ok := group.endpoints[endpointKey(&slice.Endpoints[i])]
		if !ok || !endpointsEqual(&want, &slice.Endpoints[i]) {
			return false
		}
	}
	wantLabels, wantAnnotations := mirroredMetadata(ep)
	return apiequality.Semantic.DeepEqual(slice.Labels, wantLabels) &&
		apiequality.Semantic.DeepEqual(slice.Annotations, wantAnnotations)
}

// mirroredMetadata returns the labels and annotations a mirrored slice
// of ep carries: the Endpoints' own (but the trigger time and kubectl's
// last-applied configuration), plus the service-name and managed-by
// labels.
func mirroredMetadata(ep *corev1.Endpoints) (map[string]string, map[string]string) {
	labels := maps.Clone(ep.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[discoveryv1.LabelServiceName] = ep.Name
	labels[discoveryv1.LabelManagedBy] = MirroringControllerName
	annotations := map[string]string{}
	for k, v := range ep.Annotations {
		if k != corev1.EndpointsLastChangeTriggerTime && k != corev1.LastAppliedConfigAnnotation {
			annotations[k] = v
		}
	}
	return labels, annotations
}

func newMirroredSlice(ep *corev1.Endpoints, group *mirrorGroup) *discoveryv1.EndpointSlice {
	labels, annotations := mirroredMetadata(ep)
	endpoints := slices.Collect(maps.Values(group.endpoints))
	slices.SortFunc(endpoints, func(a, b discoveryv1.Endpoint) int { return compareEndpoints(&a, &b) })
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    slicePrefix(ep.Name),
			Namespace:       ep.Namespace,
			Labels:          labels,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ep, corev1.SchemeGroupVersion.WithKind("Endpoints"))},
		},
		AddressType: group.addressType,
		Ports:       group.ports,
		Endpoints:   endpoints,
	}
}

func mirroredPorts(ports []corev1.EndpointPort) []discoveryv1.EndpointPort {
	out := []discoveryv1.EndpointPort{}
	for _, p := range ports {
		name, port, protocol := p.Name, p.Port, p.Protocol
		out = append(out, discoveryv1.EndpointPort{Name: &name, Port: &port, Protocol: &protocol, AppProtocol: p.AppProtocol})
	}
	return out
}

// mirroredEndpoint converts one Endpoints address; ok is false for an
// address that is not an IP.
func mirroredEndpoint(address corev1.EndpointAddress, ready bool) (discoveryv1.Endpoint, discoveryv1.AddressType, bool) {
	text, v6, ok := canonicalIP(address.IP)
	if !ok {
		return discoveryv1.Endpoint{}, "", false
	}
	addressType := discoveryv1.AddressTypeIPv4
	if v6 {
		addressType = discoveryv1.AddressTypeIPv6
	}
	endpoint := discoveryv1.Endpoint{
		Addresses:  []string{text},
		Conditions: discoveryv1.EndpointConditions{Ready: &ready},
		TargetRef:  address.TargetRef.DeepCopy(),
		NodeName:   address.NodeName,
	}
	if address.Hostname != "" {
		hostname := address.Hostname
		endpoint.Hostname = &hostname
	}
	return endpoint, addressType, true
}

// apply writes a mirroring plan; creates reuse slices about to be
// deleted. Nothing is created for Endpoints being deleted.
func (c *MirroringController) apply(ctx context.Context, ep *corev1.Endpoints, plan *slicePlan) error {
	for len(plan.create) > 0 && len(plan.delete) > 0 {
		replacement := plan.create[len(plan.create)-1]
		i := slices.IndexFunc(plan.delete, func(s *discoveryv1.EndpointSlice) bool { return s.AddressType == replacement.AddressType })
		if i < 0 {
			break
		}
		old := plan.delete[i]
		replacement.Name, replacement.GenerateName, replacement.ResourceVersion = old.Name, "", old.ResourceVersion
		plan.create = plan.create[:len(plan.create)-1]
		plan.update = append(plan.update, replacement)
		plan.delete = slices.Delete(plan.delete, i, i+1)
	}
	client := c.client.DiscoveryV1().EndpointSlices(ep.Namespace)
	if ep.DeletionTimestamp == nil {
		for _, slice := range plan.create {
			created, err := client.Create(ctx, slice, metav1.CreateOptions{})
			if err != nil {
				if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
					return nil
				}
				return fmt.Errorf("endpointslice: creating a mirrored slice of %s/%s: %w", ep.Namespace, ep.Name, err)
			}
			c.tracker.written(created)
		}
	}
	for _, slice := range plan.update {
		updated, err := client.Update(ctx, slice, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("endpointslice: updating mirrored slice %s/%s: %w", ep.Namespace, slice.Name, err)
		}
		c.tracker.written(updated)
	}
	for _, slice := range plan.delete {
		if err := client.Delete(ctx, slice.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("endpointslice: deleting mirrored slice %s/%s: %w", ep.Namespace, slice.Name, err)
		}
		c.tracker.expectDeletion(slice)
	}
	return nil
}
