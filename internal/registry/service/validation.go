package service

import (
	"fmt"
	"net"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The node port range the API server allocates from and accepts.
const (
	minNodePort = 30000
	maxNodePort = 32767
)

// maxClientIPAffinitySeconds is a day, upstream's bound of ClientIP
// session affinity.
const maxClientIPAffinitySeconds = 86400

var (
	supportedProtocols         = []corev1.Protocol{corev1.ProtocolSCTP, corev1.ProtocolTCP, corev1.ProtocolUDP}
	supportedTypes             = []corev1.ServiceType{corev1.ServiceTypeClusterIP, corev1.ServiceTypeExternalName, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort}
	supportedAffinities        = []corev1.ServiceAffinity{corev1.ServiceAffinityClientIP, corev1.ServiceAffinityNone}
	supportedExternalPolicies  = []corev1.ServiceExternalTrafficPolicy{corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal}
	supportedInternalPolicies  = []corev1.ServiceInternalTrafficPolicy{corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal}
	supportedIPFamilies        = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	supportedIPFamilyPolicies  = []corev1.IPFamilyPolicy{corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack, corev1.IPFamilyPolicySingleStack}
	supportedTrafficDistrib    = []string{corev1.ServiceTrafficDistributionPreferClose, corev1.ServiceTrafficDistributionPreferSameNode, corev1.ServiceTrafficDistributionPreferSameZone}
	supportedLoadBalancerModes = []corev1.LoadBalancerIPMode{corev1.LoadBalancerIPModeProxy, corev1.LoadBalancerIPModeVIP}
)

func has[T comparable](list []T, v T) bool {
	for _, item := range list {
		if item == v {
			return true
		}
	}
	return false
}

// validateService checks a service as upstream's ValidateService does.
// Service names are DNS-1035 labels: they become DNS names and
// environment variables.
func validateService(svc *corev1.Service) field.ErrorList {
	errs := apivalidation.ValidateObjectMeta(&svc.ObjectMeta, true, apivalidation.NameIsDNS1035Label, field.NewPath("metadata"))
	specPath := field.NewPath("spec")
	spec := &svc.Spec
	headless := isHeadless(svc)

	if len(spec.Ports) == 0 && !headless && spec.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Required(specPath.Child("ports"), ""))
	}
	switch spec.Type {
	case corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort:
		if headless {
			errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(0), spec.ClusterIPs[0],
				fmt.Sprintf("may not be set to 'None' for %s services", spec.Type)))
		}
	case corev1.ServiceTypeExternalName:
		if len(spec.ClusterIPs) > 0 {
			errs = append(errs, field.Forbidden(specPath.Child("clusterIPs"), "may not be set for ExternalName services"))
		}
		if len(spec.IPFamilies) > 0 {
			errs = append(errs, field.Forbidden(specPath.Child("ipFamilies"), "may not be set for ExternalName services"))
		}
		if spec.IPFamilyPolicy != nil {
			errs = append(errs, field.Forbidden(specPath.Child("ipFamilyPolicy"), "may not be set for ExternalName services"))
		}
		// A trailing dot marks the CNAME as fully qualified.
		if cname := strings.TrimSuffix(spec.ExternalName, "."); cname != "" {
			for _, msg := range validation.IsDNS1123Subdomain(cname) {
				errs = append(errs, field.Invalid(specPath.Child("externalName"), cname, msg))
			}
		} else {
			errs = append(errs, field.Required(specPath.Child("externalName"), ""))
		}
	}

	portNames := sets.New[string]()
	for i := range spec.Ports {
		errs = append(errs, validateServicePort(&spec.Ports[i], len(spec.Ports) > 1, portNames, specPath.Child("ports").Index(i))...)
	}
	if spec.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabels(spec.Selector, specPath.Child("selector"))...)
	}

	switch {
	case spec.SessionAffinity == "":
		errs = append(errs, field.Required(specPath.Child("sessionAffinity"), ""))
	case !has(supportedAffinities, spec.SessionAffinity):
		errs = append(errs, field.NotSupported(specPath.Child("sessionAffinity"), spec.SessionAffinity, supportedAffinities))
	case spec.SessionAffinity == corev1.ServiceAffinityClientIP:
		errs = append(errs, validateClientIPAffinity(spec.SessionAffinityConfig, specPath.Child("sessionAffinityConfig"))...)
	case spec.SessionAffinityConfig != nil:
		errs = append(errs, field.Forbidden(specPath.Child("sessionAffinityConfig"), fmt.Sprintf("must not be set when session affinity is %s", corev1.ServiceAffinityNone)))
	}

	errs = append(errs, validateClusterIPs(svc)...)
	for i, ip := range spec.ExternalIPs {
		idxPath := specPath.Child("externalIPs").Index(i)
		if ipErrs := validation.IsValidIP(idxPath, ip); len(ipErrs) != 0 {
			errs = append(errs, ipErrs...)
		} else {
			errs = append(errs, validateNonSpecialIP(ip, idxPath)...)
		}
	}

	switch {
	case spec.Type == "":
		errs = append(errs, field.Required(specPath.Child("type"), ""))
	case !has(supportedTypes, spec.Type):
		errs = append(errs, field.NotSupported(specPath.Child("type"), spec.Type, supportedTypes))
	}
	errs = append(errs, validateNodePorts(svc, specPath.Child("ports"))...)

	// Two ports may not take the same port number and protocol.
	type portKey struct {
		protocol corev1.Protocol
		port     int32
	}
	seen := map[portKey]bool{}
	for i, p := range spec.Ports {
		key := portKey{p.Protocol, p.Port}
		if seen[key] {
			errs = append(errs, field.Duplicate(specPath.Child("ports").Index(i), corev1.ServicePort{Protocol: p.Protocol, Port: p.Port}))
		}
		seen[key] = true
	}

	if len(spec.LoadBalancerSourceRanges) > 0 {
		// Upstream names this path with a capital L; kubectl users see it.
		rangesPath := specPath.Child("LoadBalancerSourceRanges")
		if spec.Type != corev1.ServiceTypeLoadBalancer {
			errs = append(errs, field.Forbidden(rangesPath, "may only be used when `type` is 'LoadBalancer'"))
		}
		for i, cidr := range spec.LoadBalancerSourceRanges {
			errs = append(errs, validation.IsValidCIDR(rangesPath.Index(i), strings.TrimSpace(cidr))...)
		}
	}
	if spec.AllocateLoadBalancerNodePorts != nil && spec.Type != corev1.ServiceTypeLoadBalancer {
		errs = append(errs, field.Forbidden(specPath.Child("allocateLoadBalancerNodePorts"), "may only be used when `type` is 'LoadBalancer'"))
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer && spec.AllocateLoadBalancerNodePorts == nil {
		errs = append(errs, field.Required(field.NewPath("allocateLoadBalancerNodePorts"), ""))
	}
	errs = append(errs, validateLoadBalancerClass(nil, svc)...)
	errs = append(errs, validateTrafficPolicies(svc, specPath)...)
	return errs
}

