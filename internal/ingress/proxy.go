package ingress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"sync/atomic"
	"time"

	"k8s.io/klog/v2"
)

// Proxy is the HTTP handler of the ingress: it routes by the current
// table. Safe for concurrent use; SetTable swaps the table atomically.
type Proxy struct {
	table   atomic.Pointer[table]
	next    atomic.Uint64 // round-robin counter
	reverse *httputil.ReverseProxy
}

// NewProxy returns a proxy with an empty table (everything 404).
func NewProxy() *Proxy {
	p := &Proxy{}
	p.table.Store(&table{exact: map[string]*hostRules{}, wildcard: map[string]*hostRules{}, tls: map[string]string{}})
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		DialContext:           dialer.DialContext,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ForceAttemptHTTP2:     false, // backends speak HTTP/1.1
	}
	p.reverse = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetXForwarded()
			pr.Out.URL.Scheme = "http"
			pr.Out.Host = pr.In.Host // keep the Host the client asked for
		},
		Transport: &retryTransport{base: transport},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			klog.FromContext(r.Context()).V(2).Info("ingress backend failed", "host", r.Host, "path", r.URL.Path, "err", err)
			http.Error(w, "502 Bad Gateway: "+err.Error(), http.StatusBadGateway)
		},
	}
	return p
}

// SetTable replaces the routing table; requests in flight keep the one
// they started with.
func (p *Proxy) SetTable(t *table) { p.table.Store(t) }

type endpointsKey struct{}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	be, matched := p.table.Load().lookup(r.Host, r.URL.Path)
	if be == nil {
		reason := fmt.Sprintf("no Ingress rule for host %q", hostOnly(r.Host))
		if matched {
			reason = fmt.Sprintf("no Ingress path for %q on host %q", r.URL.Path, hostOnly(r.Host))
		}
		http.Error(w, "404 Not Found: "+reason, http.StatusNotFound)
		return
	}
	if len(be.endpoints) == 0 {
		http.Error(w, "503 Service Unavailable: "+be.reason, http.StatusServiceUnavailable)
		return
	}
	// Start at the next endpoint in turn; the transport tries the others
	// if that one refuses the connection.
	start := int(p.next.Add(1) % uint64(len(be.endpoints)))
	order := append(append([]string(nil), be.endpoints[start:]...), be.endpoints[:start]...)
	ctx := context.WithValue(r.Context(), endpointsKey{}, order)
	p.reverse.ServeHTTP(w, r.WithContext(ctx))
}

// retryTransport sends a request to the first endpoint that accepts a
// connection. Only connection failures are retried: nothing of the
// request has reached a backend then, so a retry cannot repeat it.
type retryTransport struct {
	base *http.Transport
}

func (t *retryTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	endpoints, _ := r.Context().Value(endpointsKey{}).([]string)
	if len(endpoints) == 0 {
		return nil, errors.New("no endpoints")
	}
	var lastErr error
	for _, ep := range endpoints {
		out := r.Clone(r.Context())
		out.URL.Host = ep
		resp, err := t.base.RoundTrip(out)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		var opErr *net.OpError
		if !errors.As(err, &opErr) || opErr.Op != "dial" {
			return nil, err
		}
	}
	return nil, fmt.Errorf("no endpoint accepted the connection: %w", lastErr)
}
