package proxy

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2"
)

// BenchmarkProgrammingLatency measures network programming latency on
// the real nft: with 1,000 Services x 10 endpoints programmed, each
// iteration replaces one endpoint of one Service (an EndpointSlice update
// through a fake clientset, seen by the proxier's informers) and times
// until the nft transaction holding it has been applied. Changes go one
// at a time, MinSyncInterval apart, so the rate limit adds no wait.
// Every tenth change is verified in the kernel (`nft list chain`,
// untimed). It reports p50/p99 of that latency, p50 of the nft apply
// alone, and for comparison the time of a full in-place sync in one
// transaction (start-up), of the periodic full sync in chunks (its
// longest transaction is the longest a change waits behind it) and of
// replacing the whole table. Partial syncs go over netlink (what the
// proxier does) or, for comparison, through nft. Needs root and nft; run
// with
//
//	go test ./internal/proxy -run '^$' -bench ProgrammingLatency -benchtime 200x
func BenchmarkProgrammingLatency(b *testing.B) {
	needNft(b)
	b.Run("netlink", func(b *testing.B) { benchmarkProgrammingLatency(b, NftCommand{}) })
	b.Run("nft", func(b *testing.B) { benchmarkProgrammingLatency(b, NftCommand{NoNetlink: true}) })
}

