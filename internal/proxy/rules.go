package proxy

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// The base objects every proxy table holds: four verdict maps the
// per-service chains hang from, and the chains hooked into netfilter.
const (
	mapServiceIPs          = "service-ips"
	mapServiceNodePorts    = "service-nodeports"
	mapNoEndpointServices  = "no-endpoint-services"
	mapNoEndpointNodePorts = "no-endpoint-nodeports"
	rejectChain            = "reject-chain"
)

// Prefixes of the per-service objects. Base objects never start with one.
const (
	prefixCluster  = "svc-"   // cluster policy: every ready endpoint
	prefixLocal    = "local-" // local policy: the ready endpoints on this node
	prefixExternal = "ext-"   // external destinations: masquerade or short-circuit, then a policy chain
	prefixEndpoint = "ep-"    // one endpoint: hairpin mark, affinity, DNAT
	prefixAffinity = "aff-"   // clients pinned to one endpoint (dynamic set with timeout)
)

// hairpinMark marks connections that must be masqueraded: a pod reaching
// itself through a VIP, and external traffic under the Cluster policy
// (whose reply must come back through this node).
const hairpinMark = "0x4000"

// Verdicts of the no-endpoint maps: a service without any endpoint
// refuses connections at once; one whose endpoints are all on other nodes
// while its traffic policy is Local drops them, as upstream does (a load
// balancer's health check then sends clients elsewhere).
const (
	verdictReject = "goto " + rejectChain
	verdictDrop   = "drop"
)

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

