package inprocess

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"k8s.io/klog/v2"
)

// maxPending is how many written bytes may wait for the client before a
// write blocks, as a socket's buffers would hold them (a single larger
// write goes through whole); and how many a handler may write before its
// response starts without a flush.
const maxPending = 64 << 10

var (
	// errBodyClosed is what the handler's writes return once the client
	// has closed the response body.
	errBodyClosed = errors.New("inprocess: response body closed by the client")
	// errReadClosed is what reads of a closed response body return (the
	// message of net/http's client).
	errReadClosed = errors.New("http: read on closed response body")
	// errHandlerPanic ends a response whose handler panicked.
	errHandlerPanic = errors.New("inprocess: the handler panicked")
	// errAfterReturn is what writes return after the handler returned.
	errAfterReturn = errors.New("inprocess: write after the handler returned")
)

// result is what RoundTrip returns.
type result struct {
	resp *http.Response
	err  error
}

// responseWriter is both the handler's http.ResponseWriter and, through
// responseBody, the client's response body.
type responseWriter struct {
	req    *http.Request // the client's request
	cancel context.CancelFunc
	// stopAfter unregisters contextDone from the handler's context.
	stopAfter func() bool
	// buffered is set for a handler run on the caller's goroutine: its
	// writes never block and the response starts when it returns.
	buffered bool
	// header is the handler's, live until the status is written.
	header http.Header
	// resc receives the response, or the error, once (buffered).
	resc chan result

	// mu guards the fields below; cond (on mu) signals every change of
	// them to waiting readers and writers.
	mu   sync.Mutex
	cond sync.Cond
	// status is the response's code once written (0 before); sentHeader
	// the header snapshot taken then.
	status     int
	sentHeader http.Header
	// sent is true once resc has its value.
	sent bool
	// pending are written bytes not read yet: buf[off:].
	buf []byte
	off int
	// done is true once the handler returned.
	done bool
	// err ends the stream for the reader (the client's context ended,
	// the handler panicked); closed is true once the client closed the
	// body.
	err    error
	closed bool
}

var (
	_ http.ResponseWriter = (*responseWriter)(nil)
	_ http.Flusher        = (*responseWriter)(nil)
)

func newResponseWriter(req *http.Request, cancel context.CancelFunc) *responseWriter {
	rw := &responseWriter{req: req, cancel: cancel, header: http.Header{}, resc: make(chan result, 1)}
	rw.cond.L = &rw.mu
	return rw
}

// serve runs the handler and ends the response when it returns.
func (rw *responseWriter) serve(h http.Handler, r *http.Request) {
	defer func() {
		v := recover()
		rw.mu.Lock()
		if v != nil {
			if v != http.ErrAbortHandler {
				klog.FromContext(r.Context()).Error(fmt.Errorf("%v", v), "inprocess: panic serving request", "method", r.Method, "uri", r.RequestURI)
			}
			if rw.err == nil {
				rw.err = errHandlerPanic
			}
		}
		rw.finishLocked()
		rw.mu.Unlock()
		rw.stopAfter()
		rw.cancel()
		_ = r.Body.Close()
	}()
	h.ServeHTTP(rw, r)
}

// finishLocked ends the response once the handler has returned: the
// status (200 if none), the length when nothing was sent yet.
func (rw *responseWriter) finishLocked() {
	rw.done = true
	if rw.err == nil && !rw.closed {
		// The handler may have returned because the client's context
		// ended, before contextDone ran.
		rw.err = rw.req.Context().Err()
	}
	if rw.err == nil && !rw.sent {
		if rw.status == 0 {
			rw.writeHeaderLocked(http.StatusOK)
		}
		if _, ok := rw.sentHeader["Content-Length"]; !ok && rw.bodyAllowed() && rw.req.Method != http.MethodHead {
			if _, chunked := rw.sentHeader["Transfer-Encoding"]; !chunked {
				rw.sentHeader["Content-Length"] = []string{strconv.Itoa(len(rw.buf) - rw.off)}
			}
		}
	}
	rw.sendLocked()
	rw.cond.Broadcast()
}

// contextDone runs once the handler's context ends. Before the handler
// returns and the client closes the body, that is the client's context
// ending: the stream ends with its error.
func (rw *responseWriter) contextDone() {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.done || rw.closed || rw.err != nil {
		return
	}
	rw.err = rw.req.Context().Err()
	if rw.err == nil {
		rw.err = context.Canceled
	}
	rw.sendLocked()
	rw.cond.Broadcast()
}

// Header implements http.ResponseWriter.
func (rw *responseWriter) Header() http.Header { return rw.header }

// WriteHeader implements http.ResponseWriter. Informational codes other
// than 101 are dropped (no in-process client reads them); a second call
// is ignored, as over HTTP.
func (rw *responseWriter) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		return
	}
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.status != 0 {
		return
	}
	rw.writeHeaderLocked(code)
}

func (rw *responseWriter) writeHeaderLocked(code int) {
	rw.status = code
	rw.sentHeader = rw.header.Clone()
}

