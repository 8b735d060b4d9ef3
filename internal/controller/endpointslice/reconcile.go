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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"

	"github.com/navarch/navarch/internal/controller"
)

// slicePlan is what one reconcile writes.
type slicePlan struct {
	create []*discoveryv1.EndpointSlice
	update []*discoveryv1.EndpointSlice
	delete []*discoveryv1.EndpointSlice
}

// desiredGroup is the endpoints that share one port set.
type desiredGroup struct {
	ports     []discoveryv1.EndpointPort
	endpoints map[string]discoveryv1.Endpoint
}

// reconcile writes the slices of svc for each of its address types and
// deletes those of address types it no longer has.
func (c *Controller) reconcile(ctx context.Context, svc *corev1.Service, pods []*corev1.Pod, existing []*discoveryv1.EndpointSlice, triggerTime time.Time) error {
	types := addressTypes(svc)
	byType := map[discoveryv1.AddressType][]*discoveryv1.EndpointSlice{}
	var plan slicePlan
	for _, slice := range existing {
		if types.Has(slice.AddressType) {
			byType[slice.AddressType] = append(byType[slice.AddressType], slice)
		} else {
			plan.delete = append(plan.delete, slice)
		}
	}
	var errs []error
	for _, addressType := range sets.List(types) {
		if err := c.reconcileAddressType(ctx, svc, pods, byType[addressType], addressType, triggerTime); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.apply(ctx, svc, &plan, triggerTime); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// reconcileAddressType plans and applies the slices of one address type.
// Pods on nodes the cache does not know are left out (unless the Service
// publishes not-ready addresses) and reported, so the Service is retried.
func (c *Controller) reconcileAddressType(ctx context.Context, svc *corev1.Service, pods []*corev1.Pod,
	existing []*discoveryv1.EndpointSlice, addressType discoveryv1.AddressType, triggerTime time.Time) error {
	logger := klog.FromContext(ctx)
	var plan slicePlan
	existingByPorts := map[string][]*discoveryv1.EndpointSlice{}
	for _, slice := range existing {
		if ownedBy(slice, svc) {
			key := portsKey(slice.Ports)
			existingByPorts[key] = append(existingByPorts[key], slice)
		} else {
			// A slice of an earlier Service of the same name.
			plan.delete = append(plan.delete, slice)
		}
	}

	var errs []error
	desired := map[string]*desiredGroup{}
	for _, pod := range pods {
		if !serviceendpoints.IncludePod(pod, true) {
			continue
		}
		ports := endpointPorts(logger, svc, pod)
		key := portsKey(ports)
		node, err := c.nodes.Get(pod.Spec.NodeName)
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("endpointslice: reading node %s: %w", pod.Spec.NodeName, err)
		}
		if err != nil {
			node = nil
			if !svc.Spec.PublishNotReadyAddresses {
				errs = append(errs, fmt.Errorf("endpointslice: skipping pod %s of service %s/%s: node %q not found",
					pod.Name, svc.Namespace, svc.Name, pod.Spec.NodeName))
				continue
			}
		}
		ep := podEndpoint(pod, node, svc, addressType)
		if len(ep.Addresses) == 0 {
			continue
		}
		group := desired[key]
		if group == nil {
			group = &desiredGroup{ports: ports, endpoints: map[string]discoveryv1.Endpoint{}}
			desired[key] = group
		}
		group.endpoints[endpointKey(&ep)] = ep
	}

	for _, key := range slices.Sorted(maps.Keys(desired)) {
		c.packPortGroup(svc, addressType, existingByPorts[key], desired[key], &plan)
	}
	for key, unwanted := range existingByPorts {
		if desired[key] == nil {
			plan.delete = append(plan.delete, unwanted...)
		}
	}
	// A Service without endpoints still gets one empty slice, so that
	// consumers can tell "no endpoints" from "not synced yet".
	if len(existing) == len(plan.delete) && len(plan.create) == 0 {
		placeholder := newServiceSlice(svc, nil, addressType)
		if len(plan.delete) == 1 && isPlaceholderOf(plan.delete[0], placeholder) {
			plan.delete = nil
		} else {
			plan.create = append(plan.create, placeholder)
		}
	}
	if err := c.apply(ctx, svc, &plan, triggerTime); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// isPlaceholderOf reports whether an existing slice is, but for its
// name, the placeholder want.
func isPlaceholderOf(slice, want *discoveryv1.EndpointSlice) bool {
	return slice.Namespace == want.Namespace && slice.AddressType == want.AddressType &&
		len(slice.Endpoints) == 0 && len(slice.Ports) == 0 &&
		maps.Equal(slice.Labels, want.Labels) &&
		slices.EqualFunc(slice.OwnerReferences, want.OwnerReferences, func(a, b metav1.OwnerReference) bool {
			return a.String() == b.String()
		})
}

// packPortGroup plans the slices of one port set, as upstream does:
//  1. existing slices drop endpoints no longer wanted and take the new
//     version of changed ones (slices left empty are deleted);
//  2. slices changed in 1 are filled up with new endpoints, fullest first;
//  3. what is left goes into the unchanged slice that it fills best, or
//     into new slices.
//
// Updating few slices keeps the watch traffic of consumers low.
func (c *Controller) packPortGroup(svc *corev1.Service, addressType discoveryv1.AddressType,
	existing []*discoveryv1.EndpointSlice, group *desiredGroup, plan *slicePlan) {
	limit := c.maxEndpointsPerSlice
	wanted := maps.Clone(group.endpoints)
	var updated, unchanged []*discoveryv1.EndpointSlice
	for _, slice := range existing {
		var kept []discoveryv1.Endpoint
		changed := false
		for i := range slice.Endpoints {
			key := endpointKey(&slice.Endpoints[i])
			want, ok := wanted[key]
			if !ok {
				continue
			}
			kept = append(kept, want)
			if !endpointsEqual(&want, &slice.Endpoints[i]) {
				changed = true
			}
			delete(wanted, key)
		}
		labels, labelsChanged := serviceSliceLabels(slice, svc, ControllerName)
		switch {
		case changed || len(kept) != len(slice.Endpoints):
			if len(kept) == 0 {
				plan.delete = append(plan.delete, slice)
				continue
			}
			copied := slice.DeepCopy()
			copied.Endpoints = kept
			copied.Labels = labels
			updated = append(updated, copied)
		case labelsChanged:
			copied := slice.DeepCopy()
			copied.Labels = labels
			updated = append(updated, copied)
		default:
			unchanged = append(unchanged, slice)
		}
	}

	remaining := slices.Collect(maps.Values(wanted))
	slices.SortFunc(remaining, func(a, b discoveryv1.Endpoint) int { return compareEndpoints(&a, &b) })
	take := func(slice *discoveryv1.EndpointSlice) {
		n := min(limit-len(slice.Endpoints), len(remaining))
		if n <= 0 {
			return
		}
		slice.Endpoints = append(slice.Endpoints, remaining[:n]...)
		remaining = remaining[n:]
	}

	slices.SortStableFunc(updated, func(a, b *discoveryv1.EndpointSlice) int { return len(b.Endpoints) - len(a.Endpoints) })
	for _, slice := range updated {
		take(slice)
	}
	for len(remaining) > 0 {
		var fill *discoveryv1.EndpointSlice
		if len(remaining) < limit {
			if i := bestFit(unchanged, len(remaining), limit); i >= 0 {
				fill = unchanged[i].DeepCopy()
				unchanged = slices.Delete(unchanged, i, i+1)
				updated = append(updated, fill)
			}
		}
		if fill == nil {
			fill = newServiceSlice(svc, group.ports, addressType)
			plan.create = append(plan.create, fill)
		}
		take(fill)
	}
	plan.update = append(plan.update, updated...)
}

// bestFit returns the index of the slice that adding n endpoints fills
// closest to limit without going over, or -1.
func bestFit(candidates []*discoveryv1.EndpointSlice, n, limit int) int {
	best, bestLeft := -1, limit
	for i, slice := range candidates {
		left := limit - (len(slice.Endpoints) + n)
		if left >= 0 && left < bestLeft {
			best, bestLeft = i, left
			if left == 0 {
				break
			}
		}
	}
	return best
}

// apply writes a plan. Slices to create and to delete pair up first: the
// one to delete is rewritten instead, saving a create and a delete. No
// slice is created for a Service being deleted (the garbage collector
// would race to delete it).
func (c *Controller) apply(ctx context.Context, svc *corev1.Service, plan *slicePlan, triggerTime time.Time) error {
	for i := 0; i < len(plan.delete) && len(plan.create) > 0; {
		old := plan.delete[i]
		replacement := plan.create[len(plan.create)-1]
		if old.AddressType != replacement.AddressType || !ownedBy(old, svc) {
			i++
			continue
		}
		replacement.Name, replacement.GenerateName, replacement.ResourceVersion = old.Name, "", old.ResourceVersion
		plan.create = plan.create[:len(plan.create)-1]
		plan.update = append(plan.update, replacement)
		plan.delete = slices.Delete(plan.delete, i, i+1)
	}
	slicesClient := c.client.DiscoveryV1().EndpointSlices(svc.Namespace)
	if svc.DeletionTimestamp == nil {
		for _, slice := range plan.create {
			setTriggerTime(slice, triggerTime)
			created, err := slicesClient.Create(ctx, slice, metav1.CreateOptions{})
			if err != nil {
				if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
					return nil
				}
				return fmt.Errorf("endpointslice: creating a slice of service %s/%s: %w", svc.Namespace, svc.Name, err)
			}
			c.tracker.written(created)
		}
	}
	for _, slice := range plan.update {
		setTriggerTime(slice, triggerTime)
		updated, err := slicesClient.Update(ctx, slice, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("endpointslice: updating slice %s of service %s/%s: %w", slice.Name, svc.Namespace, svc.Name, err)
		}
		c.tracker.written(updated)
	}
	for _, slice := range plan.delete {
		err := slicesClient.Delete(ctx, slice.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("endpointslice: deleting slice %s of service %s/%s: %w", slice.Name, svc.Namespace, svc.Name, err)
		}
		c.tracker.expectDeletion(slice)
	}
	return nil
}

// endpointPorts resolves the Service's ports on one pod; ports whose
// named target the pod lacks are left out.
func endpointPorts(logger klog.Logger, svc *corev1.Service, pod *corev1.Pod) []discoveryv1.EndpointPort {
	ports := []discoveryv1.EndpointPort{}
	for i := range svc.Spec.Ports {
		servicePort := &svc.Spec.Ports[i]
		number, err := serviceendpoints.FindPort(pod, servicePort)
		if err != nil {
			logger.V(4).Info("Pod left out of a service port", "pod", klog.KObj(pod), "service", klog.KObj(svc), "err", err)
			continue
		}
		name, protocol := servicePort.Name, servicePort.Protocol
		ports = append(ports, discoveryv1.EndpointPort{Name: &name, Port: &number, Protocol: &protocol, AppProtocol: servicePort.AppProtocol})
	}
	return ports
}

// podEndpoint returns the endpoint of pod in a slice of addressType.
func podEndpoint(pod *corev1.Pod, node *corev1.Node, svc *corev1.Service, addressType discoveryv1.AddressType) discoveryv1.Endpoint {
	serving := controller.IsPodReady(pod)
	terminating := pod.DeletionTimestamp != nil
	// Compatibility with Endpoints: a terminating pod is never ready,
	// unless not-ready addresses are published.
	ready := svc.Spec.PublishNotReadyAddresses || (serving && !terminating)
	ep := discoveryv1.Endpoint{
		Addresses:  podAddresses(pod, addressType),
		Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
	}
	if pod.Spec.NodeName != "" {
		nodeName := pod.Spec.NodeName
		ep.NodeName = &nodeName
	}
	if node != nil {
		if zone := node.Labels[corev1.LabelTopologyZone]; zone != "" {
			ep.Zone = &zone
		}
	}
	if hostname := serviceendpoints.HostnameFor(pod, svc); hostname != "" {
		ep.Hostname = &hostname
	}
	return ep
}

// podAddresses returns the pod's IPs of one address type, in canonical
// text form.
func podAddresses(pod *corev1.Pod, addressType discoveryv1.AddressType) []string {
	ips := pod.Status.PodIPs
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = []corev1.PodIP{{IP: pod.Status.PodIP}}
	}
	var out []string
	for _, ip := range ips {
		text, v6, ok := canonicalIP(ip.IP)
		if !ok {
			continue
		}
		if v6 == (addressType == discoveryv1.AddressTypeIPv6) {
			out = append(out, text)
		}
	}
	return out
}
