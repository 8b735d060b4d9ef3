package endpointslice

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/registry"
)

// Upstream's limits on an EndpointSlice.
const (
	maxEndpoints      = 1000
	maxAddresses      = 100
	maxPorts          = 20000
	maxTopologyLabels = 16
	maxZoneHints      = 8
	maxNodeHints      = 8
)

var (
	supportedAddressTypes = []string{string(discoveryv1.AddressTypeFQDN), string(discoveryv1.AddressTypeIPv4), string(discoveryv1.AddressTypeIPv6)}
	supportedProtocols    = []string{string(corev1.ProtocolSCTP), string(corev1.ProtocolTCP), string(corev1.ProtocolUDP)}
)

// Kind returns the registry entry of discovery.k8s.io/v1 EndpointSlice.
// Every strategy method takes *discoveryv1.EndpointSlice.
func Kind() *registry.Kind {
	return &registry.Kind{
		GroupVersion: discoveryv1.SchemeGroupVersion,
		Resource:     "endpointslices",
		Singular:     "endpointslice",
		Kind:         "EndpointSlice",
		Namespaced:   true,
		New:          func() runtime.Object { return &discoveryv1.EndpointSlice{} },
		NewList:      func() runtime.Object { return &discoveryv1.EndpointSliceList{} },
		Strategy:     strategy{},
		Table:        table,
	}
}

// strategy holds the create and update rules of EndpointSlices.
type strategy struct{}

var _ registry.Strategy = strategy{}

// Default gives every port an empty name and protocol TCP when unset.
func (strategy) Default(obj runtime.Object) {
	slice := obj.(*discoveryv1.EndpointSlice)
	for i := range slice.Ports {
		port := &slice.Ports[i]
		if port.Name == nil {
			port.Name = ptr.To("")
		}
		if port.Protocol == nil {
			port.Protocol = ptr.To(corev1.ProtocolTCP)
		}
	}
}

// PrepareForCreate starts the generation at 1.
func (strategy) PrepareForCreate(obj runtime.Object) {
	obj.(*discoveryv1.EndpointSlice).Generation = 1
}

// PrepareForUpdate bumps the generation when anything but the metadata
// changes, or the labels do: an EndpointSlice has no status subresource,
// so its consumers (proxies, DNS) watch the generation to see new data.
func (strategy) PrepareForUpdate(obj, old runtime.Object) {
	slice, oldSlice := obj.(*discoveryv1.EndpointSlice), old.(*discoveryv1.EndpointSlice)
	changed := slice.AddressType != oldSlice.AddressType ||
		!apiequality.Semantic.DeepEqual(slice.Endpoints, oldSlice.Endpoints) ||
		!apiequality.Semantic.DeepEqual(slice.Ports, oldSlice.Ports) ||
		!apiequality.Semantic.DeepEqual(slice.Labels, oldSlice.Labels)
	if changed {
		slice.Generation = oldSlice.Generation + 1
	}
}

