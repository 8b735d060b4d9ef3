package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// TTL of every cluster record, as CoreDNS's kubernetes plugin uses.
const TTL = 5

// Config configures the DNS server.
type Config struct {
	// Listen is the address to serve on, UDP and TCP ("10.43.0.10:53",
	// "127.0.0.1:0" in tests).
	Listen string
	// Domain is the cluster domain; empty means "cluster.local".
	Domain string
	// Upstreams are the resolvers ("IP:port") other names go to; nil reads
	// the nameservers of /etc/resolv.conf.
	Upstreams []string
}

// Server is the cluster DNS server.
type Server struct {
	cfg       Config
	resolver  *resolver
	synced    []cache.InformerSynced
	client    *dns.Client
	upstreams []string

	mu   sync.Mutex
	addr string // set once listening
	// ready is closed once the server listens.
	ready chan struct{}
}

// New returns a DNS server fed by the factory's Service and EndpointSlice
// informers (the caller starts the factory).
func New(cfg Config, factory informers.SharedInformerFactory) *Server {
	if cfg.Domain == "" {
		cfg.Domain = "cluster.local"
	}
	cfg.Domain = strings.TrimSuffix(strings.ToLower(cfg.Domain), ".")
	svcInformer := factory.Core().V1().Services()
	sliceInformer := factory.Discovery().V1().EndpointSlices()
	return &Server{
		cfg: cfg,
		resolver: &resolver{
			domain:   cfg.Domain,
			services: svcInformer.Lister(),
			slices:   sliceInformer.Lister(),
		},
		synced: []cache.InformerSynced{svcInformer.Informer().HasSynced, sliceInformer.Informer().HasSynced},
		client: &dns.Client{Timeout: 2 * time.Second},
		ready:  make(chan struct{}),
	}
}

// Addr returns the address the server listens on, once Ready is closed.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Ready is closed once the server answers queries.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Start waits for the informers, serves UDP and TCP on cfg.Listen and
// blocks until ctx ends.
func (s *Server) Start(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), s.synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("dns: caches did not sync")
	}
	s.upstreams = s.cfg.Upstreams
	if s.upstreams == nil {
		s.upstreams = hostResolvers("/etc/resolv.conf")
	}
	pc, err := net.ListenPacket("udp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	// TCP on the same port as UDP (the port may have been chosen by the
	// kernel for ":0").
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		return fmt.Errorf("dns: %w", err)
	}
	udp := &dns.Server{PacketConn: pc, Handler: s}
	tcp := &dns.Server{Listener: ln, Handler: s}
	errc := make(chan error, 2)
	go func() { errc <- udp.ActivateAndServe() }()
	go func() { errc <- tcp.ActivateAndServe() }()
	s.mu.Lock()
	s.addr = pc.LocalAddr().String()
	s.mu.Unlock()
	close(s.ready)
	klog.FromContext(ctx).Info("cluster DNS serving", "address", s.addr, "domain", s.cfg.Domain, "upstreams", s.upstreams)
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	_ = udp.Shutdown()
	_ = tcp.Shutdown()
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("dns: %w", err)
}

// hostResolvers reads the nameservers of a resolv.conf, as "IP:53".
func hostResolvers(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" {
			if ip := net.ParseIP(f[1]); ip != nil {
				out = append(out, net.JoinHostPort(ip.String(), "53"))
			}
		}
	}
	return out
}

// ServeDNS implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	network := w.RemoteAddr().Network()
	resp := s.answer(req, network, 0)
	if network == "udp" {
		// Fit the client's buffer (EDNS0 or the classic 512 bytes); a
		// truncated answer tells it to retry over TCP.
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil && int(opt.UDPSize()) > size {
			size = int(opt.UDPSize())
		}
		resp.Truncate(size)
	}
	_ = w.WriteMsg(resp)
}

// maxChase bounds how many CNAMEs an answer follows (an ExternalName may
// point at itself).
const maxChase = 8

