package ingress

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"k8s.io/klog/v2"
)

// seenRequest is what a raw backend read of a request.
type seenRequest struct {
	Method, URI, Host string
	Header            http.Header
	ContentLength     int64
	TransferEncoding  []string
	Body              string
}

// rawBackend is a backend on a loopback port that reads requests with
// net/http's parser and answers each with the raw bytes answer returns
// (closing the connection after it when close is true).
type rawBackend struct {
	addr   string
	conns  atomic.Int32
	mu     sync.Mutex
	seen   []seenRequest
	closed chan struct{} // gets a value when a connection ends
}

func newRawBackend(t *testing.T, answer func(r *http.Request, body []byte) (raw string, close bool)) *rawBackend {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	b := &rawBackend{addr: l.Addr().String(), closed: make(chan struct{}, 100)}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b.conns.Add(1)
			go func() {
				defer func() { c.Close(); b.closed <- struct{}{} }()
				br := bufio.NewReader(c)
				for {
					r, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					body, err := io.ReadAll(r.Body)
					if err != nil {
						return
					}
					b.mu.Lock()
					b.seen = append(b.seen, seenRequest{r.Method, r.RequestURI, r.Host, r.Header, r.ContentLength, r.TransferEncoding, string(body)})
					b.mu.Unlock()
					raw, closeAfter := answer(r, body)
					if _, err := io.WriteString(c, raw); err != nil || closeAfter {
						return
					}
				}
			}()
		}
	}()
	return b
}

func (b *rawBackend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.seen)
}

func (b *rawBackend) last() seenRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.seen) == 0 {
		return seenRequest{}
	}
	return b.seen[len(b.seen)-1]
}

// gotResponse is what a client read of an answer.
type gotResponse struct {
	Status           string
	Header           http.Header
	ContentLength    int64
	TransferEncoding []string
	Body             string
	Trailer          http.Header
	Close            bool
}

// rawRequest sends raw on a new connection to addr and reads one answer
// to a request of method.
func rawRequest(t *testing.T, addr, method, raw string) gotResponse {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	return readAnswer(t, bufio.NewReader(c), method)
}

func readAnswer(t *testing.T, br *bufio.Reader, method string) gotResponse {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer's body: %v", err)
	}
	return gotResponse{resp.Status, resp.Header, resp.ContentLength, resp.TransferEncoding, string(body), resp.Trailer, resp.Close}
}