// bodyAllowed reports whether the status allows a body (as
// net/http's bodyAllowedForStatus).
func (rw *responseWriter) bodyAllowed() bool {
	switch {
	case rw.status >= 100 && rw.status <= 199:
		return false
	case rw.status == http.StatusNoContent, rw.status == http.StatusNotModified:
		return false
	}
	return true
}

// Write implements http.ResponseWriter. The response starts (RoundTrip
// returns) once maxPending bytes wait, at a Flush or when the handler
// returns, as net/http's server holds small bodies in its buffer. Write
// fails once the client closed the body or its context ended; it blocks
// while maxPending bytes wait.
func (rw *responseWriter) Write(p []byte) (int, error) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.status == 0 {
		rw.writeHeaderLocked(http.StatusOK)
	}
	if !rw.bodyAllowed() {
		return 0, http.ErrBodyNotAllowed
	}
	if rw.done {
		return 0, errAfterReturn
	}
	for !rw.buffered && len(rw.buf)-rw.off >= maxPending && rw.err == nil && !rw.closed {
		rw.cond.Wait()
	}
	if rw.closed {
		return 0, errBodyClosed
	}
	if rw.err != nil {
		return 0, rw.err
	}
	if rw.req.Method == http.MethodHead {
		return len(p), nil
	}
	if len(p) == 0 {
		return 0, nil
	}
	if rw.off == len(rw.buf) {
		rw.buf, rw.off = rw.buf[:0], 0
	}
	rw.buf = append(rw.buf, p...)
	if !rw.buffered && len(rw.buf)-rw.off >= maxPending {
		rw.sendLocked()
	}
	rw.cond.Broadcast()
	return len(p), nil
}

// Flush implements http.Flusher: it sends the header if it is not sent.
// Written bytes are readable without it.
func (rw *responseWriter) Flush() { _ = rw.FlushError() }

// FlushError is Flush for http.ResponseController; it fails as Write.
func (rw *responseWriter) FlushError() error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.closed {
		return errBodyClosed
	}
	if rw.err != nil {
		return rw.err
	}
	if rw.status == 0 {
		rw.writeHeaderLocked(http.StatusOK)
	}
	if !rw.buffered {
		rw.sendLocked()
	}
	return nil
}

// EnableFullDuplex is for http.ResponseController: the request body stays
// readable while the handler writes, so there is nothing to enable.
func (rw *responseWriter) EnableFullDuplex() error { return nil }

// sendLocked hands RoundTrip the response (or the stream's error), once.
func (rw *responseWriter) sendLocked() {
	if rw.sent {
		return
	}
	rw.sent = true
	if rw.err != nil || rw.status == 0 {
		err := rw.err
		if err == nil {
			err = errHandlerPanic
		}
		rw.resc <- result{err: err}
		return
	}
	h := rw.sentHeader
	if _, ok := h["Content-Type"]; !ok && rw.off < len(rw.buf) && rw.bodyAllowed() {
		// As net/http's server does for a handler that sets none.
		h["Content-Type"] = []string{http.DetectContentType(rw.buf[rw.off:])}
	}
	resp := &http.Response{
		Status:        strconv.Itoa(rw.status) + " " + http.StatusText(rw.status),
		StatusCode:    rw.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          &responseBody{rw: rw},
		ContentLength: -1,
		Request:       rw.req,
	}
	if te, ok := h["Transfer-Encoding"]; ok {
		// The server consumes it; the client sees it here.
		delete(h, "Transfer-Encoding")
		resp.TransferEncoding = te
	} else if cl := h.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			resp.ContentLength = n
		}
	}
	if !rw.bodyAllowed() || rw.req.Method == http.MethodHead {
		resp.ContentLength = 0
		if rw.req.Method == http.MethodHead {
			resp.ContentLength = -1
			if cl := h.Get("Content-Length"); cl != "" {
				resp.ContentLength, _ = strconv.ParseInt(cl, 10, 64)
			}
		}
	}
	rw.resc <- result{resp: resp}
}

// responseBody is the response body the client reads.
type responseBody struct{ rw *responseWriter }

// Read returns written bytes as soon as there are any; io.EOF once the
// handler has returned and everything is read; the stream's error when
// the client's context ended or the handler panicked.
func (b *responseBody) Read(p []byte) (int, error) {
	rw := b.rw
	rw.mu.Lock()
	defer rw.mu.Unlock()
	for {
		switch {
		case rw.closed:
			return 0, errReadClosed
		case rw.err != nil:
			return 0, rw.err
		case rw.off < len(rw.buf):
			if len(p) == 0 {
				return 0, nil
			}
			n := copy(p, rw.buf[rw.off:])
			rw.off += n
			if rw.off == len(rw.buf) {
				rw.buf, rw.off = rw.buf[:0], 0
			}
			rw.cond.Broadcast()
			return n, nil
		case rw.done:
			return 0, io.EOF
		}
		rw.cond.Wait()
	}
}

// Close ends the response: the handler's context is cancelled, its
// writes fail, and what it wrote and nobody read is dropped.
func (b *responseBody) Close() error {
	rw := b.rw
	rw.mu.Lock()
	if !rw.closed {
		rw.closed = true
		rw.buf, rw.off = nil, 0
		rw.cond.Broadcast()
	}
	rw.mu.Unlock()
	rw.cancel()
	return nil
}
