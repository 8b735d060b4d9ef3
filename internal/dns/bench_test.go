package dns

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

// BenchmarkServiceQuery measures A queries for a Service over UDP on
// loopback from parallel clients; ns/op is the inverse of queries/s.
//
//	go test ./internal/dns -run '^$' -bench ServiceQuery
func BenchmarkServiceQuery(b *testing.B) {
	client := fake.NewSimpleClientset([]runtime.Object{service("default", "hello", "10.43.0.20", nil)}...)
	factory := informers.NewSharedInformerFactory(client, 0)
	s := New(Config{Listen: "127.0.0.1:0", Upstreams: []string{}}, factory)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	go func() { _ = s.Start(ctx) }()
	select {
	case <-s.Ready():
	case <-time.After(10 * time.Second):
		b.Fatal("not ready")
	}
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		conn, err := dns.Dial("udp", s.Addr())
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		m := new(dns.Msg)
		m.SetQuestion("hello.default.svc.cluster.local.", dns.TypeA)
		for pb.Next() {
			if err := conn.WriteMsg(m); err != nil {
				b.Error(err)
				return
			}
			resp, err := conn.ReadMsg()
			if err != nil || len(resp.Answer) != 1 {
				b.Errorf("answer %v, err %v", resp, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
}