// TestFastPathMatchesNetHTTP sends requests through the fast path and
// through net/http with httputil.ReverseProxy (what handed-off
// connections get) and wants the same request at the backend and the same
// answer at the client.
func TestFastPathMatchesNetHTTP(t *testing.T) {
	const date = "Date: Sun, 22 Nov 2026 10:00:00 GMT\r\n"
	cases := []struct {
		name, req, answer string
		closeAfter        bool
	}{
		{"GET", "GET /a?b=1&c=%20 HTTP/1.1\r\nHost: shop.example.com\r\nAccept: */*\r\n\r\n",
			"HTTP/1.1 200 OK\r\n" + date + "Content-Type: text/plain\r\nServer: web\r\nContent-Length: 5\r\n\r\nhello", false},
		{"hop-by-hop and forwarding headers", "GET / HTTP/1.1\r\nHost: shop.example.com:8080\r\nConnection: keep-alive, X-Hop\r\n" +
			"X-Hop: 1\r\nKeep-Alive: 300\r\nProxy-Authorization: basic x\r\nProxy-Connection: x\r\nTE: trailers\r\n" +
			"X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 5.6.7.8\r\nX-Forwarded-Host: evil\r\nX-Forwarded-Proto: https\r\n" +
			"Forwarded: for=1.2.3.4\r\nPragma: no-cache\r\nUser-Agent: test/1\r\nCookie: a=1\r\nCookie: b=2\r\nx-lower: v  \r\n\r\n",
			"HTTP/1.1 200 OK\r\n" + date + "Connection: X-Back\r\nX-Back: 1\r\nKeep-Alive: timeout=5\r\nPragma: no-cache\r\n" +
				"Proxy-Authenticate: x\r\nUpgrade: h2c\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok", false},
		{"empty User-Agent", "GET / HTTP/1.1\r\nHost: a\r\nUser-Agent:\r\n\r\n",
			"HTTP/1.1 200 OK\r\n" + date + "Content-Type: text/plain\r\nContent-Length: 0\r\n\r\n", false},
		{"POST with a length", "POST /up HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world",
			"HTTP/1.1 201 Created\r\n" + date + "Content-Type: text/plain\r\nContent-Length: 3\r\n\r\nyes", false},
		{"POST chunked", "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n",
			"HTTP/1.1 200 OK\r\n" + date + "Content-Type: text/plain\r\nContent-Length: 0\r\n\r\n", false},
		{"PUT without body", "PUT /x HTTP/1.1\r\nHost: a\r\n\r\n",
			"HTTP/1.1 200 OK\r\n" + date + "Content-Type: text/plain\r\nContent-Length: 0\r\n\r\n", false},
		{"DELETE with length 0", "DELETE /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
			"HTTP/1.1 200 OK\r\n" + date + "Content-Type: text/plain\r\nContent-Length: 0\r\n\r\n", false},
		{"GET with a body", "GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
			"HTTP/1.1 200 OK\r\n" + date + "Content-Type: text/plain\r\nContent-Length: 0\r\n\r\n", false},
		{"HEAD", "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n",
			"HTTP/1.1 200 OK\r\n" + date + "Content-Type: text/html\r\nContent-Length: 100\r\n\r\n", false},
		{"204", "GET /x HTTP/1.1\r\nHost: a\r\n\r\n",
			"HTTP/1.1 204 No Content\r\n" + date + "Content-Type: text/plain\r\nContent-Length: 0\r\n\r\n", false},
		{"304", "GET /x HTTP/1.1\r\nHost: a\r\n\r\n",
			"HTTP/1.1 304 Not Modified\r\n" + date + "Content-Type: text/plain\r\nETag: \"x\"\r\nContent-Length: 10\r\n\r\n", false},
		{"sniffed type", "GET /x HTTP/1.1\r\nHost: a\r\n\r\n",
			"HTTP/1.1 200 OK\r\n" + date + "Content-Length: 20\r\n\r\n<html><body>x</body>", false},
		{"encoded, not sniffed", "GET /x HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n",
			"HTTP/1.1 200 OK\r\n" + date + "Content-Encoding: gzip\r\nContent-Length: 4\r\n\r\n\x1f\x8b\x08\x00", false},
		{"no Date", "GET /x HTTP/1.1\r\nHost: a\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok", false},
		{"chunked answer", "GET /x HTTP/1.1\r\nHost: a\r\n\r\n",
			"HTTP/1.1 200 OK\r\n" + date + "Transfer-Encoding: chunked\r\n\r\n6\r\n<html>\r\n5\r\nhello\r\n0\r\n\r\n", false},
		{"empty chunked answer", "GET /x HTTP/1.1\r\nHost: a\r\n\r\n",
			"HTTP/1.1 200 OK\r\n" + date + "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
		{"answer with trailers", "GET /x HTTP/1.1\r\nHost: a\r\nTE: trailers\r\n\r\n",
			"HTTP/1.1 200 OK\r\n" + date + "Content-Type: text/plain\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\n", false},
		{"answer until close", "GET /x HTTP/1.1\r\nHost: a\r\n\r\n",
			"HTTP/1.1 200 OK\r\n" + date + "Content-Type: text/plain\r\n\r\nuntil the end", true},
		{"HTTP/1.0 answer", "GET /x HTTP/1.1\r\nHost: a\r\n\r\n",
			"HTTP/1.0 200 OK\r\n" + date + "Content-Type: text/plain\r\nContent-Length: 3\r\n\r\nold", true},
		{"unknown status", "GET /x HTTP/1.1\r\nHost: a\r\n\r\n",
			"HTTP/1.1 299 Fine\r\n" + date + "Content-Type: text/plain\r\nContent-Length: 0\r\n\r\n", false},
		{"reason replaced", "GET /x HTTP/1.1\r\nHost: a\r\n\r\n",
			"HTTP/1.1 404 Nope\r\n" + date + "Content-Type: text/plain\r\nContent-Length: 0\r\n\r\n", false},
		{"answer with length and chunked", "GET /x HTTP/1.1\r\nHost: a\r\n\r\n",
			"HTTP/1.1 200 OK\r\n" + date + "Content-Type: text/plain\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", false},
		{"answer folded", "GET /x HTTP/1.1\r\nHost: a\r\n\r\n",
			"HTTP/1.1 200 OK\r\n" + date + "Content-Type: text/plain\r\nX-Fold: a\r\n b\r\nContent-Length: 2\r\n\r\nok", false},
		{"answer with a bad encoding", "GET /x HTTP/1.1\r\nHost: a\r\n\r\n",
			"HTTP/1.1 200 OK\r\n" + date + "Transfer-Encoding: gzip, chunked\r\n\r\n", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := strings.Fields(tc.req)[0]
			var seen [2]seenRequest
			var got [2]gotResponse
			for i, fast := range []bool{true, false} {
				be := newRawBackend(t, func(*http.Request, []byte) (string, bool) { return tc.answer, tc.closeAfter })
				p := NewProxy()
				p.SetTable(benchTable(be.addr))
				var addr string
				if fast {
					addr = serveFront(t, p, nil)
				} else {
					front := httptest.NewServer(p)
					t.Cleanup(func() { front.Close(); p.CloseIdleConnections() })
					addr = strings.TrimPrefix(front.URL, "http://")
				}
				got[i] = rawRequest(t, addr, method, tc.req)
				seen[i] = be.last()
				if got[i].Header.Get("Date") == "" {
					t.Errorf("fast %v: no Date", fast)
				}
				if !strings.Contains(tc.answer, "Date:") {
					got[i].Header.Del("Date")
				}
				if got[i].ContentLength < 0 && !strings.Contains(tc.answer, "Content-Type") {
					// net/http sniffs an answer of unknown length only
					// when its first body bytes beat ReverseProxy's
					// immediate header flush (a timer); the fast path
					// always does.
					got[i].Header.Del("Content-Type")
				}
				if got[i].Body == "" && got[i].ContentLength <= 0 {
					// An empty answer of unknown length: net/http writes
					// "Content-Length: 0" or an empty chunked body, as the
					// timing of its flushes goes.
					got[i].ContentLength, got[i].TransferEncoding = 0, nil
					got[i].Header.Del("Content-Length")
				}
			}
			if !reflect.DeepEqual(seen[0], seen[1]) {
				t.Errorf("the backend saw\n fast:    %+v\n net/http: %+v", seen[0], seen[1])
			}
			if !reflect.DeepEqual(got[0], got[1]) {
				t.Errorf("the client got\n fast:    %+v\n net/http: %+v", got[0], got[1])
			}
		})
	}
}

