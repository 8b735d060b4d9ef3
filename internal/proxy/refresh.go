package proxy

import (
	"context"
	"sort"
	"strings"
	"time"
)

// DefaultRefreshChunk is how many chains one transaction of a periodic
// full sync rewrites (about 20 services of 10 endpoints): small enough
// that a partial sync waiting behind it waits tens of milliseconds (with
// 11,000 chains in the table, 1,000 chains took 110-150 ms over netlink,
// of which 20-25 ms is the kernel validating the whole table, paid by
// every transaction).
const DefaultRefreshChunk = 250

// refresh is a periodic full sync in progress. Instead of one
// transaction rewriting the whole table (seconds with 10,000 endpoints,
// during which no change would reach the kernel), it rewrites the
// services' chains in place a chunk per transaction, from the rules last
// applied, and the loop goes on with partial syncs between chunks. A
// last transaction rewrites the base chains and the verdict maps whole
// and removes the chains and sets nobody wants. The result is what an
// in-place full sync (fullScript) leaves: every chain and map rewritten,
// missing objects created, stale ones removed, affinity sets kept.
//
// Listing the table's objects (nft reads every chain of the family:
// 0.3-0.6 s with 11,000 chains) runs beside the loop, which goes on with
// partial syncs meanwhile and notes what they create and remove.
type refresh struct {
	// listed delivers the listing; objs is what the table held then (nil
	// until it arrives).
	listed chan listing
	objs   *TableObjects
	// todo are the services still to rewrite, in order.
	todo []string
	// created and removed are the chains and sets partial syncs created
	// or removed since objs was listed.
	created, removed map[string]bool
	start            time.Time
	// longest is the longest transaction so far; transactions counts them.
	longest      time.Duration
	transactions int
}

// listing is the result of listing the table.
type listing struct {
	objs *TableObjects
	err  error
}

func newRefresh() *refresh {
	return &refresh{listed: make(chan listing, 1), created: map[string]bool{}, removed: map[string]bool{}, start: time.Now()}
}

// noteDelta records what a partial sync applied while r runs.
func (r *refresh) noteDelta(d *delta) {
	for _, c := range d.added {
		r.created[c.name], r.removed[c.name] = true, false
	}
	for _, s := range d.addedSets {
		r.created[s.name], r.removed[s.name] = true, false
	}
	for _, name := range d.removedChains {
		r.created[name], r.removed[name] = false, true
	}
	for _, name := range d.removedSets {
		r.created[name], r.removed[name] = false, true
	}
}

// exists tells whether the kernel holds the chain (or set) now, as far
// as the listing and the partial syncs since tell.
func (r *refresh) exists(name string, set bool) bool {
	if r.created[name] {
		return true
	}
	if r.removed[name] {
		return false
	}
	if set {
		_, ok := r.objs.Sets[name]
		return ok
	}
	_, ok := r.objs.Chains[name]
	return ok
}

// nextChunk takes the next services off todo, up to about max chains,
// and returns the transaction rewriting them as rs has them: missing
// sets and chains created, existing chains flushed and filled. nil when
// todo holds nothing rs still has.
func (r *refresh) nextChunk(rs *ruleset, max int) *delta {
	d := &delta{}
	chains := 0
	for len(r.todo) > 0 && chains < max {
		k := r.todo[0]
		r.todo = r.todo[1:]
		svc := rs.services[k]
		if svc == nil {
			continue // removed by a partial sync meanwhile
		}
		d.changedService = append(d.changedService, k)
		for _, name := range svc.affinityName {
			if !r.exists(name, true) {
				d.addedSets = append(d.addedSets, affinitySet{name, svc.affinity[name]})
			}
		}
		for _, name := range svc.chainNames {
			c := namedChain{name, svc.chains[name]}
			if r.exists(name, false) {
				d.rewritten = append(d.rewritten, c)
			} else {
				d.added = append(d.added, c)
			}
			chains++
		}
	}
	if len(d.changedService) == 0 {
		return nil
	}
	return d
}

