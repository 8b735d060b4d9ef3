package endpoints

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/navarch/navarch/internal/registry"
)

// Kind returns the registry entry of core/v1 endpoints.
func Kind() *registry.Kind {
	return &registry.Kind{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "endpoints",
		Singular:     "endpoints",
		Kind:         "Endpoints",
		ShortNames:   []string{"ep"},
		Namespaced:   true,
		New:          func() runtime.Object { return &corev1.Endpoints{} },
		NewList:      func() runtime.Object { return &corev1.EndpointsList{} },
		Strategy:     strategy{},
		Table:        table,
	}
}

type strategy struct{}

var _ registry.Strategy = strategy{}

// Default sets protocol TCP on ports without one.
func (strategy) Default(obj runtime.Object) {
	ep := obj.(*corev1.Endpoints)
	for i := range ep.Subsets {
		for j := range ep.Subsets[i].Ports {
			if ep.Subsets[i].Ports[j].Protocol == "" {
				ep.Subsets[i].Ports[j].Protocol = corev1.ProtocolTCP
			}
		}
	}
}

// PrepareForCreate does nothing: endpoints have no status.
func (strategy) PrepareForCreate(runtime.Object) {}

// PrepareForUpdate does nothing: endpoints have no status.
func (strategy) PrepareForUpdate(_, _ runtime.Object) {}

// Validate checks new endpoints.
func (strategy) Validate(obj runtime.Object) field.ErrorList {
	return validate(obj.(*corev1.Endpoints))
}

// ValidateUpdate checks an update; node names may change, since an IP may
// move to another node.
func (strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	ep, oldEP := obj.(*corev1.Endpoints), old.(*corev1.Endpoints)
	errs := apivalidation.ValidateObjectMetaUpdate(&ep.ObjectMeta, &oldEP.ObjectMeta, field.NewPath("metadata"))
	return append(errs, validate(ep)...)
}

var supportedProtocols = []corev1.Protocol{corev1.ProtocolSCTP, corev1.ProtocolTCP, corev1.ProtocolUDP}

func validate(ep *corev1.Endpoints) field.ErrorList {
	errs := apivalidation.ValidateObjectMeta(&ep.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	for i := range ep.Subsets {
		ss := &ep.Subsets[i]
		idxPath := field.NewPath("subsets").Index(i)
		// A headless service's endpoints may lack ports, not addresses.
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			errs = append(errs, field.Required(idxPath, "must specify `addresses` or `notReadyAddresses`"))
		}
		for j := range ss.Addresses {
			errs = append(errs, validateAddress(&ss.Addresses[j], idxPath.Child("addresses").Index(j))...)
		}
		for j := range ss.NotReadyAddresses {
			errs = append(errs, validateAddress(&ss.NotReadyAddresses[j], idxPath.Child("notReadyAddresses").Index(j))...)
		}
		for j := range ss.Ports {
			errs = append(errs, validatePort(&ss.Ports[j], len(ss.Ports) > 1, idxPath.Child("ports").Index(j))...)
		}
	}
	return errs
}

func validateAddress(a *corev1.EndpointAddress, fldPath *field.Path) field.ErrorList {
	errs := validation.IsValidIP(fldPath.Child("ip"), a.IP)
	if a.Hostname != "" {
		for _, msg := range validation.IsDNS1123Label(a.Hostname) {
			errs = append(errs, field.Invalid(fldPath.Child("hostname"), a.Hostname, msg))
		}
	}
	if a.NodeName != nil {
		for _, msg := range apivalidation.NameIsDNSSubdomain(*a.NodeName, false) {
			errs = append(errs, field.Invalid(fldPath.Child("nodeName"), *a.NodeName, msg))
		}
	}
	return append(errs, validateNonSpecialIP(a.IP, fldPath.Child("ip"))...)
}

// validateNonSpecialIP rejects addresses no endpoint can have: unspecified,
// loopback and link-local ones (the last are often a node's metadata
// service, which a service must not expose).
func validateNonSpecialIP(address string, fldPath *field.Path) field.ErrorList {
	ip := net.ParseIP(address)
	if ip == nil {
		return field.ErrorList{field.Invalid(fldPath, address, "must be a valid IP address")}
	}
	var errs field.ErrorList
	if ip.IsUnspecified() {
		errs = append(errs, field.Invalid(fldPath, address, fmt.Sprintf("may not be unspecified (%v)", address)))
	}
	if ip.IsLoopback() {
		errs = append(errs, field.Invalid(fldPath, address, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
	}
	if ip.IsLinkLocalUnicast() {
		errs = append(errs, field.Invalid(fldPath, address, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
	}
	if ip.IsLinkLocalMulticast() {
		errs = append(errs, field.Invalid(fldPath, address, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
	}
	return errs
}

func validatePort(p *corev1.EndpointPort, requireName bool, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if requireName && p.Name == "" {
		errs = append(errs, field.Required(fldPath.Child("name"), ""))
	} else if p.Name != "" {
		for _, msg := range validation.IsDNS1123Label(p.Name) {
			errs = append(errs, field.Invalid(fldPath.Child("name"), p.Name, msg))
		}
	}
	for _, msg := range validation.IsValidPortNum(int(p.Port)) {
		errs = append(errs, field.Invalid(fldPath.Child("port"), p.Port, msg))
	}
	switch p.Protocol {
	case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
	case "":
		errs = append(errs, field.Required(fldPath.Child("protocol"), ""))
	default:
		errs = append(errs, field.NotSupported(fldPath.Child("protocol"), p.Protocol, supportedProtocols))
	}
	if p.AppProtocol != nil {
		for _, msg := range validation.IsQualifiedName(*p.AppProtocol) {
			errs = append(errs, field.Invalid(fldPath.Child("appProtocol"), *p.AppProtocol, msg))
		}
	}
	return errs
}

// maxShownEndpoints is how many addresses the ENDPOINTS column lists
// before "+ N more...".
const maxShownEndpoints = 3

// table is kubectl get endpoints: NAME ENDPOINTS AGE.
var table = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "Endpoints", Type: "string", Description: corev1.Endpoints{}.SwaggerDoc()["subsets"]},
		registry.AgeColumn,
	},
	Row: func(obj runtime.Object) []interface{} {
		ep := obj.(*corev1.Endpoints)
		return []interface{}{ep.Name, formatEndpoints(ep), registry.Age(ep.CreationTimestamp)}
	},
}

// formatEndpoints renders ready addresses as "10.42.0.5:80,10.42.0.6:80 +
// 2 more...", or <none>.
func formatEndpoints(ep *corev1.Endpoints) string {
	if len(ep.Subsets) == 0 {
		return "<none>"
	}
	var shown []string
	count := 0
	for _, ss := range ep.Subsets {
		if len(ss.Ports) == 0 {
			// A headless service may have addresses without ports.
			for _, a := range ss.Addresses {
				count++
				if len(shown) < maxShownEndpoints {
					shown = append(shown, a.IP)
				}
			}
			continue
		}
		for _, p := range ss.Ports {
			for _, a := range ss.Addresses {
				count++
				if len(shown) < maxShownEndpoints {
					shown = append(shown, net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
				}
			}
		}
	}
	s := strings.Join(shown, ",")
	if count > maxShownEndpoints {
		return fmt.Sprintf("%s + %d more...", s, count-maxShownEndpoints)
	}
	return s
}
