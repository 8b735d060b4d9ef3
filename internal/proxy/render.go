package proxy

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"sort"
	"strings"
)

// TableName is the nftables table the proxy owns (family ip).
const TableName = "navarch"

// hairpinMark marks connections that must be masqueraded: a pod reaching
// itself through a VIP, and NodePort traffic (whose reply must come back
// through this node).
const hairpinMark = "0x4000"

// chainID gives a service port (or endpoint) a short stable chain name
// suffix: readable prefix plus a hash, since names can collide once cut.
func chainID(s string) string {
	sum := sha256.Sum256([]byte(s))
	h := strings.ToLower(base32.StdEncoding.EncodeToString(sum[:])[:8])
	readable := strings.NewReplacer("/", "-", ":", "-", ".", "-").Replace(s)
	if len(readable) > 40 {
		readable = readable[:40]
	}
	return readable + "-" + h
}

// Render returns the nft script that replaces the proxy's table
// (TableName) with the rules for ports; see RenderTable.
func Render(ports []ServicePort) string { return RenderTable(TableName, ports) }

// RenderTable returns the nft script that replaces the ip table named
// table with the rules for ports, as one transaction: the table is created
// if missing, deleted and written anew. ports may be in any order; the
// output is deterministic.
func RenderTable(tableName string, ports []ServicePort) string {
	ports = append([]ServicePort(nil), ports...)
	sort.Slice(ports, func(i, j int) bool {
		if ports[i].key() != ports[j].key() {
			return ports[i].key() < ports[j].key()
		}
		return ports[i].Protocol < ports[j].Protocol
	})
	var b strings.Builder
	w := func(format string, args ...interface{}) { fmt.Fprintf(&b, format+"\n", args...) }

	// "add table" makes "delete table" valid on a first run; the whole file
	// is one transaction.
	w("add table ip %s", tableName)
	w("delete table ip %s", tableName)
	w("table ip %s {", tableName)

	var vipElems, nodePortElems, noEndpointVIPs, noEndpointNodePorts []string
	var chains strings.Builder
	cw := func(format string, args ...interface{}) { fmt.Fprintf(&chains, format+"\n", args...) }
	var affinitySets []string
	for _, sp := range ports {
		proto := nftProto(sp.Protocol)
		svcChain := "svc-" + chainID(sp.key()+"/"+proto)
		if len(sp.Endpoints) == 0 {
			for _, vip := range sp.VIPs {
				noEndpointVIPs = append(noEndpointVIPs, fmt.Sprintf("%s . %s . %d", vip, proto, sp.Port))
			}
			if sp.NodePort != 0 {
				noEndpointNodePorts = append(noEndpointNodePorts, fmt.Sprintf("%s . %d", proto, sp.NodePort))
			}
			continue
		}
		for _, vip := range sp.VIPs {
			vipElems = append(vipElems, fmt.Sprintf("%s . %s . %d : goto %s", vip, proto, sp.Port, svcChain))
		}
		if sp.NodePort != 0 {
			nodePortElems = append(nodePortElems, fmt.Sprintf("%s . %d : goto %s", proto, sp.NodePort, svcChain))
		}
		cw("\tchain %s {", svcChain)
		cw("\t\tcomment %q", sp.key()+" "+proto)
		var epChains []string
		for _, ep := range sp.Endpoints {
			epChains = append(epChains, "ep-"+chainID(fmt.Sprintf("%s/%s/%s:%d", sp.key(), proto, ep.IP, ep.Port)))
		}
		if sp.AffinitySeconds > 0 {
			for _, c := range epChains {
				set := "aff-" + strings.TrimPrefix(c, "ep-")
				affinitySets = append(affinitySets, fmt.Sprintf("\tset %s {\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n\t\ttimeout %ds\n\t}", set, sp.AffinitySeconds))
				cw("\t\tip saddr @%s goto %s", set, c)
			}
		}
		if len(epChains) == 1 {
			cw("\t\tgoto %s", epChains[0])
		} else {
			var m []string
			for i, c := range epChains {
				m = append(m, fmt.Sprintf("%d : goto %s", i, c))
			}
			cw("\t\tnumgen random mod %d vmap { %s }", len(epChains), strings.Join(m, ", "))
		}
		cw("\t}")
		for i, ep := range sp.Endpoints {
			cw("\tchain %s {", epChains[i])
			cw("\t\tip saddr %s meta mark set meta mark or %s", ep.IP, hairpinMark)
			if sp.AffinitySeconds > 0 {
				cw("\t\tupdate @aff-%s { ip saddr }", strings.TrimPrefix(epChains[i], "ep-"))
			}
			cw("\t\tmeta l4proto %s dnat to %s:%d", proto, ep.IP, ep.Port)
			cw("\t}")
		}
	}

	writeMap := func(name, typ string, elems []string) {
		w("\tmap %s {", name)
		w("\t\ttype %s : verdict", typ)
		if len(elems) > 0 {
			w("\t\telements = {\n\t\t\t%s\n\t\t}", strings.Join(elems, ",\n\t\t\t"))
		}
		w("\t}")
	}
	writeSet := func(name, typ string, elems []string) {
		w("\tset %s {", name)
		w("\t\ttype %s", typ)
		if len(elems) > 0 {
			w("\t\telements = { %s }", strings.Join(elems, ", "))
		}
		w("\t}")
	}
	writeMap("service-ips", "ipv4_addr . inet_proto . inet_service", vipElems)
	writeMap("service-nodeports", "inet_proto . inet_service", nodePortElems)
	writeSet("no-endpoint-ips", "ipv4_addr . inet_proto . inet_service", noEndpointVIPs)
	writeSet("no-endpoint-nodeports", "inet_proto . inet_service", noEndpointNodePorts)
	for _, s := range affinitySets {
		w("%s", s)
	}
	w("\tchain prerouting {")
	w("\t\ttype nat hook prerouting priority dstnat; policy accept;")
	w("\t\tjump services")
	w("\t}")
	w("\tchain output {")
	// nft 1.0.6 refuses "priority dstnat" on the output hook.
	w("\t\ttype nat hook output priority -100; policy accept;")
	w("\t\tjump services")
	w("\t}")
	w("\tchain services {")
	w("\t\tip daddr . meta l4proto . th dport vmap @service-ips")
	w("\t\tfib daddr type local meta l4proto . th dport vmap @service-nodeports-masq")
	w("\t}")
	// NodePort traffic is marked for masquerade before it is balanced, so
	// replies come back through this node.
	w("\tchain nodeport-masq {")
	w("\t\tmeta mark set meta mark or %s", hairpinMark)
	w("\t\tmeta l4proto . th dport vmap @service-nodeports")
	w("\t}")
	w("\tmap service-nodeports-masq {")
	w("\t\ttype inet_proto . inet_service : verdict")
	if len(nodePortElems) > 0 {
		var jumps []string
		for _, e := range nodePortElems {
			jumps = append(jumps, strings.SplitN(e, " : ", 2)[0]+" : jump nodeport-masq")
		}
		w("\t\telements = {\n\t\t\t%s\n\t\t}", strings.Join(jumps, ",\n\t\t\t"))
	}
	w("\t}")
	w("\tchain postrouting {")
	w("\t\ttype nat hook postrouting priority srcnat; policy accept;")
	w("\t\tmeta mark & %s == %s masquerade", hairpinMark, hairpinMark)
	w("\t}")
	// Services without endpoints refuse connections at once instead of
	// letting clients time out, as kube-proxy does.
	w("\tchain filter-input {")
	w("\t\ttype filter hook input priority -110; policy accept;")
	w("\t\tjump reject-no-endpoints")
	w("\t}")
	w("\tchain filter-output {")
	w("\t\ttype filter hook output priority -110; policy accept;")
	w("\t\tjump reject-no-endpoints")
	w("\t}")
	w("\tchain filter-forward {")
	w("\t\ttype filter hook forward priority -110; policy accept;")
	w("\t\tjump reject-no-endpoints")
	w("\t}")
	w("\tchain reject-no-endpoints {")
	w("\t\tip daddr . meta l4proto . th dport @no-endpoint-ips reject")
	w("\t\tfib daddr type local meta l4proto . th dport @no-endpoint-nodeports reject")
	w("\t}")
	b.WriteString(chains.String())
	w("}")
	return b.String()
}