func benchmarkProgrammingLatency(b *testing.B, nft NftCommand) {
	const services, endpoints = 1000, 10
	epIP := func(svc, ep, gen int) string {
		// 10.(64+gen).<svc/4>.<(svc%4)*60+ep+1>: distinct per service,
		// endpoint and generation of that endpoint.
		return fmt.Sprintf("10.%d.%d.%d", 64+gen%64, svc/4, (svc%4)*60+ep+1)
	}
	var objs []runtime.Object
	sliceOf := func(svc int, ips []string) *discoveryv1.EndpointSlice {
		var eps []discoveryv1.Endpoint
		for _, ip := range ips {
			eps = append(eps, endpoint(ip, "node-b"))
		}
		return slice(fmt.Sprintf("s%04d-1", svc), fmt.Sprintf("s%04d", svc), eps...)
	}
	current := make([][]string, services)
	for i := 0; i < services; i++ {
		for e := 0; e < endpoints; e++ {
			current[i] = append(current[i], epIP(i, e, 0))
		}
		objs = append(objs, webService(fmt.Sprintf("s%04d", i), fmt.Sprintf("10.43.%d.%d", i/250, i%250+1)), sliceOf(i, current[i]))
	}
	client := fake.NewSimpleClientset(objs...)
	table := scratchTable(b, "bench")
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), klog.Background().V(1)))
	factory := informers.NewSharedInformerFactory(client, 0)
	p := New(Config{NodeName: "node-a", Table: table}, factory, nft)
	reports := make(chan syncReport, 1000)
	p.afterSync = func(r syncReport) { reports <- r }
	p.refreshNow = make(chan struct{}, 1)
	factory.Start(ctx.Done())
	done := make(chan error, 1)
	go func() { done <- p.Start(ctx) }()
	stop := func() {
		cancel()
		<-done
		factory.Shutdown()
	}
	first := waitReport(b, reports, func(r syncReport) bool { return r.full })

	var latencies, applies []time.Duration
	var periodic syncReport // the last periodic full sync seen
	change := func(n int) syncReport {
		svc := (n * 7) % services
		key := fmt.Sprintf("default/s%04d", svc)
		ep := n % endpoints
		current[svc][ep] = epIP(svc, ep, n/services+1)
		start := time.Now()
		if _, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx, sliceOf(svc, current[svc]), metav1.UpdateOptions{}); err != nil {
			b.Fatal(err)
		}
		r := waitReport(b, reports, func(r syncReport) bool {
			if r.chunked {
				periodic = r
			}
			return !r.full && contains(r.services, key)
		})
		latencies = append(latencies, r.start.Add(r.duration).Sub(start))
		applies = append(applies, r.duration)
		if n%10 == 0 {
			b.StopTimer()
			verifyEndpoint(b, table, svc, current[svc][ep])
			b.StartTimer()
		}
		return r
	}
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		change(n)
		time.Sleep(p.cfg.MinSyncInterval) // let the rate limit pass
	}
	b.StopTimer()

	measured, measuredApplies := append([]time.Duration(nil), latencies...), append([]time.Duration(nil), applies...)
	// Changes while the loop runs a periodic full sync: each waits for
	// at most one of its transactions.
	var during []time.Duration
	p.refreshNow <- struct{}{}
	for n := b.N; periodic.transactions == 0; n++ {
		latencies = latencies[:0]
		change(n)
		during = append(during, latencies[0])
		for len(reports) > 0 {
			if r := <-reports; r.chunked {
				periodic = r
			}
		}
		if n > b.N+2000 {
			b.Fatal("the periodic full sync did not end")
		}
	}
	latencies, applies = measured, measuredApplies
	b.StopTimer()
	stop()

	// Full syncs, for comparison: in place (start-up and periodic) and a
	// whole replacement.
	fullStart := time.Now()
	if err := p.syncFull(context.Background()); err != nil {
		b.Fatal(err)
	}
	fullInPlace := time.Since(fullStart)
	// The periodic full sync, in chunks: the loop runs partial syncs
	// between its transactions, so a change waits at most for one of
	// them (or for the listing of the table that starts it).
	listStart := time.Now()
	if _, err := p.nft.Objects(context.Background(), table); err != nil {
		b.Fatal(err)
	}
	listing := time.Since(listStart)
	var chunked syncReport
	p.afterSync = func(r syncReport) { chunked = r }
	refreshStart := time.Now()
	p.startRefresh(context.Background())
	for p.refresh != nil {
		if p.refresh.objs == nil {
			time.Sleep(time.Millisecond) // still listing
		}
		if err := p.refreshStep(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	refreshTotal := time.Since(refreshStart)
	replaceStart := time.Now()
	if err := (NftCommand{}).Apply(context.Background(), replaceScript(table, p.desired)); err != nil {
		b.Fatal(err)
	}
	replace := time.Since(replaceStart)

	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(percentile(latencies, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(latencies, 99)), "p99-ms")
	b.ReportMetric(ms(percentile(applies, 50)), "apply-p50-ms")
	b.ReportMetric(ms(fullInPlace), "full-sync-ms")
	b.ReportMetric(ms(replace), "replace-ms")
	b.ReportMetric(ms(chunked.longest), "periodic-longest-txn-ms")
	b.ReportMetric(ms(percentile(during, 100)), "during-periodic-max-ms")
	b.ReportMetric(ms(listing), "list-objects-ms")
	b.Logf("%d changes, %d services x %d endpoints: change->applied p50 %v p99 %v max %v (nft apply p50 %v, p99 %v); "+
		"first sync (empty table) %v; full sync in place %v; replace whole table %v (%d bytes); "+
		"periodic full sync in chunks: %v in %d transactions (after listing the table, %v, beside the loop), the longest %v, the last (maps and base chains) %v",
		len(latencies), services, endpoints, percentile(latencies, 50), percentile(latencies, 99), percentile(latencies, 100),
		percentile(applies, 50), percentile(applies, 99), first.duration, fullInPlace, replace, len(replaceScript(table, p.desired)),
		refreshTotal, chunked.transactions, listing, chunked.longest, chunked.finish)
	b.Logf("in the loop, a periodic full sync took %v in %d transactions, the longest %v, the last %v; %d changes meanwhile: change->applied p50 %v p99 %v max %v",
		periodic.duration, periodic.transactions, periodic.longest, periodic.finish, len(during), percentile(during, 50), percentile(during, 99), percentile(during, 100))
}

func waitReport(b *testing.B, reports <-chan syncReport, ok func(syncReport) bool) syncReport {
	b.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case r := <-reports:
			if ok(r) {
				return r
			}
		case <-deadline:
			b.Fatal("timed out waiting for a sync")
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// verifyEndpoint checks the kernel holds the endpoint chain of ip.
func verifyEndpoint(b *testing.B, table string, svc int, ip string) {
	b.Helper()
	sp := ServicePort{Namespace: "default", Name: fmt.Sprintf("s%04d", svc), PortName: "http", Protocol: corev1.ProtocolTCP}
	name, _ := endpointNames(sp, "tcp", Endpoint{IP: netip.MustParseAddr(ip), Port: 8080})
	out, err := exec.Command("nft", "list", "chain", "ip", table, name).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "dnat to "+ip+":8080") {
		b.Fatalf("endpoint %s of s%04d not in the kernel (%v):\n%s", ip, svc, err, out)
	}
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	if i > len(s) {
		i = len(s)
	}
	return s[i-1]
}
