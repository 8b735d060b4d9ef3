package endpointslice

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// slicePrefix is the generateName of a Service's (or Endpoints') slices:
// "<name>-" unless that is too long to be a name prefix.
func slicePrefix(name string) string {
	prefix := name + "-"
	if len(apivalidation.NameIsDNSSubdomain(prefix, true)) != 0 {
		return name
	}
	return prefix
}

// portsKey identifies a set of endpoint ports, in any order.
func portsKey(ports []discoveryv1.EndpointPort) string {
	parts := make([]string, 0, len(ports))
	for _, p := range ports {
		parts = append(parts, strings.Join([]string{
			deref(p.Name), strconv.Itoa(int(deref(p.Port))), string(deref(p.Protocol)), deref(p.AppProtocol),
			strconv.FormatBool(p.Port == nil), strconv.FormatBool(p.AppProtocol == nil),
		}, "|"))
	}
	slices.Sort(parts)
	return strings.Join(parts, ";")
}

// endpointKey identifies an endpoint across slices, as upstream hashes
// it: its addresses, hostname and target. Other fields (node, zone,
// conditions) may change in place.
func endpointKey(ep *discoveryv1.Endpoint) string {
	addresses := slices.Clone(ep.Addresses)
	slices.Sort(addresses)
	target := ""
	if ep.TargetRef != nil {
		target = ep.TargetRef.Namespace + "/" + ep.TargetRef.Name
	}
	return strings.Join(addresses, ",") + "|" + deref(ep.Hostname) + "|" + target
}

// endpointsEqual compares what endpointKey leaves out, ignoring the
// resourceVersion of the target.
func endpointsEqual(a, b *discoveryv1.Endpoint) bool {
	if !ptrEqual(a.NodeName, b.NodeName) || !ptrEqual(a.Zone, b.Zone) ||
		!ptrEqual(a.Conditions.Ready, b.Conditions.Ready) ||
		!ptrEqual(a.Conditions.Serving, b.Conditions.Serving) ||
		!ptrEqual(a.Conditions.Terminating, b.Conditions.Terminating) {
		return false
	}
	if (a.TargetRef == nil) != (b.TargetRef == nil) {
		return false
	}
	if a.TargetRef != nil {
		ra, rb := *a.TargetRef, *b.TargetRef
		ra.ResourceVersion, rb.ResourceVersion = "", ""
		if ra != rb {
			return false
		}
	}
	return true
}

// compareEndpoints orders endpoints by key, for stable output.
func compareEndpoints(a, b *discoveryv1.Endpoint) int {
	return cmp.Compare(endpointKey(a), endpointKey(b))
}

func ptrEqual[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// isReservedLabel reports whether a label is the slice controllers' own,
// never copied from a Service.
func isReservedLabel(key string) bool {
	return key == discoveryv1.LabelServiceName || key == discoveryv1.LabelManagedBy || key == corev1.IsHeadlessService
}

// serviceSliceLabels returns the labels a slice of svc carries and
// whether the labels copied from svc differ from those of current (nil:
// a new slice).
func serviceSliceLabels(current *discoveryv1.EndpointSlice, svc *corev1.Service, managedBy string) (map[string]string, bool) {
	copied := map[string]string{}
	for k, v := range svc.Labels {
		if !isReservedLabel(k) {
			copied[k] = v
		}
	}
	changed := false
	if current != nil {
		existing := map[string]string{}
		for k, v := range current.Labels {
			if !isReservedLabel(k) {
				existing[k] = v
			}
		}
		changed = !maps.Equal(existing, copied)
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone || svc.Spec.ClusterIP == "" {
		copied[corev1.IsHeadlessService] = ""
	}
	copied[discoveryv1.LabelServiceName] = svc.Name
	copied[discoveryv1.LabelManagedBy] = managedBy
	return copied, changed
}

// newServiceSlice returns an empty slice of svc for one address type and
// port set, owned by svc.
func newServiceSlice(svc *corev1.Service, ports []discoveryv1.EndpointPort, addressType discoveryv1.AddressType) *discoveryv1.EndpointSlice {
	labels, _ := serviceSliceLabels(nil, svc, ControllerName)
	if ports == nil {
		ports = []discoveryv1.EndpointPort{}
	}
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    slicePrefix(svc.Name),
			Namespace:       svc.Namespace,
			Labels:          labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(svc, corev1.SchemeGroupVersion.WithKind("Service"))},
		},
		AddressType: addressType,
		Ports:       ports,
		Endpoints:   []discoveryv1.Endpoint{},
	}
}

// ownedBy reports whether svc (this incarnation of it) owns slice.
func ownedBy(slice *discoveryv1.EndpointSlice, svc *corev1.Service) bool {
	for _, ref := range slice.OwnerReferences {
		if ref.UID == svc.UID && ref.Kind == "Service" && ref.APIVersion == "v1" {
			return true
		}
	}
	return false
}

// addressTypes returns the address types a Service's slices have: one per
// IP family; for a Service without families (an older API server), the
// family of its cluster IP, or both for a headless one.
func addressTypes(svc *corev1.Service) sets.Set[discoveryv1.AddressType] {
	types := sets.New[discoveryv1.AddressType]()
	for _, family := range svc.Spec.IPFamilies {
		switch family {
		case corev1.IPv4Protocol:
			types.Insert(discoveryv1.AddressTypeIPv4)
		case corev1.IPv6Protocol:
			types.Insert(discoveryv1.AddressTypeIPv6)
		}
	}
	if types.Len() > 0 {
		return types
	}
	if svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone {
		if isIPv6(svc.Spec.ClusterIP) {
			return types.Insert(discoveryv1.AddressTypeIPv6)
		}
		return types.Insert(discoveryv1.AddressTypeIPv4)
	}
	return types.Insert(discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6)
}

// setTriggerTime sets (or, for a zero time, removes) the
// last-change-trigger-time annotation.
func setTriggerTime(slice *discoveryv1.EndpointSlice, at time.Time) {
	if slice.Annotations == nil {
		slice.Annotations = map[string]string{}
	}
	if at.IsZero() {
		delete(slice.Annotations, corev1.EndpointsLastChangeTriggerTime)
		return
	}
	slice.Annotations[corev1.EndpointsLastChangeTriggerTime] = at.UTC().Format(time.RFC3339Nano)
}