// answer builds the response to one query; depth counts the CNAMEs
// followed so far.
func (s *Server) answer(req *dns.Msg, network string, depth int) *dns.Msg {
	resp := new(dns.Msg)
	if len(req.Question) != 1 {
		resp.SetRcode(req, dns.RcodeFormatError)
		return resp
	}
	q := req.Question[0]
	name := strings.TrimSuffix(strings.ToLower(q.Name), ".")
	if name != s.cfg.Domain && !strings.HasSuffix(name, "."+s.cfg.Domain) {
		return s.forward(req, network)
	}
	resp.SetReply(req)
	resp.Authoritative = true
	resp.RecursionAvailable = true
	l := s.resolver.resolve(name)
	switch l.kind {
	case nameMissing:
		resp.Rcode = dns.RcodeNameError
		resp.Ns = []dns.RR{s.soa()}
	case nameEmpty:
		resp.Ns = []dns.RR{s.soa()}
	case nameAddrs:
		for _, a := range l.addrs {
			hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: TTL}
			switch {
			case a.Is4() && (q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY):
				hdr.Rrtype = dns.TypeA
				resp.Answer = append(resp.Answer, &dns.A{Hdr: hdr, A: a.AsSlice()})
			case a.Is6() && (q.Qtype == dns.TypeAAAA || q.Qtype == dns.TypeANY):
				hdr.Rrtype = dns.TypeAAAA
				resp.Answer = append(resp.Answer, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
			}
		}
		if len(resp.Answer) == 0 {
			resp.Ns = []dns.RR{s.soa()}
		}
	case nameCNAME:
		target := dns.Fqdn(l.target)
		resp.Answer = append(resp.Answer, &dns.CNAME{
			Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: TTL}, Target: target})
		if q.Qtype != dns.TypeCNAME && depth < maxChase && !strings.EqualFold(target, q.Name) {
			// Chase the target, as a recursive resolver would.
			chase := new(dns.Msg)
			chase.SetQuestion(target, q.Qtype)
			chase.RecursionDesired = true
			if r := s.answer(chase, network, depth+1); r != nil {
				resp.Answer = append(resp.Answer, r.Answer...)
			}
		}
	case nameSRV:
		for _, srv := range l.srvs {
			resp.Answer = append(resp.Answer, &dns.SRV{
				Hdr:    dns.RR_Header{Name: q.Name, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: TTL},
				Target: dns.Fqdn(srv.target), Port: srv.port, Priority: 0, Weight: 100})
			if t := s.resolver.resolve(srv.target); t.kind == nameAddrs {
				for _, a := range t.addrs {
					if a.Is4() {
						resp.Extra = append(resp.Extra, &dns.A{
							Hdr: dns.RR_Header{Name: dns.Fqdn(srv.target), Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: TTL}, A: a.AsSlice()})
					}
				}
			}
		}
	}
	return resp
}

func (s *Server) soa() dns.RR {
	zone := dns.Fqdn(s.cfg.Domain)
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: TTL},
		Ns:      "ns.dns." + zone,
		Mbox:    "hostmaster." + zone,
		Serial:  uint32(time.Now().Unix()),
		Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: TTL,
	}
}

// forward asks the upstream resolvers, in order, and relays the first
// answer; SERVFAIL when none answers.
func (s *Server) forward(req *dns.Msg, network string) *dns.Msg {
	udp := *s.client
	tcp := *s.client
	tcp.Net = "tcp"
	for _, up := range s.upstreams {
		if up == s.Addr() {
			continue // never forward to ourselves
		}
		// UDP first; TCP when the answer did not fit and the client can
		// take a large one.
		resp, _, err := udp.Exchange(req, up)
		if err == nil && resp != nil && resp.Truncated && network == "tcp" {
			if full, _, err := tcp.Exchange(req, up); err == nil && full != nil {
				resp = full
			}
		}
		if err == nil && resp != nil {
			resp.Id = req.Id
			return resp
		}
	}
	resp := new(dns.Msg)
	resp.SetRcode(req, dns.RcodeServerFailure)
	return resp
}
