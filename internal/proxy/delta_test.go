package proxy

import (
	"context"
	"fmt"
	"math/rand"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/navarch/navarch/test/hostlock"
)

// port builds a TCP service port "default/<name>" with a cluster IP in
// 10.43.0.0/24 and endpoints 10.42.0.<e>:8080.
func port(name, portName string, vip int, eps ...int) ServicePort {
	sp := ServicePort{Namespace: "default", Name: name, PortName: portName, Protocol: corev1.ProtocolTCP, Port: 80,
		ClusterIPs: []netip.Addr{addr(fmt.Sprintf("10.43.0.%d", vip))}}
	for _, e := range eps {
		sp.Endpoints = append(sp.Endpoints, Endpoint{IP: addr(fmt.Sprintf("10.42.0.%d", e)), Port: 8080})
	}
	return sp
}

func with(sp ServicePort, f func(*ServicePort)) ServicePort {
	sp.ClusterIPs = append([]netip.Addr(nil), sp.ClusterIPs...)
	sp.Endpoints = append([]Endpoint(nil), sp.Endpoints...)
	f(&sp)
	return sp
}

type deltaCase struct {
	name          string
	before, after []ServicePort
}

// deltaCases are the changes a partial sync must handle, each with the
// state before and after.
func deltaCases() []deltaCase {
	hello := port("hello", "http", 10, 5)
	web := port("web", "", 11, 6, 7)
	sticky := with(port("sticky", "", 12, 8, 9), func(sp *ServicePort) { sp.AffinitySeconds = 600 })
	nodePort := with(web, func(sp *ServicePort) {
		sp.NodePort = 31080
		sp.ExternalIPs = []netip.Addr{addr("192.0.2.11")}
	})
	first := with(port("a-first", "", 20, 20), func(sp *ServicePort) { sp.ExternalIPs = []netip.Addr{addr("192.0.2.99")} })
	second := with(port("b-second", "", 21, 21), func(sp *ServicePort) { sp.ExternalIPs = []netip.Addr{addr("192.0.2.99")} })
	return []deltaCase{
		{"add-service", []ServicePort{hello}, []ServicePort{hello, web}},
		{"remove-service", []ServicePort{hello, web}, []ServicePort{hello}},
		{"endpoint-flip", []ServicePort{hello, web}, []ServicePort{hello, port("web", "", 11, 6, 17)}},
		{"endpoints-gone", []ServicePort{hello, web}, []ServicePort{hello, port("web", "", 11)}},
		{"endpoints-back", []ServicePort{hello, port("web", "", 11)}, []ServicePort{hello, web}},
		{"port-rename", []ServicePort{hello, web}, []ServicePort{hello, port("web", "www", 11, 6, 7)}},
		{"affinity-timeout", []ServicePort{sticky}, []ServicePort{with(sticky, func(sp *ServicePort) { sp.AffinitySeconds = 60 })}},
		{"affinity-off", []ServicePort{sticky}, []ServicePort{with(sticky, func(sp *ServicePort) { sp.AffinitySeconds = 0 })}},
		{"nodeport-added", []ServicePort{web}, []ServicePort{nodePort}},
		{"external-policy-local", []ServicePort{nodePort}, []ServicePort{with(nodePort, func(sp *ServicePort) {
			sp.ExternalLocal = true
			sp.Endpoints[1].Local = true
		})}},
		{"local-endpoint-gone", []ServicePort{with(nodePort, func(sp *ServicePort) {
			sp.ExternalLocal = true
			sp.Endpoints[1].Local = true
		})}, []ServicePort{with(nodePort, func(sp *ServicePort) { sp.ExternalLocal = true })}},
		{"multi-port", []ServicePort{web}, []ServicePort{with(web, func(sp *ServicePort) { sp.PortName = "http" }), with(web, func(sp *ServicePort) {
			sp.PortName, sp.Port, sp.Protocol = "dns", 53, corev1.ProtocolUDP
		})}},
		// Two services claim one external IP and port: the first by name
		// holds it; when it goes, the entry passes to the other.
		{"claim-handover", []ServicePort{first, second}, []ServicePort{second}},
		{"no-change", []ServicePort{hello, web}, []ServicePort{web, hello}},
	}
}

func changedServices(before, after []ServicePort) []string {
	seen := map[string]bool{}
	for _, sp := range append(append([]ServicePort(nil), before...), after...) {
		seen[sp.serviceKey()] = true
	}
	var keys []string
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestDeltaGolden pins the partial-sync script of each kind of change.
func TestDeltaGolden(t *testing.T) {
	for _, tc := range deltaCases() {
		t.Run(tc.name, func(t *testing.T) {
			got := deltaScript(TableName, rulesetFor(tc.before), rulesetFor(tc.after), changedServices(tc.before, tc.after))
			if tc.name == "no-change" {
				if got != "" {
					t.Fatalf("delta of an unchanged table = %q, want empty", got)
				}
				return
			}
			if got == "" {
				t.Fatal("empty delta for a change")
			}
			golden := filepath.Join("testdata", "delta", tc.name+".nft")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Fatalf("delta differs from %s (run go test -update to accept):\n%s", golden, got)
			}
		})
	}
}

