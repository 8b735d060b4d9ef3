package inprocess

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"github.com/navarch/navarch/internal/apiserver"
)

// RemoteAddr is the RemoteAddr of every request a Transport hands to the
// handler: no network address, but a host:port that parses.
const RemoteAddr = "in-process:0"

// Transport is an http.RoundTripper that serves each request with Handler
// in the calling process, as User. Set it as rest.Config.Transport (with
// no TLS options: client-go refuses both). A Transport is safe for
// concurrent use; its fields must not change once it is in use.
type Transport struct {
	// Handler serves the requests: the API server's handler.
	Handler http.Handler
	// User is who every request comes from, as Authenticator reports it.
	User *apiserver.User
	// LongRunning, when set, tells the requests whose handler may stream
	// or stay open (watches, logs, exec, proxies: apiserver.LongRunning)
	// from the others. Those run on a goroutine of their own; the others
	// run on the caller's goroutine, and RoundTrip returns once the
	// handler has returned, its whole answer buffered. Nil: every request
	// is served as long-running.
	LongRunning func(*http.Request) bool
}

var _ http.RoundTripper = (*Transport)(nil)

// RoundTrip implements http.RoundTripper. A long-running request's
// handler runs on a goroutine of its own, and RoundTrip returns once the
// handler has flushed, returned or written 64 KiB; the response body then
// reads what the handler writes, as it writes it. Any other request's
// handler runs on the calling goroutine, and RoundTrip returns its whole
// answer once it has returned (see the package doc). The request's body
// is closed when the handler returns. The error is the request context's
// when it ends before the response starts, or the handler's panic.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.Handler == nil || t.User == nil {
		closeBody(req)
		return nil, errors.New("inprocess: transport without a handler or a user")
	}
	if req.URL == nil {
		closeBody(req)
		return nil, errors.New("inprocess: request without a URL")
	}
	if err := req.Context().Err(); err != nil {
		closeBody(req)
		return nil, err
	}
	ctx, cancel := context.WithCancel(req.Context())
	sreq := serverRequest(context.WithValue(ctx, userKey{}, t.User), req)
	rw := newResponseWriter(req, cancel)
	// The client's context ending (its cancellation, its deadline) ends
	// the stream. The handler's return unregisters the callback; closing
	// the body runs it, harmlessly.
	rw.stopAfter = context.AfterFunc(ctx, rw.contextDone)
	if t.LongRunning != nil && !t.LongRunning(sreq) {
		// No goroutine to start, no hand-over to wait for: the handler
		// writes into the buffer and the answer is complete on return.
		rw.buffered = true
		rw.serve(t.Handler, sreq)
	} else {
		go rw.serve(t.Handler, sreq)
	}
	res := <-rw.resc
	return res.resp, res.err
}

// serverRequest is req as a server would have parsed it off the wire.
func serverRequest(ctx context.Context, req *http.Request) *http.Request {
	u := &url.URL{Path: req.URL.Path, RawPath: req.URL.RawPath, RawQuery: req.URL.RawQuery}
	if u.Path == "" {
		u.Path = "/"
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	header := req.Header.Clone()
	if header == nil {
		header = http.Header{}
	}
	if _, ok := header["User-Agent"]; !ok {
		header["User-Agent"] = []string{"Go-http-client/1.1"}
	}
	var body io.ReadCloser = http.NoBody
	length := int64(0)
	var te []string
	if req.Body != nil && req.Body != http.NoBody {
		body = &requestBody{rc: req.Body}
		length = req.ContentLength
		if length == 0 {
			// An unknown length goes chunked over HTTP.
			length = -1
		}
	}
	if length > 0 {
		header["Content-Length"] = []string{strconv.FormatInt(length, 10)}
	} else if length < 0 {
		te = []string{"chunked"}
	}
	sreq := &http.Request{
		Method:           req.Method,
		URL:              u,
		Proto:            "HTTP/1.1",
		ProtoMajor:       1,
		ProtoMinor:       1,
		Header:           header,
		Body:             body,
		ContentLength:    length,
		TransferEncoding: te,
		Host:             host,
		RemoteAddr:       RemoteAddr,
		RequestURI:       req.URL.RequestURI(),
	}
	if sreq.Method == "" {
		sreq.Method = http.MethodGet
	}
	return sreq.WithContext(ctx)
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// requestBody is the client's request body as the handler reads it; it
// closes the client's body once, whether the handler or the transport
// closes it first.
type requestBody struct {
	rc   io.ReadCloser
	once sync.Once
	err  error
}

func (b *requestBody) Read(p []byte) (int, error) { return b.rc.Read(p) }

func (b *requestBody) Close() error {
	b.once.Do(func() { b.err = b.rc.Close() })
	return b.err
}

// userKey is the context key of the in-process user. Only RoundTrip sets
// it.
type userKey struct{}

// Authenticator is the apiserver.Authenticator of in-process requests: it
// recognizes a request only by the user a Transport put into its
// context, never by anything the request carries.
type Authenticator struct{}

var _ apiserver.Authenticator = Authenticator{}

// Authenticate implements apiserver.Authenticator.
func (Authenticator) Authenticate(r *http.Request) (*apiserver.User, bool) {
	u, ok := r.Context().Value(userKey{}).(*apiserver.User)
	return u, ok && u != nil
}
