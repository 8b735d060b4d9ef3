package ingress

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/registry"
)

// classAnnotation is the pre-IngressClass way to pick a controller; when
// both are set they must agree.
const classAnnotation = "kubernetes.io/ingress.class"

// addressWidth is how many characters of the ADDRESS column kubectl get
// shows without -o wide.
const addressWidth = 16

var (
	supportedPathTypes   = []string{string(networkingv1.PathTypeExact), string(networkingv1.PathTypeImplementationSpecific), string(networkingv1.PathTypePrefix)}
	invalidPathSequences = []string{"//", "/./", "/../", "%2f", "%2F"}
	invalidPathSuffixes  = []string{"/..", "/."}
)

// Kind returns the registry entry of networking.k8s.io/v1 Ingress, with
// its status subresource. Every strategy method takes *networkingv1.Ingress.
func Kind() *registry.Kind {
	return &registry.Kind{
		GroupVersion: networkingv1.SchemeGroupVersion,
		Resource:     "ingresses",
		Singular:     "ingress",
		Kind:         "Ingress",
		ShortNames:   []string{"ing"},
		Namespaced:   true,
		New:          func() runtime.Object { return &networkingv1.Ingress{} },
		NewList:      func() runtime.Object { return &networkingv1.IngressList{} },
		Strategy:     strategy{},
		Status:       statusStrategy{},
		Table:        table,
	}
}

// strategy holds the create and update rules of Ingresses. networking/v1
// defaults nothing on an Ingress: pathType in particular must be set.
type strategy struct{}

var _ registry.Strategy = strategy{}

// Default does nothing: upstream has no defaults for Ingress.
func (strategy) Default(runtime.Object) {}

// PrepareForCreate clears the status: only the ingress controller writes it.
func (strategy) PrepareForCreate(obj runtime.Object) {
	obj.(*networkingv1.Ingress).Status = networkingv1.IngressStatus{}
}

// PrepareForUpdate keeps the stored status.
func (strategy) PrepareForUpdate(obj, old runtime.Object) {
	obj.(*networkingv1.Ingress).Status = old.(*networkingv1.Ingress).Status
}

// Validate checks a new Ingress.
func (strategy) Validate(obj runtime.Object) field.ErrorList {
	ing := obj.(*networkingv1.Ingress)
	errs := validateIngress(ing, options{})
	if value, set := ing.Annotations[classAnnotation]; set && ing.Spec.IngressClassName != nil && value != *ing.Spec.IngressClassName {
		errs = append(errs, field.Invalid(field.NewPath("annotations").Child(classAnnotation), value, "must match `ingressClassName` when both are specified"))
	}
	return errs
}

// ValidateUpdate checks an update. Invalid TLS secret names and rules
// under wildcard hosts that older versions stored are tolerated, so such
// Ingresses stay updatable.
func (strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	ing, oldIng := obj.(*networkingv1.Ingress), old.(*networkingv1.Ingress)
	errs := apivalidation.ValidateObjectMetaUpdate(&ing.ObjectMeta, &oldIng.ObjectMeta, field.NewPath("metadata"))
	return append(errs, validateIngress(ing, optionsFor(oldIng))...)
}

// options relax validation for what older versions accepted.
type options struct {
	allowInvalidSecretName       bool
	allowInvalidWildcardHostRule bool
}

func optionsFor(old *networkingv1.Ingress) options {
	var opts options
	for _, tls := range old.Spec.TLS {
		if len(validateSecretName(tls.SecretName)) > 0 {
			opts.allowInvalidSecretName = true
		}
	}
	for i := range old.Spec.Rules {
		rule := &old.Spec.Rules[i]
		if strings.Contains(rule.Host, "*") && len(validateRuleValue(&rule.IngressRuleValue, field.NewPath("rule"))) > 0 {
			opts.allowInvalidWildcardHostRule = true
		}
	}
	return opts
}

