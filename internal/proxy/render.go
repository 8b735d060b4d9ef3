package proxy

import (
	"fmt"
	"sort"
	"strings"
)

// TableName is the nftables table the proxy owns (family ip).
const TableName = "navarch"

// baseMap is one of the verdict maps every table holds.
type baseMap struct{ name, keyType string }

// signature is how the map reads back from `nft -j list maps`.
func (m baseMap) signature() string { return "map " + m.keyType + " : verdict" }

var baseMaps = []baseMap{
	{mapServiceIPs, "ipv4_addr . inet_proto . inet_service"},
	{mapServiceNodePorts, "inet_proto . inet_service"},
	{mapNoEndpointServices, "ipv4_addr . inet_proto . inet_service"},
	{mapNoEndpointNodePorts, "inet_proto . inet_service"},
}

// baseChain is one of the chains every table holds. Hooked chains have a
// type, hook and priority.
type baseChain struct {
	name, typ, hook string
	priority        int
	rules           []string
}

// declaration is the chain's first line inside its block ("" for a
// regular chain).
func (c baseChain) declaration() string {
	if c.hook == "" {
		return ""
	}
	// Numeric priorities: nft 1.0.6 refuses "dstnat" on the output hook.
	return fmt.Sprintf("type %s hook %s priority %d; policy accept;", c.typ, c.hook, c.priority)
}

// signature is how the chain reads back from `nft -j list chains`.
func (c baseChain) signature() string {
	if c.hook == "" {
		return ""
	}
	return fmt.Sprintf("%s %s %d", c.typ, c.hook, c.priority)
}

var baseChains = []baseChain{
	{name: "prerouting", typ: "nat", hook: "prerouting", priority: -100, rules: []string{"jump services"}},
	{name: "output", typ: "nat", hook: "output", priority: -100, rules: []string{"jump services"}},
	{name: "services", rules: []string{
		"ip daddr . meta l4proto . th dport vmap @" + mapServiceIPs,
		"fib daddr type local meta l4proto . th dport vmap @" + mapServiceNodePorts,
	}},
	{name: "postrouting", typ: "nat", hook: "postrouting", priority: 100, rules: []string{
		fmt.Sprintf("meta mark & %s == %s masquerade", hairpinMark, hairpinMark),
	}},
	// Destinations without a usable endpoint are refused (or dropped)
	// before DNAT, instead of letting clients time out, as kube-proxy does.
	// Only a connection's first packet is checked, as in kube-proxy: the
	// filter hooks see every packet of every connection of the node (pod
	// to pod included), and the check's fib lookup and map lookup cost
	// each of them; a connection that got through its first packet keeps
	// its DNAT whatever the endpoints do next.
	{name: "filter-input", typ: "filter", hook: "input", priority: -110, rules: []string{"ct state new jump endpoints-check"}},
	{name: "filter-output", typ: "filter", hook: "output", priority: -110, rules: []string{"ct state new jump endpoints-check"}},
	{name: "filter-forward", typ: "filter", hook: "forward", priority: -110, rules: []string{"ct state new jump endpoints-check"}},
	{name: "endpoints-check", rules: []string{
		"ip daddr . meta l4proto . th dport vmap @" + mapNoEndpointServices,
		"fib daddr type local meta l4proto . th dport vmap @" + mapNoEndpointNodePorts,
	}},
	{name: rejectChain, rules: []string{"reject"}},
}

// script accumulates an nft script.
type script struct{ strings.Builder }

func (s *script) line(format string, args ...interface{}) {
	fmt.Fprintf(s, format, args...)
	s.WriteByte('\n')
}

func (s *script) affinitySet(name string, timeout int32) {
	s.line("\tset %s {", name)
	s.line("\t\ttype ipv4_addr")
	s.line("\t\tflags dynamic,timeout")
	s.line("\t\ttimeout %ds", timeout)
	s.line("\t}")
}