// finishScript is the refresh's last transaction: the base maps and
// chains declared, emptied and filled, every map entry of rs added, and
// the chains and sets that the listing showed, rs does not want and no
// partial sync removed since, emptied and deleted.
func (r *refresh) finishScript(table string, rs *ruleset) string {
	var s script
	wantChains, wantSets := map[string]bool{}, map[string]bool{}
	for _, k := range rs.sortedServices() {
		svc := rs.services[k]
		for _, name := range svc.chainNames {
			wantChains[name] = true
		}
		for _, name := range svc.affinityName {
			wantSets[name] = true
		}
	}
	s.line("add table ip %s", table)
	s.line("table ip %s {", table)
	for _, m := range baseMaps {
		wantSets[m.name] = true
		s.line("\tmap %s {", m.name)
		s.line("\t\ttype %s : verdict", m.keyType)
		s.line("\t}")
	}
	for _, c := range baseChains {
		wantChains[c.name] = true
		s.line("\tchain %s {", c.name)
		if d := c.declaration(); d != "" {
			s.line("\t\t%s", d)
		}
		s.line("\t}")
	}
	s.line("}")
	var staleChains, staleSets []string
	for name := range r.objs.Chains {
		if !wantChains[name] && r.exists(name, false) {
			staleChains = append(staleChains, name)
		}
	}
	for name := range r.objs.Sets {
		if !wantSets[name] && r.exists(name, true) {
			staleSets = append(staleSets, name)
		}
	}
	sort.Strings(staleChains)
	sort.Strings(staleSets)
	for _, m := range baseMaps {
		s.line("flush map ip %s %s", table, m.name)
	}
	for _, c := range baseChains {
		s.line("flush chain ip %s %s", table, c.name)
	}
	for _, name := range staleChains {
		s.line("flush chain ip %s %s", table, name)
	}
	s.line("table ip %s {", table)
	for _, c := range baseChains {
		s.line("\tchain %s {", c.name)
		for _, rule := range c.rules {
			s.line("\t\t%s", rule)
		}
		s.line("\t}")
	}
	s.line("}")
	elems := rs.elements()
	for _, m := range baseMaps {
		s.elements("add", table, sortedElements(elems, m.name), false)
	}
	for _, name := range staleSets {
		kind := "set"
		if strings.HasPrefix(r.objs.Sets[name], "map ") {
			kind = "map"
		}
		s.line("delete %s ip %s %s", kind, table, name)
	}
	for _, name := range staleChains {
		s.line("delete chain ip %s %s", table, name)
	}
	return s.String()
}

// startRefresh begins a periodic full sync: it sets p.refresh and lists
// the table in the background; the loop then calls refreshStep until
// p.refresh is nil again.
func (p *Proxier) startRefresh(ctx context.Context) {
	r := newRefresh()
	p.refresh = r
	go func() {
		objs, err := p.nft.Objects(ctx, p.cfg.Table)
		r.listed <- listing{objs, err}
	}()
}

// refreshStep runs the next transaction of p.refresh, from the rules last
// applied (p.applied; the loop runs a partial sync first, so they are the
// latest). Until the listing has arrived it does nothing; a missing or
// foreign table then gets a whole full sync at once.
func (p *Proxier) refreshStep(ctx context.Context) error {
	r := p.refresh
	if r.objs == nil {
		select {
		case l := <-r.listed:
			if l.err != nil {
				p.refresh = nil
				return l.err
			}
			if !l.objs.Exists || !compatible(l.objs) {
				p.refresh = nil
				return p.syncFull(ctx)
			}
			r.objs, r.todo = l.objs, p.applied.sortedServices()
		default:
			return nil
		}
	}
	start := time.Now()
	if d := r.nextChunk(p.applied, p.cfg.RefreshChunk); d != nil {
		var err error
		if fast, ok := p.nft.(deltaApplier); ok {
			err = fast.applyDelta(ctx, p.cfg.Table, d)
		} else {
			err = p.nft.Apply(ctx, d.script(p.cfg.Table))
		}
		if err != nil {
			p.refresh = nil
			return err
		}
		r.took(time.Since(start))
		return nil
	}
	if err := p.nft.Apply(ctx, r.finishScript(p.cfg.Table, p.applied)); err != nil {
		p.refresh = nil
		return err
	}
	finish := time.Since(start)
	r.took(finish)
	p.refresh = nil
	if p.afterSync != nil {
		p.afterSync(syncReport{full: true, chunked: true, start: r.start, duration: time.Since(r.start),
			longest: r.longest, transactions: r.transactions, finish: finish})
	}
	return nil
}

func (r *refresh) took(d time.Duration) {
	r.transactions++
	if d > r.longest {
		r.longest = d
	}
}
