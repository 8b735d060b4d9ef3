package service

import (
	"net"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// defaultService fills what upstream's v1 defaulter fills.
func defaultService(svc *corev1.Service) {
	spec := &svc.Spec
	if spec.SessionAffinity == "" {
		spec.SessionAffinity = corev1.ServiceAffinityNone
	}
	switch spec.SessionAffinity {
	case corev1.ServiceAffinityNone:
		spec.SessionAffinityConfig = nil
	case corev1.ServiceAffinityClientIP:
		if c := spec.SessionAffinityConfig; c == nil || c.ClientIP == nil || c.ClientIP.TimeoutSeconds == nil {
			timeout := corev1.DefaultClientIPServiceAffinitySeconds
			spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: &timeout}}
		}
	}
	if spec.Type == "" {
		spec.Type = corev1.ServiceTypeClusterIP
	}
	for i := range spec.Ports {
		p := &spec.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if p.TargetPort == intstr.FromInt32(0) || p.TargetPort == intstr.FromString("") {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
	if externallyAccessible(svc) && spec.ExternalTrafficPolicy == "" {
		spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	}
	if spec.InternalTrafficPolicy == nil && spec.Type != corev1.ServiceTypeExternalName {
		cluster := corev1.ServiceInternalTrafficPolicyCluster
		spec.InternalTrafficPolicy = &cluster
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer && spec.AllocateLoadBalancerNodePorts == nil {
		allocate := true
		spec.AllocateLoadBalancerNodePorts = &allocate
	}
	defaultIngressIPMode(svc)
}

// defaultIngressIPMode marks load balancer IPs as VIPs unless the load
// balancer said otherwise.
func defaultIngressIPMode(svc *corev1.Service) {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return
	}
	for i, ing := range svc.Status.LoadBalancer.Ingress {
		if ing.IP != "" && ing.IPMode == nil {
			vip := corev1.LoadBalancerIPModeVIP
			svc.Status.LoadBalancer.Ingress[i].IPMode = &vip
		}
	}
}

// externallyAccessible tells whether traffic may reach the service from
// outside the cluster, which makes externalTrafficPolicy meaningful.
func externallyAccessible(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer ||
		svc.Spec.Type == corev1.ServiceTypeNodePort ||
		(svc.Spec.Type == corev1.ServiceTypeClusterIP && len(svc.Spec.ExternalIPs) > 0)
}

// needsHealthCheck tells whether the service needs a health check node
// port: a load balancer that must send traffic only to nodes with
// endpoints.
func needsHealthCheck(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer &&
		svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

func needsClusterIP(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName
}

func needsNodePort(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
}

func isHeadless(svc *corev1.Service) bool {
	return len(svc.Spec.ClusterIPs) == 1 && svc.Spec.ClusterIPs[0] == corev1.ClusterIPNone
}

// normalizeClusterIPs keeps clusterIP and clusterIPs in step for clients
// that set only the singular field, as upstream does before validation.
// old is nil on create.
func normalizeClusterIPs(svc, old *corev1.Service) {
	spec := &svc.Spec
	if old != nil && len(old.Spec.ClusterIPs) > 0 && len(spec.ClusterIPs) > 0 {
		// An old client cleared or changed the singular field only.
		if spec.ClusterIP == "" {
			spec.ClusterIPs = nil
			return
		}
		if old.Spec.ClusterIP != spec.ClusterIP {
			spec.ClusterIPs = []string{spec.ClusterIP}
			return
		}
	}
	if spec.ClusterIP != "" && len(spec.ClusterIPs) == 0 {
		spec.ClusterIPs = []string{spec.ClusterIP}
	}
}

// defaultIPFamilies fills ipFamilyPolicy and ipFamilies for a service that
// gets cluster IPs, in a single-stack cluster: the family of the given
// cluster IP, else IPv4. A headless service without selector is
// RequireDualStack upstream, since its endpoints may be of any family.
func defaultIPFamilies(svc *corev1.Service) {
	spec := &svc.Spec
	if !needsClusterIP(svc) {
		return
	}
	if spec.IPFamilyPolicy == nil {
		policy := corev1.IPFamilyPolicySingleStack
		if isHeadless(svc) && len(spec.Selector) == 0 {
			policy = corev1.IPFamilyPolicyRequireDualStack
		}
		spec.IPFamilyPolicy = &policy
	}
	if len(spec.IPFamilies) == 0 {
		family := corev1.IPv4Protocol
		if len(spec.ClusterIPs) > 0 && spec.ClusterIPs[0] != corev1.ClusterIPNone {
			if ip := net.ParseIP(spec.ClusterIPs[0]); ip != nil && ip.To4() == nil {
				family = corev1.IPv6Protocol
			}
		}
		spec.IPFamilies = []corev1.IPFamily{family}
	}
}