func validateIngress(ing *networkingv1.Ingress, opts options) field.ErrorList {
	errs := apivalidation.ValidateObjectMeta(&ing.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, validateSpec(&ing.Spec, field.NewPath("spec"), opts)...)
}

func validateSpec(spec *networkingv1.IngressSpec, fldPath *field.Path, opts options) field.ErrorList {
	var errs field.ErrorList
	if len(spec.Rules) == 0 && spec.DefaultBackend == nil {
		errs = append(errs, field.Invalid(fldPath, spec.Rules, "either `defaultBackend` or `rules` must be specified"))
	}
	if spec.DefaultBackend != nil {
		errs = append(errs, validateBackend(spec.DefaultBackend, fldPath.Child("defaultBackend"))...)
	}
	for i := range spec.Rules {
		errs = append(errs, validateRule(&spec.Rules[i], fldPath.Child("rules").Index(i), opts)...)
	}
	for i, tls := range spec.TLS {
		tlsPath := fldPath.Child("tls").Index(i)
		for j, host := range tls.Hosts {
			errs = append(errs, validateHost(host, tlsPath.Child("hosts").Index(j))...)
		}
		if !opts.allowInvalidSecretName {
			for _, msg := range validateSecretName(tls.SecretName) {
				errs = append(errs, field.Invalid(tlsPath.Child("secretName"), tls.SecretName, msg))
			}
		}
	}
	if spec.IngressClassName != nil {
		for _, msg := range apivalidation.NameIsDNSSubdomain(*spec.IngressClassName, false) {
			errs = append(errs, field.Invalid(fldPath.Child("ingressClassName"), *spec.IngressClassName, msg))
		}
	}
	return errs
}

// validateHost accepts a DNS subdomain or a wildcard one ("*.example.com").
func validateHost(host string, fldPath *field.Path) field.ErrorList {
	check := validation.IsDNS1123Subdomain
	if strings.Contains(host, "*") {
		check = validation.IsWildcardDNS1123Subdomain
	}
	var errs field.ErrorList
	for _, msg := range check(host) {
		errs = append(errs, field.Invalid(fldPath, host, msg))
	}
	return errs
}

func validateSecretName(name string) []string {
	if name == "" {
		return nil
	}
	return apivalidation.NameIsDNSSubdomain(name, false)
}

func validateRule(rule *networkingv1.IngressRule, fldPath *field.Path, opts options) field.ErrorList {
	var errs field.ErrorList
	wildcard := false
	if rule.Host != "" {
		hostPath := fldPath.Child("host")
		if _, err := netip.ParseAddr(rule.Host); err == nil {
			errs = append(errs, field.Invalid(hostPath, rule.Host, "must be a DNS name, not an IP address"))
		}
		wildcard = strings.Contains(rule.Host, "*")
		errs = append(errs, validateHost(rule.Host, hostPath)...)
	}
	if !wildcard || !opts.allowInvalidWildcardHostRule {
		errs = append(errs, validateRuleValue(&rule.IngressRuleValue, fldPath)...)
	}
	return errs
}

func validateRuleValue(value *networkingv1.IngressRuleValue, fldPath *field.Path) field.ErrorList {
	if value.HTTP == nil {
		return nil
	}
	var errs field.ErrorList
	pathsPath := fldPath.Child("http", "paths")
	if len(value.HTTP.Paths) == 0 {
		errs = append(errs, field.Required(pathsPath, ""))
	}
	for i := range value.HTTP.Paths {
		errs = append(errs, validatePath(&value.HTTP.Paths[i], pathsPath.Index(i))...)
	}
	return errs
}