// chain writes a chain block; the comment only if withComment.
func (s *script) chain(name string, c chain, withComment, withRules bool) {
	s.line("\tchain %s {", name)
	if withComment && c.comment != "" {
		s.line("\t\tcomment %q", c.comment)
	}
	if withRules {
		for _, r := range c.rules {
			s.line("\t\t%s", r)
		}
	}
	s.line("\t}")
}

// elements writes "<verb> element ip T m { ... }" for each map with
// entries; with values unless keysOnly.
func (s *script) elements(verb, table string, elems []element, keysOnly bool) {
	byMap := map[string][]string{}
	for _, e := range elems {
		if keysOnly {
			byMap[e.m] = append(byMap[e.m], e.String())
		} else {
			byMap[e.m] = append(byMap[e.m], e.String()+" : "+e.verdict)
		}
	}
	for _, m := range baseMaps {
		if list := byMap[m.name]; len(list) > 0 {
			s.line("%s element ip %s %s { %s }", verb, table, m.name, strings.Join(list, ", "))
		}
	}
}

// Render returns the nft script that replaces the proxy's table
// (TableName) with the rules for ports; see RenderTable.
func Render(ports []ServicePort) string { return RenderTable(TableName, ports) }

// RenderTable returns the nft script that replaces the ip table named
// table with the rules for ports, as one transaction: the table is created
// if missing, deleted and written anew. ports may be in any order; the
// output is deterministic. Replacing the table empties the session
// affinity sets, so the proxier only does it when the table cannot be
// synced in place (see Proxier).
func RenderTable(tableName string, ports []ServicePort) string {
	return replaceScript(tableName, rulesetFor(ports))
}

// replaceScript writes the whole table anew.
func replaceScript(table string, rs *ruleset) string {
	var s script
	// "add table" makes "delete table" valid on a first run; the whole file
	// is one transaction.
	s.line("add table ip %s", table)
	s.line("delete table ip %s", table)
	s.line("table ip %s {", table)
	elems := rs.elements()
	for _, m := range baseMaps {
		s.line("\tmap %s {", m.name)
		s.line("\t\ttype %s : verdict", m.keyType)
		if list := sortedElements(elems, m.name); len(list) > 0 {
			var lines []string
			for _, e := range list {
				lines = append(lines, e.String()+" : "+e.verdict)
			}
			s.line("\t\telements = {\n\t\t\t%s\n\t\t}", strings.Join(lines, ",\n\t\t\t"))
		}
		s.line("\t}")
	}
	keys := rs.sortedServices()
	for _, k := range keys {
		svc := rs.services[k]
		for _, name := range svc.affinityName {
			s.affinitySet(name, svc.affinity[name])
		}
	}
	for _, c := range baseChains {
		s.line("\tchain %s {", c.name)
		if d := c.declaration(); d != "" {
			s.line("\t\t%s", d)
		}
		for _, r := range c.rules {
			s.line("\t\t%s", r)
		}
		s.line("\t}")
	}
	for _, k := range keys {
		svc := rs.services[k]
		for _, name := range svc.chainNames {
			s.chain(name, svc.chains[name], true, true)
		}
	}
	s.line("}")
	return s.String()
}

// compatible tells whether a table holding objs can be synced in place to
// the current layout: no base object exists with another kind or hook.
func compatible(objs *TableObjects) bool {
	if objs == nil || !objs.Exists {
		return true
	}
	for _, m := range baseMaps {
		if sig, ok := objs.Sets[m.name]; ok && sig != m.signature() {
			return false
		}
	}
	for _, c := range baseChains {
		if sig, ok := objs.Chains[c.name]; ok && sig != c.signature() {
			return false
		}
	}
	for name, sig := range objs.Sets {
		if strings.HasPrefix(name, prefixAffinity) && sig != "set ipv4_addr" {
			return false
		}
	}
	return true
}

