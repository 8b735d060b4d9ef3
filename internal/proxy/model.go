package proxy

import (
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// ServicePort is one port of one Service, with everything the rules need.
type ServicePort struct {
	Namespace, Name, PortName string
	Protocol                  corev1.Protocol
	Port                      int32
	NodePort                  int32
	// VIPs are the cluster IP(s), external IPs and load-balancer IPs the
	// port answers on (IPv4 only).
	VIPs []netip.Addr
	// AffinitySeconds is the ClientIP session affinity timeout; 0: none.
	AffinitySeconds int32
	// Endpoints are the ready endpoints, sorted.
	Endpoints []Endpoint
}

// Endpoint is one backend of a service port.
type Endpoint struct {
	IP   netip.Addr
	Port int32
}

// key names a service port for humans: "ns/name:port".
func (sp ServicePort) key() string {
	k := sp.Namespace + "/" + sp.Name
	if sp.PortName != "" {
		k += ":" + sp.PortName
	}
	return k
}

// BuildServicePorts computes the service ports of svc from its
// EndpointSlices. Headless and ExternalName services have none.
func BuildServicePorts(svc *corev1.Service, slices []*discoveryv1.EndpointSlice) []ServicePort {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.ClusterIP == corev1.ClusterIPNone || svc.Spec.ClusterIP == "" {
		return nil
	}
	var vips []netip.Addr
	add := func(s string) {
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() && !a.IsLoopback() && !a.IsLinkLocalUnicast() && !a.IsUnspecified() {
			vips = append(vips, a)
		}
	}
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 {
		ips = []string{svc.Spec.ClusterIP}
	}
	for _, ip := range ips {
		add(ip)
	}
	for _, ip := range svc.Spec.ExternalIPs {
		add(ip)
	}
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			add(ing.IP)
		}
	}
	var affinity int32
	if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		affinity = corev1.DefaultClientIPServiceAffinitySeconds
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			affinity = *c.ClientIP.TimeoutSeconds
		}
	}
	var out []ServicePort
	for _, p := range svc.Spec.Ports {
		sp := ServicePort{
			Namespace: svc.Namespace, Name: svc.Name, PortName: p.Name,
			Protocol: p.Protocol, Port: p.Port, VIPs: vips, AffinitySeconds: affinity,
		}
		if sp.Protocol == "" {
			sp.Protocol = corev1.ProtocolTCP
		}
		if svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
			sp.NodePort = p.NodePort
		}
		sp.Endpoints = endpointsFor(p, slices)
		out = append(out, sp)
	}
	return out
}

// endpointsFor collects the ready endpoints of one service port: slices
// carry the resolved port number under the service port's name.
func endpointsFor(p corev1.ServicePort, slices []*discoveryv1.EndpointSlice) []Endpoint {
	seen := map[Endpoint]bool{}
	var out []Endpoint
	for _, s := range slices {
		if s.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		var port int32 = -1
		for _, sp := range s.Ports {
			name := ""
			if sp.Name != nil {
				name = *sp.Name
			}
			proto := corev1.ProtocolTCP
			if sp.Protocol != nil {
				proto = *sp.Protocol
			}
			if name == p.Name && proto == protocolOr(p.Protocol) && sp.Port != nil {
				port = *sp.Port
			}
		}
		if port < 0 {
			continue
		}
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil || !ip.Is4() {
					continue
				}
				e := Endpoint{IP: ip, Port: port}
				if !seen[e] {
					seen[e] = true
					out = append(out, e)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if c := out[i].IP.Compare(out[j].IP); c != 0 {
			return c < 0
		}
		return out[i].Port < out[j].Port
	})
	return out
}

func protocolOr(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

func nftProto(p corev1.Protocol) string { return strings.ToLower(string(protocolOr(p))) }