func validatePath(p *networkingv1.HTTPIngressPath, fldPath *field.Path) field.ErrorList {
	if p.PathType == nil {
		return field.ErrorList{field.Required(fldPath.Child("pathType"), "pathType must be specified")}
	}
	var errs field.ErrorList
	pathPath := fldPath.Child("path")
	switch *p.PathType {
	case networkingv1.PathTypeExact, networkingv1.PathTypePrefix:
		if !strings.HasPrefix(p.Path, "/") {
			errs = append(errs, field.Invalid(pathPath, p.Path, "must be an absolute path"))
		}
		for _, seq := range invalidPathSequences {
			if strings.Contains(p.Path, seq) {
				errs = append(errs, field.Invalid(pathPath, p.Path, fmt.Sprintf("must not contain '%s'", seq)))
			}
		}
		for _, suffix := range invalidPathSuffixes {
			if strings.HasSuffix(p.Path, suffix) {
				errs = append(errs, field.Invalid(pathPath, p.Path, fmt.Sprintf("cannot end with '%s'", suffix)))
			}
		}
	case networkingv1.PathTypeImplementationSpecific:
		if p.Path != "" && !strings.HasPrefix(p.Path, "/") {
			errs = append(errs, field.Invalid(pathPath, p.Path, "must be an absolute path"))
		}
	default:
		errs = append(errs, field.NotSupported(fldPath.Child("pathType"), *p.PathType, supportedPathTypes))
	}
	return append(errs, validateBackend(&p.Backend, fldPath.Child("backend"))...)
}

// validateBackend requires exactly one of a service (with a port name or
// number) and a resource.
func validateBackend(backend *networkingv1.IngressBackend, fldPath *field.Path) field.ErrorList {
	switch {
	case backend.Resource != nil && backend.Service != nil:
		return field.ErrorList{field.Invalid(fldPath, "", "cannot set both resource and service backends")}
	case backend.Resource != nil:
		return ValidateTypedLocalObjectReference(backend.Resource.APIGroup, backend.Resource.Kind, backend.Resource.Name, fldPath.Child("resource"))
	case backend.Service != nil:
		return validateServiceBackend(backend.Service, fldPath)
	default:
		return field.ErrorList{field.Invalid(fldPath, "", "resource or service backend is required")}
	}
}

func validateServiceBackend(service *networkingv1.IngressServiceBackend, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	namePath := fldPath.Child("service", "name")
	if service.Name == "" {
		errs = append(errs, field.Required(namePath, ""))
	} else {
		for _, msg := range apivalidation.NameIsDNS1035Label(service.Name, false) {
			errs = append(errs, field.Invalid(namePath, service.Name, msg))
		}
	}
	hasName, hasNumber := service.Port.Name != "", service.Port.Number != 0
	switch {
	case hasName && hasNumber:
		errs = append(errs, field.Invalid(fldPath, "", "cannot set both port name & port number"))
	case hasName:
		for _, msg := range validation.IsValidPortName(service.Port.Name) {
			errs = append(errs, field.Invalid(fldPath.Child("service", "port", "name"), service.Port.Name, msg))
		}
	case hasNumber:
		for _, msg := range validation.IsValidPortNum(int(service.Port.Number)) {
			errs = append(errs, field.Invalid(fldPath.Child("service", "port", "number"), service.Port.Number, msg))
		}
	default:
		errs = append(errs, field.Required(fldPath, "port name or number is required"))
	}
	return errs
}

// ValidateTypedLocalObjectReference checks a reference to another object
// at fldPath: an optional API group (a DNS subdomain), a kind and a name
// (both required, usable as path segments).
func ValidateTypedLocalObjectReference(apiGroup *string, kind, name string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if apiGroup != nil {
		for _, msg := range validation.IsDNS1123Subdomain(*apiGroup) {
			errs = append(errs, field.Invalid(fldPath.Child("apiGroup"), *apiGroup, msg))
		}
	}
	for _, part := range []struct {
		name, value string
	}{{"kind", kind}, {"name", name}} {
		if part.value == "" {
			errs = append(errs, field.Required(fldPath.Child(part.name), part.name+" is required"))
			continue
		}
		for _, msg := range content.IsPathSegmentName(part.value) {
			errs = append(errs, field.Invalid(fldPath.Child(part.name), part.value, msg))
		}
	}
	return errs
}