func validateServicePort(p *corev1.ServicePort, requireName bool, names sets.Set[string], fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if requireName && p.Name == "" {
		errs = append(errs, field.Required(fldPath.Child("name"), ""))
	} else if p.Name != "" {
		for _, msg := range validation.IsDNS1123Label(p.Name) {
			errs = append(errs, field.Invalid(fldPath.Child("name"), p.Name, msg))
		}
		if names.Has(p.Name) {
			errs = append(errs, field.Duplicate(fldPath.Child("name"), p.Name))
		}
		names.Insert(p.Name)
	}
	for _, msg := range validation.IsValidPortNum(int(p.Port)) {
		errs = append(errs, field.Invalid(fldPath.Child("port"), p.Port, msg))
	}
	switch {
	case p.Protocol == "":
		errs = append(errs, field.Required(fldPath.Child("protocol"), ""))
	case !has(supportedProtocols, p.Protocol):
		errs = append(errs, field.NotSupported(fldPath.Child("protocol"), p.Protocol, supportedProtocols))
	}
	errs = append(errs, validatePortNumOrName(p.TargetPort, fldPath.Child("targetPort"))...)
	if p.AppProtocol != nil {
		for _, msg := range validation.IsQualifiedName(*p.AppProtocol) {
			errs = append(errs, field.Invalid(fldPath.Child("appProtocol"), *p.AppProtocol, msg))
		}
	}
	return errs
}