// TestFastPathHandsOff: heads outside the fast path's subset get net/http's
// answers (here its 400s and 501s), on the same connection.
func TestFastPathHandsOff(t *testing.T) {
	be := newRawBackend(t, func(r *http.Request, _ []byte) (string, bool) {
		body := "seen " + r.Method + " " + r.RequestURI + " " + r.Proto
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(body), body), false
	})
	p := NewProxy()
	p.SetTable(benchTable(be.addr))
	fast := serveFront(t, p, nil)
	front := httptest.NewServer(p)
	t.Cleanup(func() { front.Close() })
	std := strings.TrimPrefix(front.URL, "http://")
	addrs := regexp.MustCompile(`127\.0\.0\.1:[0-9]+`)
	for _, tc := range parseCases {
		if tc.want != headHandOff {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			method := strings.Fields(tc.head + " GET")[0]
			var answers [2]string
			var wg sync.WaitGroup
			for i, addr := range []string{fast, std} {
				wg.Go(func() { answers[i] = addrs.ReplaceAllString(rawAnswer(t, addr, method, tc.head), "ADDR") })
			}
			wg.Wait()
			if answers[0] != answers[1] {
				t.Errorf("fast path answered\n%q\nnet/http\n%q", answers[0], answers[1])
			}
		})
	}
}