// Validate checks a new EndpointSlice.
func (strategy) Validate(obj runtime.Object) field.ErrorList {
	slice := obj.(*discoveryv1.EndpointSlice)
	errs := apivalidation.ValidateObjectMeta(&slice.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	errs = append(errs, validateAddressType(slice.AddressType)...)
	errs = append(errs, validateEndpoints(slice.Endpoints, slice.AddressType, field.NewPath("endpoints"))...)
	return append(errs, validatePorts(slice.Ports, field.NewPath("ports"))...)
}

// ValidateUpdate checks an update: the address type never changes.
func (s strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	slice, oldSlice := obj.(*discoveryv1.EndpointSlice), old.(*discoveryv1.EndpointSlice)
	errs := apivalidation.ValidateObjectMetaUpdate(&slice.ObjectMeta, &oldSlice.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, s.Validate(obj)...)
	return append(errs, apivalidation.ValidateImmutableField(slice.AddressType, oldSlice.AddressType, field.NewPath("addressType"))...)
}

func validateAddressType(addressType discoveryv1.AddressType) field.ErrorList {
	typePath := field.NewPath("addressType")
	if addressType == "" {
		return field.ErrorList{field.Required(typePath, "")}
	}
	if !sets.New(supportedAddressTypes...).Has(string(addressType)) {
		return field.ErrorList{field.NotSupported(typePath, addressType, supportedAddressTypes)}
	}
	return nil
}

func validateEndpoints(endpoints []discoveryv1.Endpoint, addressType discoveryv1.AddressType, fldPath *field.Path) field.ErrorList {
	if len(endpoints) > maxEndpoints {
		return field.ErrorList{field.TooMany(fldPath, len(endpoints), maxEndpoints)}
	}
	var errs field.ErrorList
	for i := range endpoints {
		endpoint := &endpoints[i]
		idxPath := fldPath.Index(i)
		addressesPath := idxPath.Child("addresses")
		if len(endpoint.Addresses) == 0 {
			errs = append(errs, field.Required(addressesPath, "must contain at least 1 address"))
		} else if len(endpoint.Addresses) > maxAddresses {
			errs = append(errs, field.TooMany(addressesPath, len(endpoint.Addresses), maxAddresses))
		}
		for j, address := range endpoint.Addresses {
			errs = append(errs, validateAddress(address, addressType, addressesPath.Index(j))...)
		}
		if endpoint.NodeName != nil {
			for _, msg := range apivalidation.NameIsDNSSubdomain(*endpoint.NodeName, false) {
				errs = append(errs, field.Invalid(idxPath.Child("nodeName"), *endpoint.NodeName, msg))
			}
		}
		topologyPath := idxPath.Child("deprecatedTopology")
		if len(endpoint.DeprecatedTopology) > maxTopologyLabels {
			errs = append(errs, field.TooMany(topologyPath, len(endpoint.DeprecatedTopology), maxTopologyLabels))
		}
		errs = append(errs, metav1validation.ValidateLabels(endpoint.DeprecatedTopology, topologyPath)...)
		if endpoint.Hostname != nil {
			for _, msg := range validation.IsDNS1123Label(*endpoint.Hostname) {
				errs = append(errs, field.Invalid(idxPath.Child("hostname"), *endpoint.Hostname, msg))
			}
		}
		if endpoint.Hints != nil {
			errs = append(errs, validateHints(endpoint.Hints, idxPath.Child("hints"))...)
		}
	}
	return errs
}

// validateAddress checks one address against the slice's address type.
// IP addresses must also be usable as endpoints: not unspecified,
// loopback or link-local.
func validateAddress(address string, addressType discoveryv1.AddressType, fldPath *field.Path) field.ErrorList {
	switch addressType {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
		ip, err := netip.ParseAddr(address)
		if err != nil || ip.Zone() != "" {
			return field.ErrorList{field.Invalid(fldPath, address, fmt.Sprintf("must be a valid %s address", addressType))}
		}
		if addressType == discoveryv1.AddressTypeIPv4 && !ip.Is4() || addressType == discoveryv1.AddressTypeIPv6 && (!ip.Is6() || ip.Is4In6()) {
			return field.ErrorList{field.Invalid(fldPath, address, fmt.Sprintf("must be a valid %s address", addressType))}
		}
		return validateEndpointIP(ip, address, fldPath)
	case discoveryv1.AddressTypeFQDN:
		return validation.IsFullyQualifiedDomainName(fldPath, address)
	default:
		// An unknown address type is reported on addressType.
		return nil
	}
}

func validateEndpointIP(ip netip.Addr, address string, fldPath *field.Path) field.ErrorList {
	switch {
	case ip.IsUnspecified():
		return field.ErrorList{field.Invalid(fldPath, address, fmt.Sprintf("may not be unspecified (%v)", address))}
	case ip.IsLoopback():
		return field.ErrorList{field.Invalid(fldPath, address, "may not be in the loopback range (127.0.0.0/8, ::1/128)")}
	case ip.IsLinkLocalUnicast():
		return field.ErrorList{field.Invalid(fldPath, address, "may not be in the link-local range (169.254.0.0/16, fe80::/10)")}
	case ip.IsLinkLocalMulticast():
		return field.ErrorList{field.Invalid(fldPath, address, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")}
	}
	return nil
}

func validateHints(hints *discoveryv1.EndpointHints, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	zonesPath := fldPath.Child("forZones")
	if len(hints.ForZones) > maxZoneHints {
		errs = append(errs, field.TooMany(zonesPath, len(hints.ForZones), maxZoneHints))
	}
	zones := sets.New[string]()
	for i, hint := range hints.ForZones {
		namePath := zonesPath.Index(i).Child("name")
		if zones.Has(hint.Name) {
			errs = append(errs, field.Duplicate(namePath, hint.Name))
		}
		zones.Insert(hint.Name)
		for _, msg := range content.IsLabelValue(hint.Name) {
			errs = append(errs, field.Invalid(namePath, hint.Name, msg))
		}
	}
	nodesPath := fldPath.Child("forNodes")
	if len(hints.ForNodes) > maxNodeHints {
		errs = append(errs, field.TooMany(nodesPath, len(hints.ForNodes), maxNodeHints))
	}
	nodes := sets.New[string]()
	for i, hint := range hints.ForNodes {
		namePath := nodesPath.Index(i).Child("name")
		if nodes.Has(hint.Name) {
			errs = append(errs, field.Duplicate(namePath, hint.Name))
		}
		nodes.Insert(hint.Name)
		for _, msg := range apivalidation.NameIsDNSSubdomain(hint.Name, false) {
			errs = append(errs, field.Invalid(namePath, hint.Name, msg))
		}
	}
	return errs
}

func validatePorts(ports []discoveryv1.EndpointPort, fldPath *field.Path) field.ErrorList {
	if len(ports) > maxPorts {
		return field.ErrorList{field.TooMany(fldPath, len(ports), maxPorts)}
	}
	var errs field.ErrorList
	names := sets.New[string]()
	for i, port := range ports {
		idxPath := fldPath.Index(i)
		name := ptr.Deref(port.Name, "")
		if name != "" {
			for _, msg := range validation.IsDNS1123Label(name) {
				errs = append(errs, field.Invalid(idxPath.Child("name"), name, msg))
			}
		}
		if names.Has(name) {
			errs = append(errs, field.Duplicate(idxPath.Child("name"), name))
		}
		names.Insert(name)
		protocolPath := idxPath.Child("protocol")
		if port.Protocol == nil {
			errs = append(errs, field.Required(protocolPath, ""))
		} else if !sets.New(supportedProtocols...).Has(string(*port.Protocol)) {
			errs = append(errs, field.NotSupported(protocolPath, *port.Protocol, supportedProtocols))
		}
		if port.AppProtocol != nil {
			for _, msg := range content.IsLabelKey(*port.AppProtocol) {
				errs = append(errs, field.Invalid(idxPath.Child("appProtocol"), *port.AppProtocol, msg))
			}
		}
	}
	return errs
}

var table = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "AddressType", Type: "string", Description: discoveryv1.EndpointSlice{}.SwaggerDoc()["addressType"]},
		{Name: "Ports", Type: "string", Description: discoveryv1.EndpointSlice{}.SwaggerDoc()["ports"]},
		{Name: "Endpoints", Type: "string", Description: discoveryv1.EndpointSlice{}.SwaggerDoc()["endpoints"]},
		registry.AgeColumn,
	},
	Row: func(obj runtime.Object) []interface{} {
		slice := obj.(*discoveryv1.EndpointSlice)
		return []interface{}{slice.Name, string(slice.AddressType), portsCell(slice.Ports), endpointsCell(slice.Endpoints), registry.Age(slice.CreationTimestamp)}
	},
}

// listCellLimit is how many ports or addresses a cell shows before
// "+ N more...".
const listCellLimit = 3

// portsCell lists the port numbers; a port without one shows its name,
// or "*" when it has no name field at all.
func portsCell(ports []discoveryv1.EndpointPort) string {
	items := make([]string, 0, len(ports))
	for _, port := range ports {
		switch {
		case port.Port != nil:
			items = append(items, strconv.Itoa(int(*port.Port)))
		case port.Name != nil:
			items = append(items, *port.Name)
		default:
			items = append(items, "*")
		}
	}
	return listCell(items)
}

// endpointsCell lists the addresses of all endpoints.
func endpointsCell(endpoints []discoveryv1.Endpoint) string {
	var items []string
	for _, endpoint := range endpoints {
		items = append(items, endpoint.Addresses...)
	}
	return listCell(items)
}

func listCell(items []string) string {
	switch {
	case len(items) == 0:
		return "<unset>"
	case len(items) > listCellLimit:
		return fmt.Sprintf("%s + %d more...", strings.Join(items[:listCellLimit], ","), len(items)-listCellLimit)
	default:
		return strings.Join(items, ",")
	}
}
