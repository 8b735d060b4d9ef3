package dns

import (
	"context"
	"fmt"
	"net"
	"sort"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func service(ns, name, clusterIP string, mutate func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{ClusterIP: clusterIP, ClusterIPs: []string{clusterIP}, Type: corev1.ServiceTypeClusterIP,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}},
	}
	if clusterIP == "None" {
		s.Spec.ClusterIPs = []string{"None"}
	}
	if mutate != nil {
		mutate(s)
	}
	return s
}

type ep struct {
	ip, hostname string
	ready        bool
}

func slice(ns, svc string, eps ...ep) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: svc + "-abc", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, e := range eps {
		endpoint := discoveryv1.Endpoint{Addresses: []string{e.ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(e.ready)}}
		if e.hostname != "" {
			endpoint.Hostname = ptr.To(e.hostname)
		}
		s.Endpoints = append(s.Endpoints, endpoint)
	}
	return s
}

// startUpstream runs a resolver on loopback that answers example.com with
// 192.0.2.7 and everything else with NXDOMAIN.
func startUpstream(t *testing.T) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if r.Question[0].Name == "example.com." && r.Question[0].Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: "example.com.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP("192.0.2.7")})
		} else {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

func TestClusterDNS(t *testing.T) {
	objects := []runtime.Object{
		service("default", "hello", "10.43.0.20", nil),
		service("default", "db", "None", nil),
		service("default", "ext", "", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalName, s.Spec.ClusterIPs, s.Spec.Ports = corev1.ServiceTypeExternalName, "example.com", nil, nil
		}),
		service("default", "loop", "", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalName, s.Spec.ClusterIPs = corev1.ServiceTypeExternalName, "loop.default.svc.cluster.local", nil
		}),
		service("other", "eager", "None", func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }),
		slice("default", "db", ep{"10.42.0.5", "db-0", true}, ep{"10.42.0.6", "db-1", true}, ep{"10.42.0.7", "db-2", false}),
		slice("other", "eager", ep{"10.42.0.9", "", false}),
	}
	client := fake.NewSimpleClientset(objects...)
	factory := informers.NewSharedInformerFactory(client, 0)
	s := New(Config{Listen: "127.0.0.1:0", Upstreams: []string{startUpstream(t)}}, factory)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}

	cases := []struct {
		name      string
		qname     string
		qtype     uint16
		wantRcode int
		want      []string // answer values, sorted
	}{
		{"cluster IP", "hello.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.43.0.20"}},
		{"case insensitive", "HELLO.Default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.43.0.20"}},
		{"no AAAA for an IPv4 service", "hello.default.svc.cluster.local.", dns.TypeAAAA, dns.RcodeSuccess, nil},
		{"headless: ready endpoints only", "db.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.42.0.5", "10.42.0.6"}},
		{"statefulset pod", "db-1.db.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.42.0.6"}},
		{"unready statefulset pod", "db-2.db.default.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"publishNotReadyAddresses", "eager.other.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.42.0.9"}},
		{"SRV of a named port", "_http._tcp.hello.default.svc.cluster.local.", dns.TypeSRV, dns.RcodeSuccess, []string{"0 100 80 hello.default.svc.cluster.local."}},
		{"ExternalName CNAME, chased", "ext.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"192.0.2.7", "example.com."}},
		{"ExternalName pointing at itself", "loop.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"loop.default.svc.cluster.local."}},
		{"missing service", "nope.default.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"missing namespace", "hello.nowhere.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"namespace name exists", "default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, nil},
		{"pod record", "10-42-0-5.default.pod.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.42.0.5"}},
		{"forwarded", "example.com.", dns.TypeA, dns.RcodeSuccess, []string{"192.0.2.7"}},
		{"forwarded NXDOMAIN", "nothing.example.", dns.TypeA, dns.RcodeNameError, nil},
	}
	for _, network := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: network, Timeout: 5 * time.Second}
		for _, tc := range cases {
			t.Run(network+"/"+tc.name, func(t *testing.T) {
				m := new(dns.Msg)
				m.SetQuestion(tc.qname, tc.qtype)
				resp, _, err := c.Exchange(m, s.Addr())
				if err != nil {
					t.Fatal(err)
				}
				if resp.Rcode != tc.wantRcode {
					t.Fatalf("rcode %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tc.wantRcode])
				}
				var got []string
				for _, rr := range resp.Answer {
					switch v := rr.(type) {
					case *dns.A:
						got = append(got, v.A.String())
					case *dns.AAAA:
						got = append(got, v.AAAA.String())
					case *dns.CNAME:
						got = append(got, v.Target)
					case *dns.SRV:
						got = append(got, srvString(v))
					}
				}
				sort.Strings(got)
				if len(got) != len(tc.want) {
					t.Fatalf("answers %v, want %v", got, tc.want)
				}
				for i := range got {
					if got[i] != tc.want[i] {
						t.Fatalf("answers %v, want %v", got, tc.want)
					}
				}
			})
		}
	}
}

func srvString(s *dns.SRV) string {
	return fmt.Sprintf("%d %d %d %s", s.Priority, s.Weight, s.Port, s.Target)
}