// rawAnswer sends raw and returns the answer's status and body, the read
// error, or "no answer" when none comes within a second and a half (a
// head announcing a body that does not follow).
func rawAnswer(t *testing.T, addr, method, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		return ""
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(1500 * time.Millisecond))
	_, _ = io.WriteString(c, raw)
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return "no answer"
		}
		return "error: " + err.Error()
	}
	body, _ := io.ReadAll(resp.Body)
	return resp.Status + " " + string(body)
}

// TestFastPathKeepAliveAndPipelining: requests sent at once on one
// connection are answered in order, over one backend connection.
func TestFastPathKeepAliveAndPipelining(t *testing.T) {
	be := newRawBackend(t, func(r *http.Request, body []byte) (string, bool) {
		msg := r.RequestURI + ":" + string(body)
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(msg), msg), false
	})
	p := NewProxy()
	p.SetTable(benchTable(be.addr))
	addr := serveFront(t, p, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var reqs strings.Builder
	for i := range 10 {
		if i%2 == 0 {
			fmt.Fprintf(&reqs, "GET /%d HTTP/1.1\r\nHost: a\r\n\r\n", i)
		} else {
			fmt.Fprintf(&reqs, "POST /%d HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody\r\n", i) // CRLF after a POST is tolerated
		}
	}
	if _, err := io.WriteString(c, reqs.String()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for i := range 10 {
		want := fmt.Sprintf("/%d:", i)
		if i%2 == 1 {
			want += "body"
		}
		if got := readAnswer(t, br, "GET"); got.Body != want || got.Close {
			t.Fatalf("answer %d: %+v, want body %q", i, got, want)
		}
	}
	if n := be.conns.Load(); n != 1 {
		t.Errorf("the backend saw %d connections, want 1", n)
	}
}

// TestFastPathLargeBodies: bodies larger than every buffer, with a length
// and chunked, both ways.
func TestFastPathLargeBodies(t *testing.T) {
	backendSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", fmt.Sprint(2*len(body)))
		}
		_, _ = w.Write(body)
		_, _ = w.Write(body)
	}))
	defer backendSrv.Close()
	p := NewProxy()
	p.SetTable(benchTable(strings.TrimPrefix(backendSrv.URL, "http://")))
	url := "http://" + serveFront(t, p, nil)
	big := bytes.Repeat([]byte("0123456789abcdef"), 300<<10/16+7) // ~300 KiB
	for _, chunked := range []bool{false, true} {
		var body io.Reader = bytes.NewReader(big)
		if chunked {
			body = io.MultiReader(bytes.NewReader(big)) // no length known: sent chunked
		}
		req, _ := http.NewRequest("POST", url+"/echo?chunked="+map[bool]string{true: "1"}[chunked], body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || !bytes.Equal(got, append(append([]byte(nil), big...), big...)) {
			t.Fatalf("chunked %v: %s, %d bytes, %v", chunked, resp.Status, len(got), err)
		}
		if chunked != (resp.ContentLength == -1) {
			t.Errorf("chunked %v: answer length %d", chunked, resp.ContentLength)
		}
	}
}

