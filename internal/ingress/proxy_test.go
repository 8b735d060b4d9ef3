package ingress

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/klog/v2"
)

// benchTable routes every host and path to the given endpoints.
func benchTable(endpoints ...string) *table {
	be := &backend{service: "default/web:80", endpoints: endpoints}
	return &table{exact: map[string]*hostRules{}, wildcard: map[string]*hostRules{}, tls: map[string]string{},
		any: &hostRules{paths: []pathRule{{path: "/", backend: be}}}}
}

// BenchmarkProxy measures one keep-alive request through the proxy to a
// local backend (client, proxy and backend in this process), served by
// the fast path ("fast") and by net/http with httputil.ReverseProxy
// ("nethttp", the path handed-off connections take):
//
//	go test ./internal/ingress -run '^$' -bench Proxy -benchmem
func BenchmarkProxy(b *testing.B) {
	backendSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello from web path="+r.URL.Path+"\n")
	}))
	defer backendSrv.Close()
	for _, fast := range []bool{true, false} {
		name := "nethttp"
		if fast {
			name = "fast"
		}
		b.Run(name, func(b *testing.B) {
			p := NewProxy()
			p.SetTable(benchTable(strings.TrimPrefix(backendSrv.URL, "http://")))
			var url string
			if fast {
				url = "http://" + serveFront(b, p, nil)
			} else {
				front := httptest.NewServer(p)
				defer front.Close()
				url = front.URL
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			defer client.CloseIdleConnections()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Get(url + "/x")
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %s", resp.Status)
						return
					}
				}
			})
		})
	}
}

// serveFront serves p on a loopback port through a frontServer (TLS with
// tlsConfig if not nil) until the test ends, and returns its address.
func serveFront(tb testing.TB, p *Proxy, tlsConfig *tls.Config) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := newFrontServer(p, tlsConfig, klog.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		if err := <-done; err != http.ErrServerClosed {
			tb.Errorf("Serve: %v", err)
		}
		p.CloseIdleConnections()
	})
	return ln.Addr().String()
}

// TestProxyRetriesAnotherEndpoint: an endpoint refusing connections is
// skipped for the next one; the request reaches a live backend.
func TestProxyRetriesAnotherEndpoint(t *testing.T) {
	backendSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "live host="+r.Host)
	}))
	defer backendSrv.Close()
	// A port that refuses: listen, note the address, close.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	front := proxyTo(t, dead, strings.TrimPrefix(backendSrv.URL, "http://"))
	for i := 0; i < 4; i++ { // both starting points of the round-robin
		req, _ := http.NewRequest(http.MethodGet, front+"/", nil)
		req.Host = "shop.example.com"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "live host=shop.example.com" {
			t.Fatalf("request %d: %s %q, want 200 from the live endpoint with the client's Host", i, resp.Status, body)
		}
	}
}

// proxyTo serves a proxy whose every route goes to endpoints, through
// the fast path (which hands off what it does not take); it returns the
// proxy's URL.
func proxyTo(t *testing.T, endpoints ...string) string {
	t.Helper()
	p := NewProxy()
	p.SetTable(benchTable(endpoints...))
	return "http://" + serveFront(t, p, nil)
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %q %v", url, resp.Status, body, err)
	}
	return string(body)
}

// TestProxyKeepsBackendConnections: sequential requests reuse one
// connection to the endpoint.
func TestProxyKeepsBackendConnections(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	backendSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok "+r.URL.Path)
	}))
	backendSrv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	backendSrv.Start()
	defer backendSrv.Close()
	front := proxyTo(t, strings.TrimPrefix(backendSrv.URL, "http://"))
	for i := 0; i < 20; i++ {
		if got, want := get(t, fmt.Sprintf("%s/r%d", front, i)), fmt.Sprintf("ok /r%d", i); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 1 {
		t.Fatalf("the backend saw %d connections for 20 sequential requests, want 1", conns)
	}
}

// TestProxyReplaysOnClosedIdleConnection: a backend that closes a
// keep-alive connection after its answer (without saying so) costs the
// next request nothing: it goes out again on a new connection.
func TestProxyReplaysOnClosedIdleConnection(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var served atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				n := served.Add(1)
				body := fmt.Sprintf("answer %d to %s", n, req.URL.Path)
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			}()
		}
	}()
	front := proxyTo(t, l.Addr().String())
	if got := get(t, front+"/a"); got != "answer 1 to /a" {
		t.Fatalf("first: %q", got)
	}
	time.Sleep(50 * time.Millisecond) // the backend's close reaches the proxy's idle connection
	if got := get(t, front+"/b"); got != "answer 2 to /b" {
		t.Fatalf("second: %q, want it answered on a new connection", got)
	}
}

// TestProxyUpgrade: a WebSocket-style upgrade is passed through and the
// connection then carries bytes both ways.
func TestProxyUpgrade(t *testing.T) {
	backendSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "want Upgrade: echo", http.StatusBadRequest)
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		_ = brw.Flush()
		line, _ := brw.ReadString('\n')
		_, _ = brw.WriteString("echo: " + line)
		_ = brw.Flush()
	}))
	defer backendSrv.Close()
	front := proxyTo(t, strings.TrimPrefix(backendSrv.URL, "http://"))
	c, err := net.Dial("tcp", strings.TrimPrefix(front, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: shop.example.com\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	fmt.Fprintf(c, "hello\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "echo: hello\n" {
		t.Fatalf("after the upgrade: %q %v", line, err)
	}
}
