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
	// NodePort is the port the service answers on every local address
	// (NodePort and LoadBalancer services); 0: none.
	NodePort int32
	// ClusterIPs are the addresses internal traffic uses (IPv4 only).
	ClusterIPs []netip.Addr
	// ExternalIPs are the external IPs and load-balancer ingress IPs:
	// with NodePort, the "external" destinations traffic policies speak of.
	ExternalIPs []netip.Addr
	// ExternalLocal is externalTrafficPolicy Local: external traffic goes
	// only to endpoints on this node and keeps its client address.
	ExternalLocal bool
	// InternalLocal is internalTrafficPolicy Local: cluster IP traffic
	// goes only to endpoints on this node.
	InternalLocal bool
	// AffinitySeconds is the ClientIP session affinity timeout; 0: none.
	AffinitySeconds int32
	// Endpoints are the ready endpoints, sorted.
	Endpoints []Endpoint
}

// Endpoint is one backend of a service port.
type Endpoint struct {
	IP   netip.Addr
	Port int32
	// Local: the endpoint runs on this node (its EndpointSlice entry names
	// this node).
	Local bool
}

// key names a service port for humans: "ns/name:port".
func (sp ServicePort) key() string {
	k := sp.Namespace + "/" + sp.Name
	if sp.PortName != "" {
		k += ":" + sp.PortName
	}
	return k
}

// serviceKey names the service a port belongs to: "ns/name".
func (sp ServicePort) serviceKey() string { return sp.Namespace + "/" + sp.Name }

// BuildServicePorts computes the service ports of svc from its
// EndpointSlices, as seen from the node named nodeName (which decides
// which endpoints are local; "" means none is). Headless and ExternalName
// services have none. External IPs that are loopback, link-local,
// unspecified or multicast are left out even if the API let them through
// (CVE-2020-8554 class: they would capture the node's own traffic).
func BuildServicePorts(svc *corev1.Service, slices []*discoveryv1.EndpointSlice, nodeName string) []ServicePort {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.ClusterIP == corev1.ClusterIPNone || svc.Spec.ClusterIP == "" {
		return nil
	}
	parse := func(list []netip.Addr, s string) []netip.Addr {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() || a.IsMulticast() {
			return list
		}
		for _, b := range list {
			if a == b {
				return list
			}
		}
		return append(list, a)
	}
	var clusterIPs, externalIPs []netip.Addr
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 {
		ips = []string{svc.Spec.ClusterIP}
	}
	for _, ip := range ips {
		clusterIPs = parse(clusterIPs, ip)
	}
	for _, ip := range svc.Spec.ExternalIPs {
		externalIPs = parse(externalIPs, ip)
	}
	external := svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			externalIPs = parse(externalIPs, ing.IP)
		}
	}
	var affinity int32
	if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		affinity = corev1.DefaultClientIPServiceAffinitySeconds
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil && *c.ClientIP.TimeoutSeconds > 0 {
			affinity = *c.ClientIP.TimeoutSeconds
		}
	}
	// As upstream: the external policy only matters where there are
	// external destinations.
	externalLocal := svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal && (external || len(externalIPs) > 0)
	internalLocal := svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal
	var out []ServicePort
	for _, p := range svc.Spec.Ports {
		sp := ServicePort{
			Namespace: svc.Namespace, Name: svc.Name, PortName: p.Name,
			Protocol: protocolOr(p.Protocol), Port: p.Port,
			ClusterIPs: clusterIPs, ExternalIPs: externalIPs,
			ExternalLocal: externalLocal, InternalLocal: internalLocal,
			AffinitySeconds: affinity,
		}
		if external && p.NodePort > 0 && p.NodePort < 65536 {
			sp.NodePort = p.NodePort
		}
		if sp.Port <= 0 || sp.Port > 65535 || !knownProtocol(sp.Protocol) {
			continue // not valid in the API; never let it break the table
		}
		sp.Endpoints = endpointsFor(p, slices, nodeName)
		out = append(out, sp)
	}
	return out
}

// endpointsFor collects the ready endpoints of one service port: slices
// carry the resolved port number under the service port's name.
func endpointsFor(p corev1.ServicePort, slices []*discoveryv1.EndpointSlice, nodeName string) []Endpoint {
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
			if name == p.Name && proto == protocolOr(p.Protocol) && sp.Port != nil && *sp.Port > 0 && *sp.Port < 65536 {
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
			local := nodeName != "" && ep.NodeName != nil && *ep.NodeName == nodeName
			for _, a := range ep.Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil || !ip.Is4() {
					continue
				}
				e := Endpoint{IP: ip, Port: port, Local: local}
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
		if out[i].Port != out[j].Port {
			return out[i].Port < out[j].Port
		}
		return !out[i].Local && out[j].Local
	})
	// One address in two slices, once as local and once not, is one
	// endpoint (the same pod seen twice during a slice rewrite).
	dedup := out[:0]
	for _, e := range out {
		if n := len(dedup); n > 0 && dedup[n-1].IP == e.IP && dedup[n-1].Port == e.Port {
			dedup[n-1].Local = dedup[n-1].Local || e.Local
			continue
		}
		dedup = append(dedup, e)
	}
	return dedup
}

func protocolOr(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

func knownProtocol(p corev1.Protocol) bool {
	return p == corev1.ProtocolTCP || p == corev1.ProtocolUDP || p == corev1.ProtocolSCTP
}

func nftProto(p corev1.Protocol) string { return strings.ToLower(string(protocolOr(p))) }