// validatePortNumOrName checks a target port given by number or by the
// name of a container port.
func validatePortNumOrName(port intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if port.Type == intstr.String {
		for _, msg := range validation.IsValidPortName(port.StrVal) {
			errs = append(errs, field.Invalid(fldPath, port.StrVal, msg))
		}
		return errs
	}
	for _, msg := range validation.IsValidPortNum(port.IntValue()) {
		errs = append(errs, field.Invalid(fldPath, port.IntValue(), msg))
	}
	return errs
}

// validateNodePorts checks node ports: none on a ClusterIP service, in
// the node port range, and no (protocol, node port) pair twice.
func validateNodePorts(svc *corev1.Service, portsPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	type nodePortKey struct {
		protocol corev1.Protocol
		nodePort int32
	}
	seen := map[nodePortKey]bool{}
	for i, p := range svc.Spec.Ports {
		if p.NodePort == 0 {
			continue
		}
		nodePortPath := portsPath.Index(i).Child("nodePort")
		switch svc.Spec.Type {
		case corev1.ServiceTypeClusterIP:
			errs = append(errs, field.Forbidden(nodePortPath, "may not be used when `type` is 'ClusterIP'"))
		case corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
			if p.NodePort < minNodePort || p.NodePort > maxNodePort {
				errs = append(errs, field.Invalid(nodePortPath, p.NodePort,
					fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", minNodePort, maxNodePort)))
			}
		}
		key := nodePortKey{p.Protocol, p.NodePort}
		if seen[key] {
			errs = append(errs, field.Duplicate(nodePortPath, p.NodePort))
		}
		seen[key] = true
	}
	return errs
}

func validateClientIPAffinity(config *corev1.SessionAffinityConfig, fldPath *field.Path) field.ErrorList {
	const when = "when session affinity type is ClientIP"
	switch {
	case config == nil:
		return field.ErrorList{field.Required(fldPath, when)}
	case config.ClientIP == nil:
		return field.ErrorList{field.Required(fldPath.Child("clientIP"), when)}
	case config.ClientIP.TimeoutSeconds == nil:
		return field.ErrorList{field.Required(fldPath.Child("clientIP", "timeoutSeconds"), when)}
	}
	if t := *config.ClientIP.TimeoutSeconds; t <= 0 || t > maxClientIPAffinitySeconds {
		return field.ErrorList{field.Invalid(fldPath.Child("clientIP", "timeoutSeconds"), t,
			fmt.Sprintf("must be greater than 0 and less than %d", maxClientIPAffinitySeconds))}
	}
	return nil
}

// validateNonSpecialIP rejects addresses that make no sense as a service's
// external IP: unspecified, loopback, link-local and multicast ones. The
// proxy would otherwise capture the node's own traffic to them (the
// CVE-2020-8554 class: a Service claiming 127.0.0.1:22 or the metadata
// address 169.254.169.254). Upstream refuses all but other multicast;
// no proxy can serve a multicast address, so it is refused too.
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
	switch {
	case ip.IsLinkLocalMulticast():
		errs = append(errs, field.Invalid(fldPath, address, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
	case ip.IsMulticast():
		errs = append(errs, field.Invalid(fldPath, address, "may not be a multicast address (224.0.0.0/4, ff00::/8)"))
	}
	return errs
}

// validateClusterIPs checks clusterIP, clusterIPs, ipFamilies and
// ipFamilyPolicy together, as upstream does.
func validateClusterIPs(svc *corev1.Service) field.ErrorList {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	spec := &svc.Spec
	ipsPath := field.NewPath("spec", "clusterIPs")
	familiesPath := field.NewPath("spec", "ipFamilies")
	var errs field.ErrorList
	if spec.ClusterIP != "" {
		if len(spec.ClusterIPs) == 0 {
			errs = append(errs, field.Required(ipsPath, ""))
		} else if spec.ClusterIPs[0] != spec.ClusterIP {
			errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "first value must match `clusterIP`"))
		}
	} else if len(spec.ClusterIPs) != 0 {
		errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "must be empty when `clusterIP` is not specified"))
	}

	seenFamilies := sets.New[corev1.IPFamily]()
	for i, family := range spec.IPFamilies {
		if !has(supportedIPFamilies, family) {
			errs = append(errs, field.NotSupported(familiesPath.Index(i), family, supportedIPFamilies))
		}
		if seenFamilies.Has(family) {
			errs = append(errs, field.Duplicate(familiesPath.Index(i), family))
		}
		seenFamilies.Insert(family)
	}
	if spec.IPFamilyPolicy != nil && !has(supportedIPFamilyPolicies, *spec.IPFamilyPolicy) {
		errs = append(errs, field.NotSupported(field.NewPath("spec", "ipFamilyPolicy"), *spec.IPFamilyPolicy, supportedIPFamilyPolicies))
	}

	invalidIPs := false
	for i, ip := range spec.ClusterIPs {
		if i == 0 && ip == corev1.ClusterIPNone {
			if len(spec.ClusterIPs) > 1 {
				invalidIPs = true
				errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "'None' must be the first and only value"))
			}
			continue
		}
		ipErrs := validation.IsValidIP(ipsPath.Index(i), ip)
		invalidIPs = invalidIPs || len(ipErrs) != 0
		errs = append(errs, ipErrs...)
	}
	if len(spec.ClusterIPs) > 2 {
		errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "may only hold up to 2 values"))
	}
	if invalidIPs {
		return errs
	}
	if len(spec.ClusterIPs) == 2 && isIPv6(spec.ClusterIPs[0]) == isIPv6(spec.ClusterIPs[1]) {
		errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "may specify no more than one IP for each IP family"))
	}
	if !isHeadless(svc) {
		for i, ip := range spec.ClusterIPs {
			if i >= len(spec.IPFamilies) {
				break
			}
			if spec.IPFamilies[i] == corev1.IPv4Protocol && isIPv6(ip) {
				errs = append(errs, field.Invalid(ipsPath.Index(i), ip, fmt.Sprintf("expected an IPv4 value as indicated by `ipFamilies[%v]`", i)))
			}
			if spec.IPFamilies[i] == corev1.IPv6Protocol && !isIPv6(ip) {
				errs = append(errs, field.Invalid(ipsPath.Index(i), ip, fmt.Sprintf("expected an IPv6 value as indicated by `ipFamilies[%v]`", i)))
			}
		}
	}
	return errs
}