// statusStrategy holds the rules of the status subresource.
type statusStrategy struct{}

var _ registry.StatusStrategy = statusStrategy{}

// PrepareForStatusUpdate keeps the stored spec.
func (statusStrategy) PrepareForStatusUpdate(obj, old runtime.Object) {
	obj.(*networkingv1.Ingress).Spec = old.(*networkingv1.Ingress).Spec
}

// ValidateStatusUpdate checks the load balancer addresses: valid IPs, and
// hostnames that are DNS names rather than IPs.
func (statusStrategy) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	ing, oldIng := obj.(*networkingv1.Ingress), old.(*networkingv1.Ingress)
	errs := apivalidation.ValidateObjectMetaUpdate(&ing.ObjectMeta, &oldIng.ObjectMeta, field.NewPath("metadata"))
	ingressPath := field.NewPath("status", "loadBalancer", "ingress")
	for i, lb := range ing.Status.LoadBalancer.Ingress {
		idxPath := ingressPath.Index(i)
		if lb.IP != "" {
			errs = append(errs, validation.IsValidIP(idxPath.Child("ip"), lb.IP)...)
		}
		if lb.Hostname != "" {
			for _, msg := range validation.IsDNS1123Subdomain(lb.Hostname) {
				errs = append(errs, field.Invalid(idxPath.Child("hostname"), lb.Hostname, msg))
			}
			if _, err := netip.ParseAddr(lb.Hostname); err == nil {
				errs = append(errs, field.Invalid(idxPath.Child("hostname"), lb.Hostname, "must be a DNS name, not an IP address"))
			}
		}
	}
	return errs
}

var table = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "Class", Type: "string", Description: "The name of the IngressClass resource that should be used for additional configuration"},
		{Name: "Hosts", Type: "string", Description: "Hosts that incoming requests are matched against before the ingress rule"},
		{Name: "Address", Type: "string", Description: "Address is a list containing ingress points for the load-balancer"},
		{Name: "Ports", Type: "string", Description: "Ports of TLS configurations that open"},
		registry.AgeColumn,
	},
	Row: func(obj runtime.Object) []interface{} {
		ing := obj.(*networkingv1.Ingress)
		ports := "80"
		if len(ing.Spec.TLS) > 0 {
			ports = "80, 443"
		}
		return []interface{}{
			ing.Name, ptr.Deref(ing.Spec.IngressClassName, "<none>"), hostsCell(ing.Spec.Rules),
			addressCell(ing.Status.LoadBalancer), ports, registry.Age(ing.CreationTimestamp),
		}
	},
}

// hostsCell lists up to three rule hosts, "*" when no rule names one.
func hostsCell(rules []networkingv1.IngressRule) string {
	const shown = 3
	var hosts []string
	more := false
	for _, rule := range rules {
		if len(hosts) == shown {
			more = true
			break
		}
		if rule.Host != "" {
			hosts = append(hosts, rule.Host)
		}
	}
	if len(hosts) == 0 {
		return "*"
	}
	if more {
		return fmt.Sprintf("%s + %d more...", strings.Join(hosts, ","), len(rules)-shown)
	}
	return strings.Join(hosts, ",")
}

// addressCell lists the load balancer's IPs (or hostnames when it has no
// IP), sorted and de-duplicated, cut to the width kubectl get shows.
func addressCell(status networkingv1.IngressLoadBalancerStatus) string {
	seen := map[string]bool{}
	var addresses []string
	for _, lb := range status.Ingress {
		address := lb.IP
		if address == "" {
			address = lb.Hostname
		}
		if address != "" && !seen[address] {
			seen[address] = true
			addresses = append(addresses, address)
		}
	}
	sort.Strings(addresses)
	cell := strings.Join(addresses, ",")
	if len(cell) > addressWidth {
		cell = cell[:addressWidth-3] + "..."
	}
	return cell
}