// TestFastPathConnectionClose: the client's "Connection: close" gets one
// answer saying so and the end of the connection; the backend's keeps the
// client's connection but not its own.
func TestFastPathConnectionClose(t *testing.T) {
	be := newRawBackend(t, func(r *http.Request, _ []byte) (string, bool) {
		if r.URL.Path == "/close" {
			return "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok", true
		}
		return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok", false
	})
	p := NewProxy()
	p.SetTable(benchTable(be.addr))
	addr := serveFront(t, p, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	io.WriteString(c, "GET /close HTTP/1.1\r\nHost: a\r\n\r\n")
	if got := readAnswer(t, br, "GET"); got.Close || got.Body != "ok" {
		t.Fatalf("the backend's close reached the client: %+v", got)
	}
	io.WriteString(c, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
	if got := readAnswer(t, br, "GET"); got.Body != "ok" {
		t.Fatalf("second: %+v", got)
	}
	if n := be.conns.Load(); n != 2 {
		t.Errorf("backend connections %d, want 2 (the first closed by the backend)", n)
	}
	io.WriteString(c, "GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	if got := readAnswer(t, br, "GET"); !got.Close {
		t.Fatalf("want Connection: close, got %+v", got)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("the connection stayed open: %v", err)
	}
}

// TestFastPathClientGone: a client that leaves in the middle of its
// request's body, or of the answer's, costs the backend that connection
// (closed, not pooled).
func TestFastPathClientGone(t *testing.T) {
	release := make(chan struct{})
	be := newRawBackend(t, func(r *http.Request, _ []byte) (string, bool) {
		<-release
		return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10000000\r\n\r\n" + strings.Repeat("x", 1<<20), false
	})
	p := NewProxy()
	p.SetTable(benchTable(be.addr))
	addr := serveFront(t, p, nil)

	// Gone mid-answer: the backend's connection ends.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
	close(release)
	buf := make([]byte, 1000)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	c.Close()
	select {
	case <-be.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the backend's connection was not closed after the client left mid-answer")
	}

	// Gone mid-request: the backend never gets the request and its
	// connection ends.
	c, err = net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly part")
	time.Sleep(50 * time.Millisecond) // let the proxy start forwarding (either order is a valid test)
	c.Close()
	select {
	case <-be.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the backend's connection was not closed after the client left mid-request")
	}
	if n := be.count(); n != 1 {
		t.Errorf("the backend read %d requests, want 1 (the cut one never whole)", n)
	}
}

// TestFastPathBackendGone: a backend that dies in the middle of an answer
// leaves the client with a cut answer and a closed connection.
func TestFastPathBackendGone(t *testing.T) {
	for _, answer := range []string{
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nonly part",
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
	} {
		be := newRawBackend(t, func(*http.Request, []byte) (string, bool) { return answer, true })
		p := NewProxy()
		p.SetTable(benchTable(be.addr))
		addr := serveFront(t, p, nil)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(resp.Body)
		if err == nil {
			t.Errorf("%q: the cut answer read whole", answer)
		}
		c.Close()
	}
}

// TestFastPathShutdown: Shutdown closes idle connections, lets a request
// in flight finish with "Connection: close", and returns.
func TestFastPathShutdown(t *testing.T) {
	release := make(chan struct{})
	be := newRawBackend(t, func(r *http.Request, _ []byte) (string, bool) {
		if r.URL.Path == "/slow" {
			<-release
		}
		return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok", false
	})
	p := NewProxy()
	p.SetTable(benchTable(be.addr))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newFrontServer(p, nil, klog.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	_ = idle.SetDeadline(time.Now().Add(10 * time.Second))
	idleR := bufio.NewReader(idle)
	io.WriteString(idle, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
	readAnswer(t, idleR, "GET")
	busy, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_ = busy.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	for deadline := time.Now().Add(5 * time.Second); be.count() < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the slow request did not reach the backend")
		}
	}
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	if _, err := idleR.ReadByte(); err != io.EOF {
		t.Errorf("the idle connection: %v, want it closed", err)
	}
	close(release)
	if got := readAnswer(t, bufio.NewReader(busy), "GET"); got.Body != "ok" || !got.Close {
		t.Errorf("the request in flight: %+v, want it answered with Connection: close", got)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; err != http.ErrServerClosed {
		t.Errorf("Serve: %v", err)
	}
}

// TestFastPathHTTPS: over TLS, HTTP/1.1 takes the fast path (and the
// hand-off) with X-Forwarded-Proto https, and ALPN "h2" goes to net/http's
// HTTP/2 server.
func TestFastPathHTTPS(t *testing.T) {
	backendSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "proto=%s xfp=%s host=%s", r.Proto, r.Header.Get("X-Forwarded-Proto"), r.Host)
	}))
	defer backendSrv.Close()
	p := NewProxy()
	p.SetTable(benchTable(strings.TrimPrefix(backendSrv.URL, "http://")))
	cert := httptest.NewTLSServer(http.NotFoundHandler()) // for its certificate
	cert.Close()
	addr := serveFront(t, p, &tls.Config{Certificates: cert.TLS.Certificates, NextProtos: []string{"h2", "http/1.1"}})
	clientTLS := &tls.Config{InsecureSkipVerify: true}
	h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS}}
	h2 := &http.Client{Transport: &http2.Transport{TLSClientConfig: clientTLS}}
	for _, tc := range []struct {
		name   string
		client *http.Client
		expect bool
		proto  string
	}{
		{"HTTP/1.1 fast path", h1, false, "HTTP/1.1"},
		{"HTTP/1.1 handed off", h1, true, "HTTP/1.1"},
		{"HTTP/2", h2, false, "HTTP/2.0"},
	} {
		req, _ := http.NewRequest("POST", "https://"+addr+"/x", strings.NewReader("body"))
		req.Host = "shop.example.com"
		if tc.expect {
			req.Header.Set("Expect", "100-continue")
		}
		resp, err := tc.client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Proto != tc.proto || string(body) != "proto=HTTP/1.1 xfp=https host=shop.example.com" {
			t.Errorf("%s: %s %s %q", tc.name, resp.Proto, resp.Status, body)
		}
	}
}

