package serviceendpoints

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// addressKey identifies an address across subsets: the same IP may belong
// to two pods (host network), told apart by the target's UID.
type addressKey struct {
	ip  string
	uid types.UID
}

// portKey is an EndpointPort as a comparable value (AppProtocol is a
// pointer in the API type).
type portKey struct {
	name        string
	port        int32
	protocol    corev1.Protocol
	appProtocol string
	hasApp      bool
	// none marks the "no ports" subset of a headless Service.
	none bool
}

func keyOfPort(p corev1.EndpointPort) portKey {
	k := portKey{name: p.Name, port: p.Port, protocol: p.Protocol}
	if p.AppProtocol != nil {
		k.appProtocol, k.hasApp = *p.AppProtocol, true
	}
	return k
}

func (k portKey) endpointPort() corev1.EndpointPort {
	p := corev1.EndpointPort{Name: k.name, Port: k.port, Protocol: k.protocol}
	if k.hasApp {
		app := k.appProtocol
		p.AppProtocol = &app
	}
	return p
}

// RepackSubsets returns subsets in canonical form: every address appears
// once per set of ports it serves, addresses that serve the same ports
// (with the same readiness) share a subset, and addresses, ports and
// subsets are sorted. An address not ready on some port is not ready on
// it, whatever other subsets say. The input is not modified.
func RepackSubsets(subsets []corev1.EndpointSubset) []corev1.EndpointSubset {
	addresses := map[addressKey]corev1.EndpointAddress{}
	readiness := map[portKey]map[addressKey]bool{}
	record := func(addr corev1.EndpointAddress, port portKey, ready bool) {
		key := addressKey{ip: addr.IP}
		if addr.TargetRef != nil {
			key.uid = addr.TargetRef.UID
		}
		if _, seen := addresses[key]; !seen {
			addresses[key] = *addr.DeepCopy()
		}
		byAddress := readiness[port]
		if byAddress == nil {
			byAddress = map[addressKey]bool{}
			readiness[port] = byAddress
		}
		if wasReady, seen := byAddress[key]; !seen || wasReady {
			byAddress[key] = ready
		}
	}
	for _, subset := range subsets {
		ports := make([]portKey, 0, len(subset.Ports))
		for _, p := range subset.Ports {
			ports = append(ports, keyOfPort(p))
		}
		if len(ports) == 0 {
			ports = append(ports, portKey{none: true})
		}
		for _, port := range ports {
			for _, addr := range subset.Addresses {
				record(addr, port, true)
			}
			for _, addr := range subset.NotReadyAddresses {
				record(addr, port, false)
			}
		}
	}

	// Ports whose addresses (and readiness) are the same form one subset.
	type group struct {
		signature string
		members   map[addressKey]bool
		ports     []portKey
	}
	groups := map[string]*group{}
	for port, members := range readiness {
		signature := membersSignature(members)
		g := groups[signature]
		if g == nil {
			g = &group{signature: signature, members: members}
			groups[signature] = g
		}
		if !port.none {
			g.ports = append(g.ports, port)
		}
	}
	ordered := make([]*group, 0, len(groups))
	for _, g := range groups {
		ordered = append(ordered, g)
	}
	slices.SortFunc(ordered, func(a, b *group) int { return strings.Compare(a.signature, b.signature) })

	out := make([]corev1.EndpointSubset, 0, len(ordered))
	for _, g := range ordered {
		var subset corev1.EndpointSubset
		keys := make([]addressKey, 0, len(g.members))
		for key := range g.members {
			keys = append(keys, key)
		}
		slices.SortFunc(keys, compareAddressKeys)
		for _, key := range keys {
			if g.members[key] {
				subset.Addresses = append(subset.Addresses, addresses[key])
			} else {
				subset.NotReadyAddresses = append(subset.NotReadyAddresses, addresses[key])
			}
		}
		slices.SortFunc(g.ports, comparePorts)
		for _, port := range g.ports {
			subset.Ports = append(subset.Ports, port.endpointPort())
		}
		out = append(out, subset)
	}
	return out
}

func membersSignature(members map[addressKey]bool) string {
	keys := make([]addressKey, 0, len(members))
	for key := range members {
		keys = append(keys, key)
	}
	slices.SortFunc(keys, compareAddressKeys)
	var b strings.Builder
	for _, key := range keys {
		b.WriteString(key.ip)
		b.WriteByte('/')
		b.WriteString(string(key.uid))
		b.WriteByte('/')
		b.WriteString(strconv.FormatBool(members[key]))
		b.WriteByte(';')
	}
	return b.String()
}

func compareAddressKeys(a, b addressKey) int {
	return cmp.Or(strings.Compare(a.ip, b.ip), strings.Compare(string(a.uid), string(b.uid)))
}

func comparePorts(a, b portKey) int {
	return cmp.Or(strings.Compare(a.name, b.name), cmp.Compare(a.port, b.port),
		strings.Compare(string(a.protocol), string(b.protocol)), strings.Compare(a.appProtocol, b.appProtocol))
}