func isIPv6(s string) bool {
	ip := net.ParseIP(s)
	return ip != nil && ip.To4() == nil
}

func validateLoadBalancerClass(old, svc *corev1.Service) field.ErrorList {
	classPath := field.NewPath("spec", "loadBalancerClass")
	var errs field.ErrorList
	if old != nil && old.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.Type == corev1.ServiceTypeLoadBalancer &&
		!equalStringPtr(old.Spec.LoadBalancerClass, svc.Spec.LoadBalancerClass) {
		errs = append(errs, field.Invalid(classPath, svc.Spec.LoadBalancerClass, "may not change once set"))
	}
	if svc.Spec.LoadBalancerClass == nil {
		return errs
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return append(errs, field.Forbidden(classPath, "may only be used when `type` is 'LoadBalancer'"))
	}
	for _, msg := range validation.IsQualifiedName(*svc.Spec.LoadBalancerClass) {
		errs = append(errs, field.Invalid(classPath, *svc.Spec.LoadBalancerClass, msg))
	}
	return errs
}

func equalStringPtr(a, b *string) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

func validateTrafficPolicies(svc *corev1.Service, specPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	spec := &svc.Spec
	etpPath := specPath.Child("externalTrafficPolicy")
	if !externallyAccessible(svc) {
		if spec.ExternalTrafficPolicy != "" {
			errs = append(errs, field.Invalid(etpPath, spec.ExternalTrafficPolicy, "may only be set for externally-accessible services"))
		}
	} else if spec.ExternalTrafficPolicy == "" {
		errs = append(errs, field.Required(etpPath, ""))
	} else if !has(supportedExternalPolicies, spec.ExternalTrafficPolicy) {
		errs = append(errs, field.NotSupported(etpPath, spec.ExternalTrafficPolicy, supportedExternalPolicies))
	}

	hcPath := specPath.Child("healthCheckNodePort")
	if !needsHealthCheck(svc) {
		if spec.HealthCheckNodePort != 0 {
			errs = append(errs, field.Invalid(hcPath, spec.HealthCheckNodePort, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
		}
	} else if spec.HealthCheckNodePort != 0 {
		for _, msg := range validation.IsValidPortNum(int(spec.HealthCheckNodePort)) {
			errs = append(errs, field.Invalid(hcPath, spec.HealthCheckNodePort, msg))
		}
	}

	itpPath := specPath.Child("internalTrafficPolicy")
	if spec.InternalTrafficPolicy == nil {
		if spec.Type == corev1.ServiceTypeNodePort || spec.Type == corev1.ServiceTypeLoadBalancer || spec.Type == corev1.ServiceTypeClusterIP {
			errs = append(errs, field.Required(itpPath, ""))
		}
	} else if !has(supportedInternalPolicies, *spec.InternalTrafficPolicy) {
		errs = append(errs, field.NotSupported(itpPath, *spec.InternalTrafficPolicy, supportedInternalPolicies))
	}

	if spec.TrafficDistribution != nil && !has(supportedTrafficDistrib, *spec.TrafficDistribution) {
		errs = append(errs, field.NotSupported(specPath.Child("trafficDistribution"), *spec.TrafficDistribution, supportedTrafficDistrib))
	}
	return errs
}

// validateServiceUpdate checks an update: the new service must be valid,
// and allocated cluster IPs and families may not change except to add or
// drop the secondary family.
func validateServiceUpdate(svc, old *corev1.Service) field.ErrorList {
	errs := apivalidation.ValidateObjectMetaUpdate(&svc.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, validateClusterIPsUpdate(old, svc)...)
	errs = append(errs, validateIPFamiliesUpdate(old, svc)...)
	errs = append(errs, validateLoadBalancerClass(old, svc)...)
	if needsHealthCheck(old) && needsHealthCheck(svc) && svc.Spec.HealthCheckNodePort != old.Spec.HealthCheckNodePort {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "healthCheckNodePort"), "field is immutable"))
	}
	return append(errs, validateService(svc)...)
}

