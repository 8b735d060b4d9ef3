package proxy

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

// TestRefreshHeals runs a periodic full sync in chunks on a real table
// that drifted (service chains emptied, a map entry and an endpoint
// chain deleted, a stale chain and set added by someone else), with partial
// syncs between its chunks (a service removed that the listing had, a
// service added, one changed), through netlink and through nft; the
// kernel must then hold exactly the full render of the final state, and
// a client pinned in an affinity set must stay pinned.
func TestRefreshHeals(t *testing.T) {
	needNft(t)
	ctx := context.Background()
	for _, path := range []string{"netlink", "nft"} {
		t.Run(path, func(t *testing.T) {
			table, whole := scratchTable(t, "refresh"), scratchTable(t, "refreshwhole")
			var ports []ServicePort
			for i := 1; i <= 12; i++ {
				ports = append(ports, port(fmt.Sprintf("svc%02d", i), "", i, i, i+20))
			}
			sticky := with(port("sticky", "", 40, 41, 42), func(sp *ServicePort) { sp.AffinitySeconds = 600 })
			ports = append(ports, sticky)
			rs := rulesetFor(ports)
			apply(t, replaceScript(table, rs))
			set := rs.services["default/sticky"].affinityName[0]
			svc3 := rs.services["default/svc03"]
			svc5 := rs.services["default/svc05"]
			var flush5 strings.Builder
			for _, name := range svc5.chainNames {
				fmt.Fprintf(&flush5, "flush chain ip %s %s\n", table, name)
			}
			apply(t, flush5.String()+fmt.Sprintf("add element ip %[1]s %[2]s { 192.0.2.77 }\n"+
				"flush chain ip %[1]s %[3]s\n"+
				"delete chain ip %[1]s %[4]s\n"+
				"delete element ip %[1]s %[5]s { %[6]s }\n"+
				"add chain ip %[1]s stale-chain\nadd set ip %[1]s stale-set { type ipv4_addr; }\n",
				table, set, svc3.chainNames[len(svc3.chainNames)-1], svc5.chainNames[len(svc5.chainNames)-1],
				svc3.elements[0].m, svc3.elements[0].String()))

			nft := NftCommand{NoNetlink: path == "nft"}
			p := &Proxier{cfg: Config{Table: table, RefreshChunk: 5}, nft: nft, applied: rs, desired: rs, pending: map[string]bool{}}
			var report syncReport
			p.afterSync = func(r syncReport) { report = r }
			p.startRefresh(ctx)
			// Between chunks: svc11 (listed, not yet rewritten) goes, svc20
			// comes, svc01 (already rewritten) changes.
			next := rulesetFor(append(append(removePort(ports, "svc11"), port("svc20", "", 20, 60)),
				with(ports[0], func(sp *ServicePort) { sp.Endpoints = sp.Endpoints[:1] })))
			changed := []string{"default/svc11", "default/svc20", "default/svc01"}
			steps := 0
			for p.refresh != nil {
				if steps == 1 {
					d := computeDelta(p.applied, next, changed)
					applyDelta(t, path, table, d)
					p.refresh.noteDelta(d)
					p.applied, p.desired = next, next
				}
				listed := p.refresh.objs != nil
				if !listed {
					time.Sleep(time.Millisecond)
				}
				if err := p.refreshStep(ctx); err != nil {
					t.Fatalf("step %d: %v", steps, err)
				}
				if listed || p.refresh == nil || p.refresh.objs != nil {
					steps++
				}
			}
			if !report.full || !report.chunked || report.transactions < 3 {
				t.Errorf("report %+v, want a chunked full sync of several transactions", report)
			}
			out, err := exec.Command("nft", "list", "set", "ip", table, set).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "192.0.2.77") {
				t.Errorf("the pinned client is gone after the refresh (%v):\n%s", err, out)
			}
			// Without the pinned client, the table is the full render.
			apply(t, fmt.Sprintf("delete element ip %s %s { 192.0.2.77 }\n", table, set))
			apply(t, replaceScript(whole, next))
			if d := diffTables(listTable(t, whole), listTable(t, table)); d != "" {
				t.Errorf("after the refresh (-full render +refreshed):\n%s", d)
			}
		})
	}
}

// removePort drops the ports of service name.
func removePort(ports []ServicePort, name string) []ServicePort {
	var out []ServicePort
	for _, sp := range ports {
		if sp.Name != name {
			out = append(out, sp)
		}
	}
	return out
}

// TestProxierPeriodicFullSyncInChunks: every FullSyncInterval the loop
// rewrites the table a chunk of services per transaction and reports a
// full, chunked sync; every service's chains are rewritten in one of
// the chunks, and the last transaction refills the maps.
func TestProxierPeriodicFullSyncInChunks(t *testing.T) {
	var objs []runtime.Object
	for i := 0; i < 10; i++ {
		name := fmt.Sprintf("s%d", i)
		objs = append(objs, webService(name, fmt.Sprintf("10.43.0.%d", i+1)), slice(name+"-1", name, endpoint(fmt.Sprintf("10.42.0.%d", i+1), testNode)))
	}
	client := fake.NewSimpleClientset(objs...)
	nft := &recordingNFT{objs: &TableObjects{Exists: true, Chains: map[string]string{}, Sets: map[string]string{}}}
	_, reports := runProxier(t, client, nft, Config{NodeName: testNode, Table: "t", FullSyncInterval: 100 * time.Millisecond, RefreshChunk: 4})
	first := nextReport(t, reports, "the first sync", func(r syncReport) bool { return r.full })
	if first.chunked {
		t.Fatalf("the first sync was chunked: %+v", first)
	}
	nft.mu.Lock()
	before := len(nft.scripts)
	nft.mu.Unlock()
	r := nextReport(t, reports, "a periodic full sync", func(r syncReport) bool { return r.full })
	if !r.chunked || r.transactions < 4 {
		t.Fatalf("periodic full sync %+v, want it in chunks (10 services of 3 chains, 4 chains a chunk)", r)
	}
	nft.mu.Lock()
	scripts := nft.scripts[before : before+r.transactions]
	nft.mu.Unlock()
	all := strings.Join(scripts, "\n")
	for i := 0; i < 10; i++ {
		if !strings.Contains(all, fmt.Sprintf("default-s%d-", i)) {
			t.Errorf("service s%d was not rewritten by the chunks:\n%s", i, all)
		}
	}
	last := scripts[len(scripts)-1]
	if !strings.Contains(last, "flush map ip t "+mapServiceIPs) || !strings.Contains(last, "add element ip t "+mapServiceIPs) {
		t.Errorf("the last transaction does not refill the maps:\n%s", last)
	}
	for _, s := range scripts[:len(scripts)-1] {
		if strings.Contains(s, "flush map") {
			t.Errorf("a chunk flushes a map:\n%s", s)
		}
	}
}