// isServiceObject tells per-service chains and sets from base objects.
func isServiceObject(name string) bool {
	for _, p := range []string{prefixCluster, prefixLocal, prefixExternal, prefixEndpoint, prefixAffinity} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// chain is the content of one per-service chain. The comment is set when
// the chain is created and never changes (it is derived from the name's
// source, and the kernel ignores comment updates).
type chain struct {
	comment string
	rules   []rule
}

func (c chain) equal(o chain) bool {
	if c.comment != o.comment || len(c.rules) != len(o.rules) {
		return false
	}
	for i := range c.rules {
		if !c.rules[i].equal(o.rules[i]) {
			return false
		}
	}
	return true
}

// ruleKind is one of the few rule shapes per-service chains hold.
type ruleKind int

const (
	// ruleMarkFrom: ip saddr <ip> meta mark set meta mark or 0x4000
	// (hairpin: an endpoint reaching itself).
	ruleMarkFrom ruleKind = iota
	// ruleAffinityUpdate: update @<set> { ip saddr }
	ruleAffinityUpdate
	// ruleDNAT: meta l4proto <proto> dnat to <ip>:<port>
	ruleDNAT
	// ruleAffinityGoto: ip saddr @<set> goto <target>
	ruleAffinityGoto
	// ruleGoto: goto <target>
	ruleGoto
	// ruleBalance: numgen random mod N vmap { 0 : goto <targets[0]>, ... }
	ruleBalance
	// ruleMarkGoto: meta mark set meta mark or 0x4000 goto <target>
	ruleMarkGoto
	// ruleLocalMarkGoto: fib saddr type local meta mark set meta mark or
	// 0x4000 goto <target> (the node's own traffic).
	ruleLocalMarkGoto
)

// rule is one rule of a per-service chain, as data: String writes it for
// nft, the netlink encoder (netlink.go) writes the same expressions.
type rule struct {
	kind    ruleKind
	ip      netip.Addr
	port    int32
	proto   string
	set     string
	target  string
	targets []string
}

func (r rule) String() string {
	switch r.kind {
	case ruleMarkFrom:
		return fmt.Sprintf("ip saddr %s meta mark set meta mark or %s", r.ip, hairpinMark)
	case ruleAffinityUpdate:
		return fmt.Sprintf("update @%s { ip saddr }", r.set)
	case ruleDNAT:
		return fmt.Sprintf("meta l4proto %s dnat to %s:%d", r.proto, r.ip, r.port)
	case ruleAffinityGoto:
		return fmt.Sprintf("ip saddr @%s goto %s", r.set, r.target)
	case ruleGoto:
		return "goto " + r.target
	case ruleBalance:
		m := make([]string, len(r.targets))
		for i, c := range r.targets {
			m[i] = fmt.Sprintf("%d : goto %s", i, c)
		}
		return fmt.Sprintf("numgen random mod %d vmap { %s }", len(r.targets), strings.Join(m, ", "))
	case ruleMarkGoto:
		return fmt.Sprintf("meta mark set meta mark or %s goto %s", hairpinMark, r.target)
	case ruleLocalMarkGoto:
		return fmt.Sprintf("fib saddr type local meta mark set meta mark or %s goto %s", hairpinMark, r.target)
	}
	return fmt.Sprintf("# unknown rule kind %d", r.kind)
}

func (r rule) equal(o rule) bool {
	if r.kind != o.kind || r.ip != o.ip || r.port != o.port || r.proto != o.proto || r.set != o.set || r.target != o.target || len(r.targets) != len(o.targets) {
		return false
	}
	for i := range r.targets {
		if r.targets[i] != o.targets[i] {
			return false
		}
	}
	return true
}

// elemKey names one entry of one of the base verdict maps: ip . proto .
// port in the address maps, proto . port in the NodePort maps.
type elemKey struct {
	m     string
	ip    netip.Addr // invalid in the NodePort maps
	proto string
	port  int32
}

func (k elemKey) String() string {
	if k.ip.IsValid() {
		return fmt.Sprintf("%s . %s . %d", k.ip, k.proto, k.port)
	}
	return fmt.Sprintf("%s . %d", k.proto, k.port)
}

// element is an entry of a base verdict map; verdict is "goto <chain>"
// or "drop".
type element struct {
	elemKey
	verdict string
}

// serviceRules is what one Service adds to the table: its chains, its
// affinity sets and its entries in the base maps. It is not changed once
// built, so rulesets share it.
type serviceRules struct {
	chainNames []string // rendering order
	chains     map[string]chain
	// affinity maps an affinity set's name to its timeout in seconds. The
	// timeout is part of the name, so a set is never redefined in place.
	affinity     map[string]int32
	affinityName []string
	elements     []element
}

func (s *serviceRules) addChain(name, comment string, rules ...rule) {
	if _, ok := s.chains[name]; ok {
		return
	}
	s.chainNames = append(s.chainNames, name)
	s.chains[name] = chain{comment: comment, rules: rules}
}

// buildServiceRules turns the ports of one Service into its share of the
// table; nil when it has none. The layout is kube-proxy's nftables mode:
//
//   - the cluster IP points at the cluster chain (every ready endpoint),
//     or, with internalTrafficPolicy Local, at the local chain;
//   - external IPs, load-balancer IPs and the NodePort point at the
//     external chain: under the Cluster policy it marks the connection
//     for masquerade and goes on to the cluster chain; under Local it
//     sends the node's own traffic (masqueraded) to the cluster chain and
//     everything else, client address kept, to the local chain;
//   - destinations without a usable endpoint go to the no-endpoint maps
//     instead (reject, or drop when only the Local policy leaves none).
func buildServiceRules(ports []ServicePort) *serviceRules {
	if len(ports) == 0 {
		return nil
	}
	s := &serviceRules{chains: map[string]chain{}, affinity: map[string]int32{}}
	for _, sp := range ports {
		s.addPort(sp)
	}
	return s
}

func (s *serviceRules) addPort(sp ServicePort) {
	proto := nftProto(sp.Protocol)
	id := chainID(sp.key() + "/" + proto)
	clusterChain, localChain, extChain := prefixCluster+id, prefixLocal+id, prefixExternal+id

	var local []Endpoint
	for _, ep := range sp.Endpoints {
		if ep.Local {
			local = append(local, ep)
		}
	}
	hasEndpoints := len(sp.Endpoints) > 0
	hasExternal := len(sp.ExternalIPs) > 0 || sp.NodePort != 0
	hasInternalEndpoints := hasEndpoints && (!sp.InternalLocal || len(local) > 0)
	hasExternalEndpoints := hasEndpoints && (!sp.ExternalLocal || len(local) > 0)
	usesCluster := hasEndpoints && (!sp.InternalLocal || hasExternal)
	usesLocal := len(local) > 0 && (sp.InternalLocal || sp.ExternalLocal)
	noEndpoints := verdictReject
	if hasEndpoints {
		noEndpoints = verdictDrop
	}

	// Map entries.
	internalChain := clusterChain
	if sp.InternalLocal {
		internalChain = localChain
	}
	add := func(m string, ip netip.Addr, port int32, verdict string) {
		s.elements = append(s.elements, element{elemKey{m, ip, proto, port}, verdict})
	}
	for _, ip := range sp.ClusterIPs {
		if hasInternalEndpoints {
			add(mapServiceIPs, ip, sp.Port, "goto "+internalChain)
		} else {
			add(mapNoEndpointServices, ip, sp.Port, noEndpoints)
		}
	}
	for _, ip := range sp.ExternalIPs {
		if hasEndpoints {
			add(mapServiceIPs, ip, sp.Port, "goto "+extChain)
		}
		if !hasExternalEndpoints {
			add(mapNoEndpointServices, ip, sp.Port, noEndpoints)
		}
	}
	if sp.NodePort != 0 {
		if hasEndpoints {
			add(mapServiceNodePorts, netip.Addr{}, sp.NodePort, "goto "+extChain)
		}
		if !hasExternalEndpoints {
			add(mapNoEndpointNodePorts, netip.Addr{}, sp.NodePort, noEndpoints)
		}
	}
	if !hasEndpoints {
		return
	}

	// Chains, in the order a packet meets them.
	comment := sp.key() + " " + proto
	if hasExternal {
		var rules []rule
		if !sp.ExternalLocal {
			rules = append(rules, rule{kind: ruleMarkGoto, target: clusterChain})
		} else {
			// The node's own traffic has a local source address the
			// endpoint could not answer: masquerade it, and let it use
			// every endpoint, as upstream does.
			rules = append(rules, rule{kind: ruleLocalMarkGoto, target: clusterChain})
			if len(local) > 0 {
				rules = append(rules, rule{kind: ruleGoto, target: localChain})
			}
		}
		s.addChain(extChain, comment+" external", rules...)
	}
	if usesCluster {
		s.addChain(clusterChain, comment, s.balance(sp, proto, sp.Endpoints)...)
	}
	if usesLocal {
		s.addChain(localChain, comment+" local", s.balance(sp, proto, local)...)
	}
	reached := local
	if usesCluster {
		reached = sp.Endpoints
	}
	for _, ep := range reached {
		name, aff := endpointNames(sp, proto, ep)
		rules := []rule{{kind: ruleMarkFrom, ip: ep.IP}}
		if aff != "" {
			rules = append(rules, rule{kind: ruleAffinityUpdate, set: aff})
		}
		rules = append(rules, rule{kind: ruleDNAT, proto: proto, ip: ep.IP, port: ep.Port})
		s.addChain(name, "", rules...)
	}
}

// endpointNames gives an endpoint's chain and (with session affinity) its
// affinity set.
func endpointNames(sp ServicePort, proto string, ep Endpoint) (chainName, affinitySet string) {
	id := fmt.Sprintf("%s/%s/%s:%d", sp.key(), proto, ep.IP, ep.Port)
	chainName = prefixEndpoint + chainID(id)
	if sp.AffinitySeconds > 0 {
		affinitySet = prefixAffinity + chainID(fmt.Sprintf("%s/%ds", id, sp.AffinitySeconds))
	}
	return chainName, affinitySet
}

// balance returns the rules that pick one of eps: the endpoint a client
// is pinned to (session affinity), else one at random.
func (s *serviceRules) balance(sp ServicePort, proto string, eps []Endpoint) []rule {
	var rules []rule
	var targets []string
	for _, ep := range eps {
		name, aff := endpointNames(sp, proto, ep)
		targets = append(targets, name)
		if aff != "" {
			if _, ok := s.affinity[aff]; !ok {
				s.affinity[aff] = sp.AffinitySeconds
				s.affinityName = append(s.affinityName, aff)
			}
			rules = append(rules, rule{kind: ruleAffinityGoto, set: aff, target: name})
		}
	}
	if len(targets) == 1 {
		return append(rules, rule{kind: ruleGoto, target: targets[0]})
	}
	return append(rules, rule{kind: ruleBalance, targets: targets})
}

// ruleset is the whole table as data: what each Service ("ns/name")
// contributes. It is not changed once built; with returns a new one.
type ruleset struct {
	services map[string]*serviceRules
	// elems are the map entries of all services merged; computed on first
	// use (see elements).
	elems map[elemKey]string
}

func newRuleset() *ruleset { return &ruleset{services: map[string]*serviceRules{}} }

// rulesetFor builds a ruleset from service ports in any order.
func rulesetFor(ports []ServicePort) *ruleset {
	byService := map[string][]ServicePort{}
	for _, sp := range ports {
		byService[sp.serviceKey()] = append(byService[sp.serviceKey()], sp)
	}
	rs := newRuleset()
	for key, ps := range byService {
		sort.SliceStable(ps, func(i, j int) bool {
			if ps[i].key() != ps[j].key() {
				return ps[i].key() < ps[j].key()
			}
			return ps[i].Protocol < ps[j].Protocol
		})
		if r := buildServiceRules(ps); r != nil {
			rs.services[key] = r
		}
	}
	return rs
}

// with returns a copy of rs in which the services in changed have the
// given rules (nil: the service is gone or has no rules).
func (rs *ruleset) with(changed map[string]*serviceRules) *ruleset {
	next := &ruleset{services: make(map[string]*serviceRules, len(rs.services)+len(changed))}
	for k, v := range rs.services {
		next.services[k] = v
	}
	for k, v := range changed {
		if v == nil {
			delete(next.services, k)
		} else {
			next.services[k] = v
		}
	}
	return next
}

// sortedServices returns the service keys in order.
func (rs *ruleset) sortedServices() []string {
	keys := make([]string, 0, len(rs.services))
	for k := range rs.services {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// elements merges every service's map entries. When two services claim
// the same entry (say, one's external IP is another's cluster IP), the
// first service in name order wins, so the result never depends on the
// order changes arrived in.
func (rs *ruleset) elements() map[elemKey]string {
	if rs.elems != nil {
		return rs.elems
	}
	elems := map[elemKey]string{}
	for _, k := range rs.sortedServices() {
		for _, e := range rs.services[k].elements {
			if _, taken := elems[e.elemKey]; !taken {
				elems[e.elemKey] = e.verdict
			}
		}
	}
	rs.elems = elems
	return elems
}

// sortedElements returns the entries of map m in key order.
func sortedElements(elems map[elemKey]string, m string) []element {
	var out []element
	for k, v := range elems {
		if k.m == m {
			out = append(out, element{k, v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}
