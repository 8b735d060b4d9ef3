package ingress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
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
	// upstream holds the keep-alive connections to endpoints.
	upstream *upstream
}

// maxIdlePerEndpoint is how many idle keep-alive connections the proxy
// keeps to each endpoint: as many as a busy ingress has requests in
// flight to it, so that a burst does not end in closed connections and
// new handshakes.
const maxIdlePerEndpoint = 1024

// NewProxy returns a proxy with an empty table (everything 404).
func NewProxy() *Proxy {
	p := &Proxy{}
	p.table.Store(&table{exact: map[string]*hostRules{}, wildcard: map[string]*hostRules{}, tls: map[string]string{}})
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	const idleTimeout, responseHeaderTimeout = 90 * time.Second, 60 * time.Second
	up := &upstream{
		dialer: dialer, maxIdlePerHost: maxIdlePerEndpoint, idleTimeout: idleTimeout,
		responseHeaderTimeout: responseHeaderTimeout, idle: map[string][]*upConn{},
		// Upgraded connections (WebSocket) are net/http's to hand over.
		fallback: &http.Transport{
			DialContext:           dialer.DialContext,
			MaxIdleConnsPerHost:   maxIdlePerEndpoint,
			IdleConnTimeout:       idleTimeout,
			ResponseHeaderTimeout: responseHeaderTimeout,
			ForceAttemptHTTP2:     false, // backends speak HTTP/1.1
			// A proxy passes Accept-Encoding and the encoded body
			// through as they are; left on, the transport would ask
			// for gzip itself and decompress the answer.
			DisableCompression: true,
		},
	}
	p.upstream = up
	p.reverse = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetXForwarded()
			pr.Out.URL.Scheme = "http"
			if rt, ok := pr.Out.Context().Value(routeKey{}).(*route); ok {
				pr.Out.URL.Host = rt.endpoint(0)
			}
			pr.Out.Host = pr.In.Host // keep the Host the client asked for
		},
		Transport:  &retryTransport{base: up},
		BufferPool: bufferPool{},
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

// CloseIdleConnections closes the keep-alive connections to endpoints
// that no request is using.
func (p *Proxy) CloseIdleConnections() { p.upstream.closeIdle() }

// routeKey keys a request's *route in its context.
type routeKey struct{}

// route is where a request goes: the backend's endpoints, tried in turn
// from start.
type route struct {
	be    *backend
	start int
}

// endpoint is the i-th endpoint to try.
func (rt *route) endpoint(i int) string {
	return rt.be.endpoints[(rt.start+i)%len(rt.be.endpoints)]
}

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
	rt := &route{be: be, start: int(p.next.Add(1) % uint64(len(be.endpoints)))}
	p.reverse.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), routeKey{}, rt)))
}

// retryTransport sends a request to the first endpoint that accepts a
// connection. Only connection failures are retried: nothing of the
// request has reached a backend then, so a retry cannot repeat it.
type retryTransport struct {
	base http.RoundTripper
}

// RoundTrip sends r, which the reverse proxy made for this round trip
// alone and addressed to the route's first endpoint, as it is; a retry
// goes out as a copy addressed to the next endpoint.
func (t *retryTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt, ok := r.Context().Value(routeKey{}).(*route)
	if !ok || len(rt.be.endpoints) == 0 {
		return nil, errors.New("no endpoints")
	}
	var lastErr error
	for i := range rt.be.endpoints {
		out := r
		if i > 0 {
			out = r.Clone(r.Context())
			out.URL.Host = rt.endpoint(i)
		}
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

// bufferPool lends the reverse proxy its body copy buffers; without one
// it allocates 32 KiB per request.
type bufferPool struct{}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *copyBuffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { copyBuffers.Put(&b) }