func validateClusterIPsUpdate(old, svc *corev1.Service) field.ErrorList {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || old.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	if isHeadless(old) && isHeadless(svc) {
		return nil
	}
	ipsPath := field.NewPath("spec", "clusterIPs")
	oldIPs, newIPs := old.Spec.ClusterIPs, svc.Spec.ClusterIPs
	var errs field.ErrorList
	switch {
	case len(oldIPs) == len(newIPs):
		for i := range oldIPs {
			if oldIPs[i] != newIPs[i] {
				errs = append(errs, field.Invalid(ipsPath.Index(i), newIPs, "may not change once set"))
			}
		}
	case len(oldIPs) > len(newIPs):
		if len(newIPs) == 0 {
			errs = append(errs, field.Invalid(ipsPath.Index(0), newIPs, "primary clusterIP can not be unset"))
		}
		if len(oldIPs) > 0 && len(newIPs) > 0 && newIPs[0] != oldIPs[0] {
			errs = append(errs, field.Invalid(ipsPath.Index(0), newIPs, "may not change once set"))
		}
		if len(newIPs) == 1 && (svc.Spec.IPFamilyPolicy == nil || *svc.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack) {
			errs = append(errs, field.Invalid(field.NewPath("spec", "ipFamilyPolicy"), svc.Spec.IPFamilyPolicy, "must be set to 'SingleStack' when releasing the secondary clusterIP"))
		}
	default:
		if len(oldIPs) > 0 && newIPs[0] != oldIPs[0] {
			errs = append(errs, field.Invalid(ipsPath.Index(0), newIPs, "may not change once set"))
		}
	}
	return errs
}