// TestFastPathSlowAndLargeHeads: a head sent a byte at a time is proxied
// as any other; one larger than the fast path's buffer goes to net/http
// and is proxied too.
func TestFastPathSlowAndLargeHeads(t *testing.T) {
	be := newRawBackend(t, func(r *http.Request, _ []byte) (string, bool) {
		msg := fmt.Sprintf("%s cookie=%d", r.RequestURI, len(r.Header.Get("Cookie")))
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(msg), msg), false
	})
	p := NewProxy()
	p.SetTable(benchTable(be.addr))
	addr := serveFront(t, p, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for _, b := range []byte("GET /slow HTTP/1.1\r\nHost: a\r\nCookie: x\r\n\r\n") {
		if _, err := c.Write([]byte{b}); err != nil {
			t.Fatal(err)
		}
	}
	if got := readAnswer(t, br, "GET"); got.Body != "/slow cookie=1" {
		t.Fatalf("slow head: %+v", got)
	}
	cookie := strings.Repeat("c", 20<<10)
	fmt.Fprintf(c, "GET /large HTTP/1.1\r\nHost: a\r\nCookie: %s\r\n\r\n", cookie)
	if got := readAnswer(t, br, "GET"); got.Body != fmt.Sprintf("/large cookie=%d", len(cookie)) {
		t.Fatalf("large head: %+v", got)
	}
}

// TestFastPathTimeouts: a head that does not come whole within the header
// timeout, and a kept-alive connection idle for the idle timeout, are
// closed.
func TestFastPathTimeouts(t *testing.T) {
	be := newRawBackend(t, func(*http.Request, []byte) (string, bool) {
		return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok", false
	})
	p := NewProxy()
	p.SetTable(benchTable(be.addr))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newFrontServer(p, nil, klog.Background())
	s.headerTimeout, s.idleTimeout = 300*time.Millisecond, 600*time.Millisecond
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })

	closedWithin := func(c net.Conn, br *bufio.Reader, min, max time.Duration) {
		t.Helper()
		start := time.Now()
		_ = c.SetReadDeadline(start.Add(5 * time.Second))
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("want the connection closed, got %v", err)
		}
		if d := time.Since(start); d < min || d > max {
			t.Errorf("closed after %v, want between %v and %v", d, min, max)
		}
	}
	// A partial head.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n")
	closedWithin(c, bufio.NewReader(c), 200*time.Millisecond, 3*time.Second)

	// An idle kept-alive connection: closed after the idle timeout, not
	// the header timeout.
	c2, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_ = c2.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c2)
	io.WriteString(c2, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if got := readAnswer(t, br, "GET"); got.Body != "ok" {
		t.Fatalf("%+v", got)
	}
	closedWithin(c2, br, 500*time.Millisecond, 3*time.Second)
}
