package dns

import (
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
)

// answerKind says what kind of answer a cluster name has.
type answerKind int

const (
	nameMissing answerKind = iota // NXDOMAIN
	nameAddrs                     // A/AAAA records in addrs
	nameCNAME                     // a CNAME to target
	nameSRV                       // SRV records in srvs
	nameEmpty                     // the name exists (an intermediate label) but has no records
)

// srvRecord is one SRV answer: target host and port.
type srvRecord struct {
	target string
	port   uint16
}

// lookup is the answer for one name in the cluster domain.
type lookup struct {
	kind   answerKind
	addrs  []netip.Addr
	target string
	srvs   []srvRecord
}

// resolver answers cluster names from listers. It is safe for concurrent
// use (listers are).
type resolver struct {
	domain   string // "cluster.local", no trailing dot
	services corelisters.ServiceLister
	slices   discoverylisters.EndpointSliceLister
}

// resolve answers a lower-case, fully qualified name without the trailing
// dot, which must be inside the cluster domain.
func (r *resolver) resolve(name string) lookup {
	rest := strings.TrimSuffix(name, "."+r.domain)
	if rest == name {
		if name == r.domain {
			return lookup{kind: nameEmpty}
		}
		return lookup{kind: nameMissing}
	}
	labels := strings.Split(rest, ".")
	n := len(labels)
	switch {
	case n >= 1 && labels[n-1] == "svc":
		return r.resolveService(labels[:n-1])
	case n >= 1 && labels[n-1] == "pod":
		return r.resolvePod(labels[:n-1])
	}
	return lookup{kind: nameMissing}
}

// resolveService answers [_port._proto.|hostname.]svc.ns (labels given
// without "svc").
func (r *resolver) resolveService(l []string) lookup {
	switch len(l) {
	case 0:
		return lookup{kind: nameEmpty} // svc.DOMAIN
	case 1:
		if r.namespaceHasServices(l[0]) {
			return lookup{kind: nameEmpty}
		}
		return lookup{kind: nameMissing}
	}
	ns, name := l[len(l)-1], l[len(l)-2]
	svc, err := r.services.Services(ns).Get(name)
	if err != nil {
		return lookup{kind: nameMissing}
	}
	prefix := l[:len(l)-2]
	switch len(prefix) {
	case 0:
		return r.serviceAnswer(svc)
	case 1:
		if strings.HasPrefix(prefix[0], "_") {
			return lookup{kind: nameEmpty} // _proto.svc... is an intermediate name only with a port label
		}
		return r.endpointHostname(svc, prefix[0])
	case 2:
		return r.srv(svc, prefix[0], prefix[1])
	}
	return lookup{kind: nameMissing}
}

func (r *resolver) namespaceHasServices(ns string) bool {
	svcs, err := r.services.Services(ns).List(labels.Everything())
	return err == nil && len(svcs) > 0
}

func (r *resolver) serviceAnswer(svc *corev1.Service) lookup {
	switch {
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		return lookup{kind: nameCNAME, target: strings.TrimSuffix(strings.ToLower(svc.Spec.ExternalName), ".")}
	case svc.Spec.ClusterIP == corev1.ClusterIPNone:
		addrs := r.endpointAddrs(svc, "")
		if len(addrs) == 0 {
			return lookup{kind: nameEmpty}
		}
		return lookup{kind: nameAddrs, addrs: addrs}
	}
	var addrs []netip.Addr
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	for _, ip := range ips {
		if a, err := netip.ParseAddr(ip); err == nil {
			addrs = append(addrs, a)
		}
	}
	return lookup{kind: nameAddrs, addrs: addrs}
}

// endpointAddrs returns the ready (or, with publishNotReadyAddresses, all)
// endpoint addresses of svc; with hostname set, only that endpoint's.
func (r *resolver) endpointAddrs(svc *corev1.Service, hostname string) []netip.Addr {
	slices, err := r.slices.EndpointSlices(svc.Namespace).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: svc.Name}))
	if err != nil {
		return nil
	}
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	for _, s := range slices {
		for _, ep := range s.Endpoints {
			if !svc.Spec.PublishNotReadyAddresses && ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			if hostname != "" && (ep.Hostname == nil || *ep.Hostname != hostname) {
				continue
			}
			for _, a := range ep.Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil || seen[ip] {
					continue
				}
				seen[ip] = true
				out = append(out, ip)
			}
		}
	}
	return out
}

func (r *resolver) endpointHostname(svc *corev1.Service, hostname string) lookup {
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		return lookup{kind: nameMissing}
	}
	addrs := r.endpointAddrs(svc, hostname)
	if len(addrs) == 0 {
		return lookup{kind: nameMissing}
	}
	return lookup{kind: nameAddrs, addrs: addrs}
}

// srv answers _port._proto.svc.ns: one record per matching named port,
// targeting the service name (or, for headless services, each endpoint
// with a hostname).
func (r *resolver) srv(svc *corev1.Service, portLabel, protoLabel string) lookup {
	if !strings.HasPrefix(portLabel, "_") || !strings.HasPrefix(protoLabel, "_") {
		return lookup{kind: nameMissing}
	}
	portName, proto := portLabel[1:], strings.ToUpper(protoLabel[1:])
	svcName := svc.Name + "." + svc.Namespace + ".svc." + r.domain
	var out []srvRecord
	for _, p := range svc.Spec.Ports {
		if p.Name != portName || string(p.Protocol) != proto {
			continue
		}
		out = append(out, srvRecord{target: svcName, port: uint16(p.Port)})
	}
	if len(out) == 0 {
		return lookup{kind: nameMissing}
	}
	return lookup{kind: nameSRV, srvs: out}
}

// resolvePod answers A-B-C-D.ns.pod (labels given without "pod").
func (r *resolver) resolvePod(l []string) lookup {
	switch len(l) {
	case 0, 1:
		return lookup{kind: nameEmpty}
	case 2:
		ip, err := netip.ParseAddr(strings.ReplaceAll(l[0], "-", "."))
		if err != nil || !ip.Is4() {
			return lookup{kind: nameMissing}
		}
		return lookup{kind: nameAddrs, addrs: []netip.Addr{ip}}
	}
	return lookup{kind: nameMissing}
}