func validateIPFamiliesUpdate(old, svc *corev1.Service) field.ErrorList {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || old.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	// Headless services hold no address: their families may change.
	if isHeadless(old) || isHeadless(svc) {
		return nil
	}
	familiesPath := field.NewPath("spec", "ipFamilies")
	oldFamilies, newFamilies := old.Spec.IPFamilies, svc.Spec.IPFamilies
	var errs field.ErrorList
	switch {
	case len(oldFamilies) == len(newFamilies):
		for i := range oldFamilies {
			if oldFamilies[i] != newFamilies[i] {
				errs = append(errs, field.Invalid(familiesPath.Index(0), newFamilies, "may not change once set"))
			}
		}
	case len(oldFamilies) > len(newFamilies):
		if len(svc.Spec.ClusterIPs) == 0 {
			errs = append(errs, field.Invalid(familiesPath.Index(0), newFamilies, "primary ipFamily can not be unset"))
		}
		if len(newFamilies) > 0 && newFamilies[0] != oldFamilies[0] {
			errs = append(errs, field.Invalid(familiesPath.Index(0), svc.Spec.ClusterIPs, "may not change once set"))
		}
		if len(newFamilies) == 1 && (svc.Spec.IPFamilyPolicy == nil || *svc.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack) {
			errs = append(errs, field.Invalid(field.NewPath("spec", "ipFamilyPolicy"), svc.Spec.IPFamilyPolicy, "must be set to 'SingleStack' when releasing the secondary ipFamily"))
		}
	default:
		if len(oldFamilies) > 0 && len(newFamilies) > 0 && newFamilies[0] != oldFamilies[0] {
			errs = append(errs, field.Invalid(familiesPath.Index(0), svc.Spec.ClusterIPs, "may not change once set"))
		}
	}
	return errs
}

// validateServiceStatusUpdate checks the load balancer status a
// controller writes.
func validateServiceStatusUpdate(svc, old *corev1.Service) field.ErrorList {
	errs := apivalidation.ValidateObjectMetaUpdate(&svc.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	ingressPath := field.NewPath("status", "loadBalancer", "ingress")
	ingress := svc.Status.LoadBalancer.Ingress
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer && len(ingress) != 0 {
		return append(errs, field.Forbidden(ingressPath, "may only be used when `spec.type` is 'LoadBalancer'"))
	}
	for i, ing := range ingress {
		idxPath := ingressPath.Index(i)
		if ing.IP != "" {
			errs = append(errs, validation.IsValidIP(idxPath.Child("ip"), ing.IP)...)
		}
		switch {
		case ing.IPMode == nil && ing.IP != "":
			errs = append(errs, field.Required(idxPath.Child("ipMode"), "must be specified when `ip` is set"))
		case ing.IPMode != nil && ing.IP == "":
			errs = append(errs, field.Forbidden(idxPath.Child("ipMode"), "may not be specified when `ip` is not set"))
		case ing.IPMode != nil && !has(supportedLoadBalancerModes, *ing.IPMode):
			errs = append(errs, field.NotSupported(idxPath.Child("ipMode"), *ing.IPMode, supportedLoadBalancerModes))
		}
		if ing.Hostname != "" {
			for _, msg := range validation.IsDNS1123Subdomain(ing.Hostname) {
				errs = append(errs, field.Invalid(idxPath.Child("hostname"), ing.Hostname, msg))
			}
			if net.ParseIP(ing.Hostname) != nil {
				errs = append(errs, field.Invalid(idxPath.Child("hostname"), ing.Hostname, "must be a DNS name, not an IP address"))
			}
		}
	}
	return errs
}