// TestDeltaOnlyTouchesChangedServices checks a partial sync leaves other
// services alone: the delta names no chain of an unchanged service.
func TestDeltaOnlyTouchesChangedServices(t *testing.T) {
	var before []ServicePort
	for i := 0; i < 50; i++ {
		before = append(before, port(fmt.Sprintf("s%02d", i), "", i+1, i+100, i+150))
	}
	after := append([]ServicePort(nil), before...)
	after[7] = port("s07", "", 8, 107, 201)
	got := deltaScript(TableName, rulesetFor(before), rulesetFor(after), []string{"default/s07"})
	for _, line := range strings.Split(got, "\n") {
		if strings.Contains(line, "default-s") && !strings.Contains(line, "default-s07") {
			t.Errorf("delta touches another service: %s", line)
		}
	}
	if !strings.Contains(got, "10.42.0.201") || !strings.Contains(got, "delete chain") {
		t.Errorf("delta misses the change:\n%s", got)
	}
}

// needNft skips unless the test may program the kernel's nftables.
func needNft(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("programs the kernel's nftables")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := (NftCommand{}).Objects(context.Background(), "x"); err != nil {
		t.Skipf("needs nft (hack/install-deps.sh installs nftables): %v", err)
	}
	// Big tables slow every nft transaction in the family, and the
	// benchmark measures them: no other real-runtime test meanwhile.
	hostlock.Lock(t)
}

// scratchTable returns a table name of the test's own, removed at the
// end. Tables a killed test run left behind (their process is gone) are
// removed first: their rules would still catch the test's traffic.
func scratchTable(t testing.TB, name string) string {
	t.Helper()
	removeOrphanTables()
	table := fmt.Sprintf("nvtest-%s-%d", name, os.Getpid())
	_ = CleanupTable(context.Background(), NftCommand{}, table)
	t.Cleanup(func() { _ = CleanupTable(context.Background(), NftCommand{}, table) })
	return table
}

func removeOrphanTables() {
	out, err := exec.Command("nft", "list", "tables", "ip").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name := strings.TrimPrefix(strings.TrimSpace(line), "table ip ")
		i := strings.LastIndex(name, "-")
		if !strings.HasPrefix(name, "nvtest-") || i < 0 {
			continue
		}
		if _, err := os.Stat("/proc/" + name[i+1:]); os.IsNotExist(err) {
			_ = CleanupTable(context.Background(), NftCommand{}, name)
		}
	}
}

// applyDelta applies d through nft or netlink (no fallback to nft).
func applyDelta(t testing.TB, path, table string, d *delta) {
	t.Helper()
	if path == "nft" {
		apply(t, d.script(table))
		return
	}
	b, err := d.netlinkBatch(table)
	if err == nil {
		err = b.send()
	}
	if err != nil {
		t.Fatalf("netlink: %v\nthe same delta as a script:\n%s", err, d.script(table))
	}
}

func apply(t testing.TB, s string) {
	t.Helper()
	if err := (NftCommand{}).Apply(context.Background(), s); err != nil {
		t.Fatalf("%v\nscript:\n%s", err, s)
	}
}

// TestDeltaConverges applies each kind of change as a partial sync on a
// real table and compares what the kernel then holds with a table
// rendered whole from the final state, and with an in-place full sync.
func TestDeltaConverges(t *testing.T) {
	needNft(t)
	ctx := context.Background()
	inc, whole, inPlace := scratchTable(t, "inc"), scratchTable(t, "whole"), scratchTable(t, "inplace")
	for _, tc := range deltaCases() {
		t.Run(tc.name, func(t *testing.T) {
			before, after := rulesetFor(tc.before), rulesetFor(tc.after)
			apply(t, replaceScript(whole, after))
			want := listTable(t, whole)
			for _, path := range []string{"nft", "netlink"} {
				apply(t, replaceScript(inc, before))
				if d := computeDelta(before, after, changedServices(tc.before, tc.after)); d != nil {
					applyDelta(t, path, inc, d)
				}
				if d := diffTables(want, listTable(t, inc)); d != "" {
					t.Errorf("after the delta through %s (-full render +incremental):\n%s", path, d)
				}
			}

			apply(t, replaceScript(inPlace, before))
			objs, err := (NftCommand{}).Objects(ctx, inPlace)
			if err != nil {
				t.Fatal(err)
			}
			if !compatible(objs) {
				t.Fatalf("our own table is not compatible: %+v", objs)
			}
			apply(t, fullScript(inPlace, after, objs))
			if d := diffTables(want, listTable(t, inPlace)); d != "" {
				t.Errorf("after an in-place full sync (-full render +in place):\n%s", d)
			}
		})
	}
}

