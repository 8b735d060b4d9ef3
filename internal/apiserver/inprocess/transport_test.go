package inprocess

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/navarch/navarch/internal/apiserver"
	"github.com/navarch/navarch/test/poll"
)

var testUser = &apiserver.User{Name: "system:node:n1", Groups: []string{"system:nodes"}}

func client(h http.Handler) *http.Client {
	return &http.Client{Transport: &Transport{Handler: h, User: testUser}}
}

// readBody reads and closes resp's body, and fails the test if the read
// fails.
func readBody(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// expectErr waits up to 10 s for what ends to report its error on errc,
// and fails unless that error is want.
func expectErr(t *testing.T, errc <-chan error, want error, what string) {
	t.Helper()
	select {
	case err := <-errc:
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", what, err, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: did not end within 10 s", what)
	}
}

// checkNoLeak fails unless the goroutine count comes back to at most
// base within the deadline.
func checkNoLeak(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines, %d before:\n%s", n, base, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRequestAsTheServerSeesIt(t *testing.T) {
	var got *http.Request
	var gotBody []byte
	var gotUser *apiserver.User
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		gotBody, _ = io.ReadAll(r.Body)
		gotUser, _ = Authenticator{}.Authenticate(r)
		w.Header().Set("Content-Type", "application/vnd.kubernetes.protobuf")
		w.Header().Set("X-Answer", "42")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("created"))
		w.Header().Set("X-Late", "ignored") // after the status: not sent, as over HTTP
	})
	req, err := http.NewRequest(http.MethodPost, "https://127.0.0.1:6443/api/v1/namespaces/default/pods?fieldManager=me&dryRun=All", strings.NewReader("the body"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/vnd.kubernetes.protobuf")
	req.Header.Set("Accept", "application/vnd.kubernetes.protobuf, */*")
	req.Header.Set("User-Agent", "navarch-server/v1")
	resp, err := client(h).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)

	for _, c := range []struct{ name, got, want string }{
		{"method", got.Method, "POST"},
		{"path", got.URL.Path, "/api/v1/namespaces/default/pods"},
		{"query", got.URL.RawQuery, "fieldManager=me&dryRun=All"},
		{"URL host", got.URL.Host, ""},
		{"RequestURI", got.RequestURI, "/api/v1/namespaces/default/pods?fieldManager=me&dryRun=All"},
		{"Host", got.Host, "127.0.0.1:6443"},
		{"RemoteAddr", got.RemoteAddr, RemoteAddr},
		{"Proto", got.Proto, "HTTP/1.1"},
		{"Content-Type", got.Header.Get("Content-Type"), "application/vnd.kubernetes.protobuf"},
		{"Accept", got.Header.Get("Accept"), "application/vnd.kubernetes.protobuf, */*"},
		{"User-Agent", got.Header.Get("User-Agent"), "navarch-server/v1"},
		{"Content-Length header", got.Header.Get("Content-Length"), "8"},
		{"body", string(gotBody), "the body"},
		{"status", resp.Status, "201 Created"},
		{"response Content-Type", resp.Header.Get("Content-Type"), "application/vnd.kubernetes.protobuf"},
		{"X-Answer", resp.Header.Get("X-Answer"), "42"},
		{"X-Late", resp.Header.Get("X-Late"), ""},
		{"response body", string(body), "created"},
		{"response proto", resp.Proto, "HTTP/1.1"},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if got.ContentLength != 8 {
		t.Errorf("ContentLength %d, want 8", got.ContentLength)
	}
	if got.TLS != nil {
		t.Errorf("TLS %v, want nil", got.TLS)
	}
	if gotUser != testUser {
		t.Errorf("user %+v, want %+v", gotUser, testUser)
	}
	if resp.Request != req {
		t.Errorf("response's Request is not the client's")
	}
}

func TestResponseShapes(t *testing.T) {
	cases := []struct {
		name       string
		method     string
		handler    http.HandlerFunc
		wantStatus int
		wantBody   string
		wantLength int64
		wantType   string
	}{
		{
			name:       "nothing written",
			handler:    func(http.ResponseWriter, *http.Request) {},
			wantStatus: 200, wantLength: 0,
		},
		{
			name:       "body without a type is sniffed and measured",
			handler:    func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"kind":"Status"}`)) },
			wantStatus: 200, wantBody: `{"kind":"Status"}`, wantLength: 17, wantType: "text/plain; charset=utf-8",
		},
		{
			name: "error status",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusConflict)
				_, _ = io.WriteString(w, "conflict")
			},
			wantStatus: 409, wantBody: "conflict", wantLength: 8, wantType: "application/json",
		},
		{
			name:       "second WriteHeader ignored",
			handler:    func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(404); w.WriteHeader(500) },
			wantStatus: 404, wantLength: 0,
		},
		{
			name: "no body allowed with 204",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusNoContent)
				if _, err := w.Write([]byte("x")); !errors.Is(err, http.ErrBodyNotAllowed) {
					panic(fmt.Sprintf("write on 204: %v", err))
				}
			},
			wantStatus: 204, wantLength: 0,
		},
		{
			name:   "HEAD drops the body",
			method: http.MethodHead,
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Length", "5")
				_, _ = w.Write([]byte("hello"))
			},
			wantStatus: 200, wantLength: 5,
		},
		{
			name: "chunked stays unmeasured",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				w.Header().Set("Transfer-Encoding", "chunked")
				_, _ = w.Write([]byte("a"))
			},
			wantStatus: 200, wantBody: "a", wantLength: -1, wantType: "text/plain",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			method := c.method
			if method == "" {
				method = http.MethodGet
			}
			req, _ := http.NewRequest(method, "https://h/x", nil)
			resp, err := client(c.handler).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(t, resp)
			if resp.StatusCode != c.wantStatus || string(body) != c.wantBody || resp.ContentLength != c.wantLength || resp.Header.Get("Content-Type") != c.wantType {
				t.Errorf("got %d %q length %d type %q, want %d %q length %d type %q",
					resp.StatusCode, body, resp.ContentLength, resp.Header.Get("Content-Type"),
					c.wantStatus, c.wantBody, c.wantLength, c.wantType)
			}
		})
	}
}

// TestWatchStreams: each event reaches the client while the handler is
// still running and before it writes the next one.
func TestWatchStreams(t *testing.T) {
	next := make(chan struct{})
	handlerDone := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for i := 0; ; i++ {
			select {
			case <-next:
			case <-r.Context().Done():
				handlerDone <- r.Context().Err()
				return
			}
			if _, err := fmt.Fprintf(w, "event %d\n", i); err != nil {
				handlerDone <- err
				return
			}
			w.(http.Flusher).Flush()
		}
	})
	base := runtime.NumGoroutine()
	resp, err := client(h).Get("https://h/api/v1/pods?watch=1")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.ContentLength != -1 {
		t.Fatalf("status %d length %d", resp.StatusCode, resp.ContentLength)
	}
	buf := make([]byte, 64)
	for i := 0; i < 3; i++ {
		next <- struct{}{}
		n, err := resp.Body.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(buf[:n]), fmt.Sprintf("event %d\n", i); got != want {
			t.Fatalf("read %q, want %q", got, want)
		}
	}
	resp.Body.Close()
	expectErr(t, handlerDone, context.Canceled, "the handler after the body was closed")
	checkNoLeak(t, base)
}

// TestCloseUnblocksWrites: a handler blocked writing to a client that
// does not read is released when the client closes the body.
func TestCloseUnblocksWrites(t *testing.T) {
	writeErr := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		chunk := make([]byte, 16<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				writeErr <- err
				return
			}
		}
	})
	base := runtime.NumGoroutine()
	resp, err := client(h).Get("https://h/big")
	if err != nil {
		t.Fatal(err)
	}
	// The handler soon blocks: maxPending bytes wait.
	time.Sleep(20 * time.Millisecond)
	select {
	case err := <-writeErr:
		t.Fatalf("write failed before the body was closed: %v", err)
	default:
	}
	resp.Body.Close()
	expectErr(t, writeErr, errBodyClosed, "the handler's write after the body was closed")
	if _, err := resp.Body.Read(make([]byte, 1)); err == nil {
		t.Error("read after close succeeded")
	}
	checkNoLeak(t, base)
}

// TestBackpressure: with a slow reader, the written but unread bytes
// stay bounded, and every byte arrives in order.
func TestBackpressure(t *testing.T) {
	const total = 1 << 20
	var maxSeen int
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		rw := w.(*responseWriter)
		chunk := make([]byte, 1000)
		for i := 0; i < total/len(chunk); i++ {
			for j := range chunk {
				chunk[j] = byte(i + j)
			}
			if _, err := w.Write(chunk); err != nil {
				return
			}
			rw.mu.Lock()
			if p := len(rw.buf) - rw.off; p > maxSeen {
				maxSeen = p
			}
			rw.mu.Unlock()
		}
	})
	resp, err := client(h).Get("https://h/big")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := 0
	buf := make([]byte, 777)
	for {
		n, err := resp.Body.Read(buf)
		for k := 0; k < n; k++ {
			i, j := (got+k)/1000, (got+k)%1000
			if buf[k] != byte(i+j) {
				t.Fatalf("byte %d is %d, want %d", got+k, buf[k], byte(i+j))
			}
		}
		got += n
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if got != total/1000*1000 {
		t.Errorf("read %d bytes, want %d", got, total/1000*1000)
	}
	if maxSeen > maxPending+1000 {
		t.Errorf("%d bytes waited at once, want at most %d", maxSeen, maxPending+1000)
	}
}

func TestCancellation(t *testing.T) {
	t.Run("before the response", func(t *testing.T) {
		handlerStarted, handlerCtxDone := make(chan struct{}), make(chan struct{})
		h := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			close(handlerStarted)
			<-r.Context().Done()
			close(handlerCtxDone)
		})
		base := runtime.NumGoroutine()
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://h/slow", nil)
		errc := make(chan error, 1)
		go func() {
			_, err := client(h).Do(req)
			errc <- err
		}()
		// Cancel once the handler runs: before it, RoundTrip would not
		// start it at all.
		select {
		case <-handlerStarted:
		case <-time.After(10 * time.Second):
			t.Fatal("the handler did not start")
		}
		cancel()
		expectErr(t, errc, context.Canceled, "Do after the context was cancelled")
		<-handlerCtxDone
		checkNoLeak(t, base)
	})
	t.Run("during the stream", func(t *testing.T) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		})
		base := runtime.NumGoroutine()
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://h/watch", nil)
		resp, err := client(h).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() {
			_, err := resp.Body.Read(make([]byte, 10))
			errc <- err
		}()
		cancel()
		expectErr(t, errc, context.Canceled, "the body's Read after the context was cancelled")
		resp.Body.Close()
		checkNoLeak(t, base)
	})
	t.Run("deadline", func(t *testing.T) {
		h := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://h/slow", nil)
		if _, err := client(h).Do(req); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Do: %v, want context.DeadlineExceeded", err)
		}
	})
	t.Run("already cancelled", func(t *testing.T) {
		called := false
		h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true })
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://h/x", nil)
		if _, err := client(h).Do(req); !errors.Is(err, context.Canceled) {
			t.Errorf("Do: %v, want context.Canceled", err)
		}
		if called {
			t.Error("handler ran for a cancelled request")
		}
	})
}

// TestNoLeakAfterManyWatches opens and closes many streams, and cancels
// many requests, then counts goroutines.
func TestNoLeakAfterManyWatches(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("watch") == "" {
			<-r.Context().Done() // a request that never answers
			return
		}
		for {
			if _, err := w.Write([]byte("event\n")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(time.Millisecond):
			}
		}
	})
	for name, c := range map[string]*http.Client{"every request on a goroutine": client(h), "short ones on the caller": shortOnCaller(h)} {
		t.Run(name, func(t *testing.T) { openAndClose(t, c) })
	}
}

// openAndClose opens and closes 200 watches and cancels 200 requests
// that never answer, then checks that no goroutine is left.
func openAndClose(t *testing.T, c *http.Client) {
	base := runtime.NumGoroutine()
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			resp, err := c.Get("https://h/pods?watch=1")
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = resp.Body.Read(make([]byte, 6))
			resp.Body.Close()
		}()
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://h/pods", nil)
			if _, err := c.Do(req); err == nil {
				t.Error("a request that never answers got a response")
			}
		}()
	}
	wg.Wait()
	checkNoLeak(t, base)
}

func TestConcurrentRequests(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Path", r.URL.Path)
		_, _ = w.Write(bytes.ToUpper(body))
	})
	c := client(h)
	var wg sync.WaitGroup
	for g := 0; g < 20; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				msg := fmt.Sprintf("request %d of %d", i, g)
				resp, err := c.Post(fmt.Sprintf("https://h/p%d/%d", g, i), "text/plain", strings.NewReader(msg))
				if err != nil {
					t.Error(err)
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(body) != strings.ToUpper(msg) || resp.Header.Get("X-Path") != fmt.Sprintf("/p%d/%d", g, i) {
					t.Errorf("got %q %q (%v) for %q", body, resp.Header.Get("X-Path"), err, msg)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestPanics(t *testing.T) {
	t.Run("before the response", func(t *testing.T) {
		h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusOK) // not sent yet
			panic("boom")
		})
		if _, err := client(h).Get("https://h/x"); !errors.Is(err, errHandlerPanic) {
			t.Errorf("Get: %v, want %v", err, errHandlerPanic)
		}
	})
	t.Run("abort mid-stream", func(t *testing.T) {
		h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		})
		resp, err := client(h).Get("https://h/x")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if _, err := io.ReadAll(resp.Body); !errors.Is(err, errHandlerPanic) {
			t.Errorf("read: %v, want %v", err, errHandlerPanic)
		}
	})
}

func TestRequestBodyClosed(t *testing.T) {
	body := &trackingBody{Reader: strings.NewReader("data")}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	req, _ := http.NewRequest(http.MethodPut, "https://h/x", body)
	resp, err := client(h).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	poll.Until(t, 10*time.Second, "the request body to be closed", func() bool { return body.closed() })
}

type trackingBody struct {
	io.Reader
	mu sync.Mutex
	n  int
}

func (b *trackingBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n++
	if b.n > 1 {
		panic("closed twice")
	}
	return nil
}

func (b *trackingBody) closed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n == 1
}

// TestUnsupportedFeatures: upgrades and deadlines are refused cleanly.
func TestUnsupportedFeatures(t *testing.T) {
	var hijackErr, readDeadlineErr, writeDeadlineErr, flushErr, duplexErr error
	var isHijacker, isCloseNotifier bool
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, isHijacker = w.(http.Hijacker)
		_, isCloseNotifier = w.(http.CloseNotifier) //nolint:staticcheck // checking it is absent
		rc := http.NewResponseController(w)
		_, _, hijackErr = rc.Hijack()
		readDeadlineErr = rc.SetReadDeadline(time.Now())
		writeDeadlineErr = rc.SetWriteDeadline(time.Now())
		duplexErr = rc.EnableFullDuplex()
		flushErr = rc.Flush()
	})
	resp, err := client(h).Get("https://h/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if isHijacker || isCloseNotifier {
		t.Errorf("Hijacker %v, CloseNotifier %v: want neither", isHijacker, isCloseNotifier)
	}
	for name, err := range map[string]error{"Hijack": hijackErr, "SetReadDeadline": readDeadlineErr, "SetWriteDeadline": writeDeadlineErr} {
		if !errors.Is(err, http.ErrNotSupported) {
			t.Errorf("%s: %v, want http.ErrNotSupported", name, err)
		}
	}
	if flushErr != nil || duplexErr != nil {
		t.Errorf("Flush %v, EnableFullDuplex %v: want nil", flushErr, duplexErr)
	}
}

// TestNetworkCannotClaimTheIdentity: requests from the network, whatever
// they carry, are never recognized by Authenticator.
func TestNetworkCannotClaimTheIdentity(t *testing.T) {
	authn := apiserver.UnionAuthenticator{Authenticator{}}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, ok := authn.Authenticate(r); ok {
			fmt.Fprintf(w, "authenticated as %s", u.Name)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for _, header := range []http.Header{
		{},
		{"X-Remote-User": {testUser.Name}, "X-Remote-Group": {"system:masters"}},
		{"Impersonate-User": {testUser.Name}},
		{"Authorization": {"Bearer " + testUser.Name}},
		{"User-Agent": {"navarch-server"}},
		{"Userkey": {testUser.Name}, "Inprocess": {"true"}},
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/pods", nil)
		req.Header = header
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("with headers %v: %d %q, want 401", header, resp.StatusCode, body)
		}
	}
	// A request made in the process but not through a Transport is not
	// recognized either.
	if _, ok := authn.Authenticate(httptest.NewRequest(http.MethodGet, "/api", nil)); ok {
		t.Error("a request not sent through a Transport was recognized")
	}
	// Through the transport it is.
	resp, err := client(srv.Config.Handler).Get("https://h/api")
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if want := "authenticated as " + testUser.Name; string(body) != want {
		t.Errorf("through the transport: %q, want %q", body, want)
	}
}

func TestMisconfigured(t *testing.T) {
	body := &trackingBody{Reader: strings.NewReader("x")}
	req, _ := http.NewRequest(http.MethodPost, "https://h/x", body)
	if _, err := (&Transport{}).RoundTrip(req); err == nil {
		t.Error("a transport without a handler answered")
	}
	if !body.closed() {
		t.Error("the request body was not closed")
	}
}

// shortOnCaller serves every request without "watch" in its query on the
// caller's goroutine.
func shortOnCaller(h http.Handler) *http.Client {
	return &http.Client{Transport: &Transport{Handler: h, User: testUser, LongRunning: func(r *http.Request) bool {
		return r.URL.Query().Get("watch") != ""
	}}}
}

// TestShortRequestsOnTheCaller: a request LongRunning calls short is
// answered whole once its handler returns, whatever it flushes or writes;
// long-running ones still stream.
func TestShortRequestsOnTheCaller(t *testing.T) {
	t.Run("answered whole", func(t *testing.T) {
		var returned bool
		h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte("part 1, "))
			w.(http.Flusher).Flush()
			_, _ = w.Write(bytes.Repeat([]byte("x"), 4*maxPending)) // never blocks
			returned = true
		})
		resp, err := shortOnCaller(h).Get("https://h/api/v1/pods")
		if err != nil {
			t.Fatal(err)
		}
		if !returned {
			t.Error("RoundTrip returned before the handler")
		}
		body := readBody(t, resp)
		if want := 8 + 4*maxPending; len(body) != want || resp.ContentLength != int64(want) {
			t.Errorf("body %d bytes, ContentLength %d; want %d", len(body), resp.ContentLength, want)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		h := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(10*time.Millisecond, cancel)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://h/api/v1/pods", nil)
		if _, err := shortOnCaller(h).Do(req); !errors.Is(err, context.Canceled) {
			t.Errorf("Do: %v, want context.Canceled", err)
		}
	})
	t.Run("panic", func(t *testing.T) {
		h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })
		if _, err := shortOnCaller(h).Get("https://h/api/v1/pods"); !errors.Is(err, errHandlerPanic) {
			t.Errorf("Get: %v, want %v", err, errHandlerPanic)
		}
	})
	t.Run("watch streams", func(t *testing.T) {
		next := make(chan struct{})
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.(http.Flusher).Flush()
			for i := 0; ; i++ {
				select {
				case <-next:
				case <-r.Context().Done():
					return
				}
				fmt.Fprintf(w, "event %d\n", i)
				w.(http.Flusher).Flush()
			}
		})
		base := runtime.NumGoroutine()
		resp, err := shortOnCaller(h).Get("https://h/api/v1/pods?watch=1")
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		for i := 0; i < 3; i++ {
			next <- struct{}{}
			n, err := resp.Body.Read(buf)
			if err != nil || string(buf[:n]) != fmt.Sprintf("event %d\n", i) {
				t.Fatalf("read %q, %v", buf[:n], err)
			}
		}
		resp.Body.Close()
		checkNoLeak(t, base)
	})
}