// fullScript rewrites every chain and map of the table in place, without
// deleting it: affinity sets that stay keep their clients. objs is what
// the table holds now; objects not in rs are removed.
func fullScript(table string, rs *ruleset, objs *TableObjects) string {
	var s script
	keys := rs.sortedServices()
	wantChains := map[string]bool{}
	wantSets := map[string]bool{}

	// Declare everything (a no-op for what exists).
	s.line("add table ip %s", table)
	s.line("table ip %s {", table)
	for _, m := range baseMaps {
		wantSets[m.name] = true
		s.line("\tmap %s {", m.name)
		s.line("\t\ttype %s : verdict", m.keyType)
		s.line("\t}")
	}
	for _, k := range keys {
		svc := rs.services[k]
		for _, name := range svc.affinityName {
			wantSets[name] = true
			s.affinitySet(name, svc.affinity[name])
		}
	}
	for _, c := range baseChains {
		wantChains[c.name] = true
		s.line("\tchain %s {", c.name)
		if d := c.declaration(); d != "" {
			s.line("\t\t%s", d)
		}
		s.line("\t}")
	}
	for _, k := range keys {
		svc := rs.services[k]
		for _, name := range svc.chainNames {
			wantChains[name] = true
			s.chain(name, svc.chains[name], true, false)
		}
	}
	s.line("}")

	// Empty it.
	for _, m := range baseMaps {
		s.line("flush map ip %s %s", table, m.name)
	}
	for _, c := range baseChains {
		s.line("flush chain ip %s %s", table, c.name)
	}
	for _, k := range keys {
		for _, name := range rs.services[k].chainNames {
			s.line("flush chain ip %s %s", table, name)
		}
	}
	var staleChains, staleSets []string
	if objs != nil {
		for name := range objs.Chains {
			if !wantChains[name] {
				staleChains = append(staleChains, name)
			}
		}
		for name := range objs.Sets {
			if !wantSets[name] {
				staleSets = append(staleSets, name)
			}
		}
	}
	sort.Strings(staleChains)
	sort.Strings(staleSets)
	for _, name := range staleChains {
		s.line("flush chain ip %s %s", table, name)
	}

	// Fill it.
	s.line("table ip %s {", table)
	for _, c := range baseChains {
		s.line("\tchain %s {", c.name)
		for _, r := range c.rules {
			s.line("\t\t%s", r)
		}
		s.line("\t}")
	}
	for _, k := range keys {
		svc := rs.services[k]
		for _, name := range svc.chainNames {
			s.chain(name, svc.chains[name], false, true)
		}
	}
	s.line("}")
	elems := rs.elements()
	for _, m := range baseMaps {
		s.elements("add", table, sortedElements(elems, m.name), false)
	}

	// Remove what is left over: sets and maps first (their entries may
	// point at stale chains), then the chains, now empty.
	for _, name := range staleSets {
		kind := "set"
		if strings.HasPrefix(objs.Sets[name], "map ") {
			kind = "map"
		}
		s.line("delete %s ip %s %s", kind, table, name)
	}
	for _, name := range staleChains {
		s.line("delete chain ip %s %s", table, name)
	}
	return s.String()
}

// namedChain is a chain with its name.
type namedChain struct {
	name string
	c    chain
}

// affinitySet is an affinity set to create.
type affinitySet struct {
	name    string
	timeout int32
}

// delta is what a partial sync changes, in the order the kernel needs:
// sets and chains exist before rules and map entries point at them;
// entries and rules that point at a chain are gone before it is.
type delta struct {
	addedSets      []affinitySet
	added          []namedChain // created, with their comment, then filled
	rewritten      []namedChain // flushed, then filled
	delElems       []element    // removed, or changed (then in addElems too)
	addElems       []element
	removedChains  []string // flushed, then deleted
	removedSets    []string
	changedService []string
}