// TestSequenceConverges runs 150 random changes over 30 services as
// partial syncs (through netlink and nft in turn) on a real table and checks the end state is exactly the
// full render of the final state.
func TestSequenceConverges(t *testing.T) {
	needNft(t)
	rng := rand.New(rand.NewSource(7))
	inc, whole := scratchTable(t, "seq"), scratchTable(t, "seqwhole")
	ports := map[string][]ServicePort{}
	flat := func() []ServicePort {
		var out []ServicePort
		for _, ps := range ports {
			out = append(out, ps...)
		}
		return out
	}
	randomService := func(name string, vip int) []ServicePort {
		var eps []int
		for i, n := 0, rng.Intn(4); i < n; i++ {
			eps = append(eps, rng.Intn(200)+1)
		}
		sort.Ints(eps)
		sp := port(name, "", vip, eps...)
		sp.Endpoints = dedupEndpoints(sp.Endpoints)
		for i := range sp.Endpoints {
			sp.Endpoints[i].Local = rng.Intn(2) == 0
		}
		if rng.Intn(3) == 0 {
			sp.NodePort = int32(30000 + vip)
			sp.ExternalLocal = rng.Intn(2) == 0
		}
		if rng.Intn(4) == 0 {
			sp.AffinitySeconds = int32(60 * (1 + rng.Intn(2)))
		}
		if rng.Intn(5) == 0 {
			sp.InternalLocal = true
		}
		if rng.Intn(6) == 0 {
			sp.ExternalIPs = []netip.Addr{addr(fmt.Sprintf("192.0.2.%d", rng.Intn(4)))} // shared: claims collide
		}
		out := []ServicePort{sp}
		if rng.Intn(4) == 0 {
			second := with(sp, func(p *ServicePort) { p.Port, p.PortName = 443, "https" })
			out[0].PortName = "http"
			out = append(out, second)
		}
		return out
	}
	applied := rulesetFor(nil)
	apply(t, replaceScript(inc, applied))
	for step := 0; step < 150; step++ {
		// One to three services change per sync, as when changes coalesce.
		var changed []string
		for i, n := 0, 1+rng.Intn(3); i < n; i++ {
			idx := rng.Intn(30)
			name := fmt.Sprintf("svc%02d", idx)
			if rng.Intn(5) == 0 {
				delete(ports, "default/"+name)
			} else {
				ports["default/"+name] = randomService(name, idx+1)
			}
			changed = append(changed, "default/"+name)
		}
		next := rulesetFor(flat())
		if d := computeDelta(applied, next, changed); d != nil {
			path := "netlink"
			if step%2 == 1 {
				path = "nft"
			}
			applyDelta(t, path, inc, d)
		}
		applied = next
	}
	apply(t, replaceScript(whole, rulesetFor(flat())))
	if d := diffTables(listTable(t, whole), listTable(t, inc)); d != "" {
		t.Errorf("after 150 partial syncs (-full render +incremental):\n%s", d)
	}
}

func dedupEndpoints(eps []Endpoint) []Endpoint {
	var out []Endpoint
	for _, e := range eps {
		if len(out) > 0 && out[len(out)-1].IP == e.IP {
			continue
		}
		out = append(out, e)
	}
	return out
}

// TestFullSyncKeepsAffinity checks an in-place full sync (the start-up
// reconcile and the periodic one) keeps the clients pinned in affinity
// sets that stay, and that the old layout is recognised as foreign.
func TestFullSyncKeepsAffinity(t *testing.T) {
	needNft(t)
	ctx := context.Background()
	table := scratchTable(t, "aff")
	sticky := with(port("sticky", "", 12, 8, 9), func(sp *ServicePort) { sp.AffinitySeconds = 600 })
	rs := rulesetFor([]ServicePort{sticky, port("other", "", 13, 10)})
	apply(t, replaceScript(table, rs))
	set := rs.services["default/sticky"].affinityName[0]
	apply(t, fmt.Sprintf("add element ip %s %s { 192.0.2.77 }\n", table, set))

	// "other" is gone meanwhile (a restart that missed the deletion).
	next := rulesetFor([]ServicePort{sticky})
	objs, err := (NftCommand{}).Objects(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	if !compatible(objs) {
		t.Fatalf("own table seen as foreign: %+v", objs)
	}
	apply(t, fullScript(table, next, objs))
	out, err := exec.Command("nft", "list", "set", "ip", table, set).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "192.0.2.77") {
		t.Errorf("the pinned client is gone after a full sync (%v):\n%s", err, out)
	}
	objs, err = (NftCommand{}).Objects(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	for name := range objs.Chains {
		if strings.Contains(name, "default-other") {
			t.Errorf("a removed service's chain survived the full sync: %s", name)
		}
	}

	// The layout before incremental syncs had sets where maps now are.
	old := scratchTable(t, "oldlayout")
	apply(t, fmt.Sprintf("table ip %s {\n\tset no-endpoint-nodeports {\n\t\ttype inet_proto . inet_service\n\t}\n\tchain services {\n\t}\n}\n", old))
	if objs, err := (NftCommand{}).Objects(ctx, old); err != nil || compatible(objs) {
		t.Errorf("old layout seen as compatible (%v): %+v", err, objs)
	}
}