// computeDelta returns what takes the table from old to new, looking only
// at the services named in changed (every other service must have the
// same rules in both); nil when nothing differs.
func computeDelta(old, new *ruleset, changed []string) *delta {
	d := &delta{}
	seen := map[string]bool{}
	for _, k := range changed {
		if seen[k] {
			continue
		}
		seen[k] = true
		o, n := old.services[k], new.services[k]
		if o == n {
			continue
		}
		d.changedService = append(d.changedService, k)
		if o == nil {
			o = &serviceRules{}
		}
		if n == nil {
			n = &serviceRules{}
		}
		for _, name := range n.chainNames {
			nc := n.chains[name]
			oc, existed := o.chains[name]
			switch {
			case !existed:
				d.added = append(d.added, namedChain{name, nc})
			case !oc.equal(nc):
				d.rewritten = append(d.rewritten, namedChain{name, nc})
			}
		}
		for _, name := range o.chainNames {
			if _, kept := n.chains[name]; !kept {
				d.removedChains = append(d.removedChains, name)
			}
		}
		for _, name := range n.affinityName {
			if _, existed := o.affinity[name]; !existed {
				d.addedSets = append(d.addedSets, affinitySet{name, n.affinity[name]})
			}
		}
		for _, name := range o.affinityName {
			if _, kept := n.affinity[name]; !kept {
				d.removedSets = append(d.removedSets, name)
			}
		}
	}

	// Map entries: compare the merged maps, but only at the keys the
	// changed services claim(ed): a claim another service still holds
	// stays.
	oldElems, newElems := old.elements(), new.elements()
	keys := map[elemKey]bool{}
	for _, k := range d.changedService {
		for _, rs := range []*ruleset{old, new} {
			if svc := rs.services[k]; svc != nil {
				for _, e := range svc.elements {
					keys[e.elemKey] = true
				}
			}
		}
	}
	for k := range keys {
		ov, inOld := oldElems[k]
		nv, inNew := newElems[k]
		if inOld && (!inNew || ov != nv) {
			d.delElems = append(d.delElems, element{k, ov})
		}
		if inNew && (!inOld || ov != nv) {
			d.addElems = append(d.addElems, element{k, nv})
		}
	}
	if len(d.added)+len(d.rewritten)+len(d.removedChains)+len(d.addedSets)+len(d.removedSets)+len(d.delElems)+len(d.addElems) == 0 {
		return nil
	}
	sortElems := func(list []element) {
		sort.Slice(list, func(i, j int) bool {
			if list[i].m != list[j].m {
				return list[i].m < list[j].m
			}
			return list[i].String() < list[j].String()
		})
	}
	sortElems(d.delElems)
	sortElems(d.addElems)
	return d
}

// script writes the delta as one nft transaction.
func (d *delta) script(table string) string {
	var s script
	for _, c := range d.rewritten {
		s.line("flush chain ip %s %s", table, c.name)
	}
	if len(d.added)+len(d.rewritten)+len(d.addedSets) > 0 {
		s.line("table ip %s {", table)
		for _, a := range d.addedSets {
			s.affinitySet(a.name, a.timeout)
		}
		for _, c := range d.added {
			s.chain(c.name, c.c, true, true)
		}
		for _, c := range d.rewritten {
			s.chain(c.name, c.c, false, true)
		}
		s.line("}")
	}
	s.elements("delete", table, d.delElems, true)
	s.elements("add", table, d.addElems, false)
	for _, name := range d.removedChains {
		s.line("flush chain ip %s %s", table, name)
	}
	for _, name := range d.removedChains {
		s.line("delete chain ip %s %s", table, name)
	}
	for _, name := range d.removedSets {
		s.line("delete set ip %s %s", table, name)
	}
	return s.String()
}

// deltaScript returns the nft script of computeDelta; "" when nothing
// differs.
func deltaScript(table string, old, new *ruleset, changed []string) string {
	d := computeDelta(old, new, changed)
	if d == nil {
		return ""
	}
	return d.script(table)
}
