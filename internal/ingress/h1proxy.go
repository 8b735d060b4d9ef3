package ingress

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// This file forwards the requests the fast path took: the request head
// written to an endpoint from the parsed lines, the body copied (a
// chunked one re-framed), the answer's head parsed and written back the
// way net/http's server and httputil.ReverseProxy would write it, its
// body copied.

// maxDiscardBody is how much of an unread request body is read and
// dropped after a local answer (404, 503, 502) to keep the connection,
// as net/http's server does; a longer body closes it.
const maxDiscardBody = 256 << 10

// forward serves one request of c whose head h the fast path took, and
// reports whether the connection can carry another request.
func (p *Proxy) forward(c *clientConn, h *reqHead) bool {
	be, matched := p.table.Load().lookup(string(h.host), string(h.path))
	if be == nil {
		reason := fmt.Sprintf("no Ingress rule for host %q", hostOnly(string(h.host)))
		if matched {
			reason = fmt.Sprintf("no Ingress path for %q on host %q", h.path, hostOnly(string(h.host)))
		}
		return c.answerError(h, http.StatusNotFound, "404 Not Found: "+reason, false)
	}
	if len(be.endpoints) == 0 {
		return c.answerError(h, http.StatusServiceUnavailable, "503 Service Unavailable: "+be.reason, false)
	}
	rt := route{be: be, start: int(p.next.Add(1) % uint64(len(be.endpoints)))}
	uc, bodyRead, err := p.exchange(c, h, &rt)
	if err != nil {
		var ce clientError
		if errors.As(err, &ce) {
			return false // the client went away or sent a broken body
		}
		return c.answerError(h, http.StatusBadGateway, "502 Bad Gateway: "+err.Error(), bodyRead)
	}
	return c.relayResponse(h, uc, p.upstream)
}

// clientError is a failure reading the client's request body: nothing is
// answered, the connection closed.
type clientError struct{ err error }

func (e clientError) Error() string { return "ingress: reading the request body: " + e.err.Error() }
func (e clientError) Unwrap() error { return e.err }

// exchange sends h (and its body) to the route's first endpoint that
// accepts a connection, and reads the answer's head into c.resp. As
// retryTransport and upstream.RoundTrip do on the net/http path: only
// connection failures move on to the next endpoint, and a request sent
// on a reused connection that the backend turns out to have closed
// before answering goes again once on another, when it has no body and
// is idempotent. bodyRead: the request body was consumed (wholly or in
// part) from the client.
func (p *Proxy) exchange(c *clientConn, h *reqHead, rt *route) (uc *upConn, bodyRead bool, err error) {
	var lastErr error
	for i := range rt.be.endpoints {
		addr := rt.endpoint(i)
		for attempt := 0; ; attempt++ {
			uc, reused, err := p.upstream.get(context.Background(), addr)
			if err != nil {
				lastErr = err
				break
			}
			// With a body, writeRequest consumes the head and the body
			// from the client's buffer; without, the head stays there
			// until the answer has come, for a replay.
			sent, err := p.upstream.writeRequest(uc, c, h)
			bodyRead = h.hasBody()
			if err == nil {
				sent, err = p.upstream.readResponseHead(uc, h.method, &c.resp, &c.respBuf, c)
			}
			if err == nil {
				if !bodyRead {
					_, _ = c.br.Discard(h.size)
				}
				return uc, bodyRead, nil
			}
			uc.Close()
			var ce clientError
			if !errors.As(err, &ce) && reused && attempt == 0 && !sent && !bodyRead && idempotent(h) {
				continue
			}
			return nil, bodyRead, err
		}
		var opErr *net.OpError
		if !errors.As(lastErr, &opErr) || opErr.Op != "dial" {
			return nil, false, lastErr
		}
	}
	return nil, false, fmt.Errorf("no endpoint accepted the connection: %w", lastErr)
}

// idempotent: the method is, as net/http's Transport judges it (an
// Idempotency-Key header makes any method so).
func idempotent(h *reqHead) bool {
	switch string(h.method) {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	for _, l := range h.headers {
		if equalFold(l.name, []byte("idempotency-key")) || equalFold(l.name, []byte("x-idempotency-key")) {
			return true
		}
	}
	return false
}

// writeRequest writes h's request to uc: the head as
// httputil.ReverseProxy with SetXForwarded makes it (the client's
// end-to-end headers, Host kept, X-Forwarded-For/-Host/-Proto set, the
// framing net/http's client would write), then the body; a chunked body
// is re-framed. sent as in upstream.send; errors reading the client's
// body are clientErrors.
func (u *upstream) writeRequest(uc *upConn, c *clientConn, h *reqHead) (sent bool, err error) {
	w := uc.bw
	w.Write(h.method)
	w.WriteByte(' ')
	w.Write(h.target)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.Write(h.host)
	w.WriteString("\r\n")
	for _, l := range h.headers {
		writeHeaderLine(w, l)
	}
	if h.addCacheControl {
		w.WriteString("Cache-Control: no-cache\r\n")
	}
	if h.teTrailers {
		w.WriteString("Te: trailers\r\n")
	}
	if c.clientIP != "" {
		w.WriteString("X-Forwarded-For: ")
		w.WriteString(c.clientIP)
		w.WriteString("\r\n")
	}
	w.WriteString("X-Forwarded-Host: ")
	w.Write(h.host)
	if c.https {
		w.WriteString("\r\nX-Forwarded-Proto: https\r\n")
	} else {
		w.WriteString("\r\nX-Forwarded-Proto: http\r\n")
	}
	switch {
	case h.chunked:
		w.WriteString("Transfer-Encoding: chunked\r\n")
	case h.contentLength > 0:
		w.WriteString("Content-Length: ")
		w.Write(strconv.AppendInt(uc.scratch[:0], h.contentLength, 10))
		w.WriteString("\r\n")
	default:
		switch string(h.method) {
		case "POST", "PUT", "PATCH":
			w.WriteString("Content-Length: 0\r\n")
		}
	}
	w.WriteString("\r\n")
	if h.hasBody() {
		// The head's bytes are in the forwarded copy now; the body
		// follows them in the client's buffer, and may take as long as
		// it takes (net/http's server sets no deadline on it either).
		_, _ = c.br.Discard(h.size)
		_ = c.rwc.SetReadDeadline(time.Time{})
		var rerr, werr error
		if h.chunked {
			c.chunked.reset(c.br)
			rerr, werr = copyChunked(w, &c.chunked, c.br)
		} else {
			_, rerr, werr = copyBody(w, c.br, h.contentLength)
			if rerr == io.EOF {
				rerr = io.ErrUnexpectedEOF
			}
		}
		if rerr != nil {
			return true, clientError{rerr}
		}
		if werr != nil {
			return !isConnClosed(werr), werr
		}
	}
	if err := w.Flush(); err != nil {
		return !isConnClosed(err), err
	}
	return true, nil
}

// readResponseHead reads the answer's head from uc into r, skipping 1xx
// answers other than 101 as upstream.send does. A head the strict
// parser does not take is read by net/http's ReadResponse (r.std set).
// The head is copied into *buf, so r stays valid while the body is read.
//
// Until the answer's body is read (or the connection closed), reads of uc
// check watch when they block (upReader).
func (u *upstream) readResponseHead(uc *upConn, method []byte, r *respHead, buf *[]byte, watch clientWatch) (sent bool, err error) {
	uc.rd.watch = watch
	if u.responseHeaderTimeout > 0 {
		uc.rd.deadline = time.Now().Add(u.responseHeaderTimeout)
		defer func() { uc.rd.deadline = time.Time{} }()
	}
	if _, err := uc.br.Peek(1); err != nil {
		return !isConnClosed(err), err
	}
	for {
		st := headIncomplete
		var b []byte
		for {
			b, _ = uc.br.Peek(uc.br.Buffered())
			if st = parseResponseHead(b, method, r); st != headIncomplete || len(b) == uc.br.Size() {
				break
			}
			if _, err := uc.br.Peek(len(b) + 1); err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return true, err
			}
		}
		if st != headOK {
			return true, u.readStdResponse(uc, method, r)
		}
		if r.status >= 100 && r.status < 200 {
			if r.status == http.StatusSwitchingProtocols {
				return true, errors.New("ingress: backend switched protocols without an Upgrade request")
			}
			_, _ = uc.br.Discard(r.size)
			continue
		}
		// Keep the head apart from the reader's buffer, which the body's
		// reads move.
		*buf = append((*buf)[:0], b[:r.size]...)
		rebase(r, b, *buf)
		_, _ = uc.br.Discard(r.size)
		r.body = nil
		return true, nil
	}
}

// rebase points r's slices, taken from old, at the same bytes of its copy
// cp (a slice of old starts cap(old)-cap(s) bytes into it).
func rebase(r *respHead, old, cp []byte) {
	at := func(s []byte) []byte {
		if len(s) == 0 {
			return nil
		}
		off := cap(old) - cap(s)
		return cp[off : off+len(s) : off+len(s)]
	}
	for i := range r.headers {
		r.headers[i].name = at(r.headers[i].name)
		r.headers[i].value = at(r.headers[i].value)
	}
	r.conns = r.conns[:0]
}

// readStdResponse reads an answer outside the strict subset with
// net/http's ReadResponse, for net/http's verdict on it; its connection is
// not reused.
func (u *upstream) readStdResponse(uc *upConn, method []byte, r *respHead) error {
	for {
		resp, err := http.ReadResponse(uc.br, &http.Request{Method: string(method)})
		if err != nil {
			return err
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			return errors.New("ingress: backend switched protocols without an Upgrade request")
		}
		*r = respHead{all: r.all, conns: r.conns[:0], status: resp.StatusCode, contentLength: resp.ContentLength,
			close: true, body: resp.Body, std: resp}
		r.headers = r.all[:0]
		removeHopByHop(resp.Header)
		for k, vv := range resp.Header {
			switch k {
			case "Content-Type":
				r.hasContentType = true
			case "Content-Encoding":
				r.hasContentEncoding = resp.Header.Get(k) != ""
			case "Date":
				r.hasDate = true
			}
			for _, v := range vv {
				r.headers = append(r.headers, headerLine{[]byte(k), []byte(v)})
			}
		}
		if len(resp.Trailer) > 0 {
			r.hasTrailer = true
			for k := range resp.Trailer {
				r.headers = append(r.headers, headerLine{[]byte("Trailer"), []byte(k)})
			}
		}
		return nil
	}
}

// removeHopByHop removes the headers httputil.ReverseProxy removes.
func removeHopByHop(h http.Header) {
	for _, f := range h["Connection"] {
		forEachToken([]byte(f), func(tok []byte) { h.Del(string(tok)) })
	}
	for _, k := range []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"} {
		h.Del(k)
	}
}

// relayResponse writes the answer in c.resp back to the client and copies
// its body from uc, which then goes back to the pool when the body was
// read to its end and the backend keeps the connection. It reports
// whether the client's connection can carry another request.
func (c *clientConn) relayResponse(h *reqHead, uc *upConn, u *upstream) bool {
	r := &c.resp
	head := string(h.method) == "HEAD"
	withBody := bodyAllowed(r.status) && !head
	// The body's reader.
	var body io.Reader
	switch {
	case r.std != nil:
		body = r.body
	case !withBody || r.contentLength == 0:
		body = nil
	case r.chunked:
		c.upChunked.reset(uc.br)
		body = &c.upChunked
	default:
		body = uc.br // Content-Length (copied to that length) or until close
	}
	if !withBody {
		body = nil
	}
	// Peek at the start of the body when the head depends on it: net/http
	// sniffs a missing Content-Type from the first bytes written, and
	// gives an unknown-length answer that turns out empty a
	// "Content-Length: 0".
	var first []byte
	var firstErr error
	sniff := withBody && !r.hasContentType && !r.hasContentEncoding
	unknown := withBody && r.contentLength < 0
	if body != nil && (sniff || unknown) {
		if r.contentLength > 0 && r.std == nil {
			first, firstErr = uc.br.Peek(int(min(r.contentLength, 512)))
			if firstErr == bufio.ErrBufferFull {
				firstErr = nil
			}
		} else {
			buf := c.firstBuf[:]
			n, err := io.ReadAtLeast(body, buf, 1)
			first, firstErr = buf[:n], err
			if firstErr == io.EOF {
				firstErr = nil
				body = nil // nothing more
			}
		}
		if firstErr != nil {
			return c.abortResponse(uc, r)
		}
	}
	closeAfter := h.close || c.srv.down.Load()
	chunkOut := unknown && len(first) > 0
	w := c.bw
	writeStatusLine(w, r.status, &c.scratch)
	for _, l := range r.headers {
		if !bodyAllowed(r.status) && (equalFold(l.name, hContentLength) ||
			(r.status == http.StatusNotModified && equalFold(l.name, hContentType))) {
			continue
		}
		if equalFold(l.name, hTrailer) && !chunkOut {
			continue
		}
		writeHeaderLine(w, l)
	}
	if r.addCacheControl {
		w.WriteString("Cache-Control: no-cache\r\n")
	}
	if sniff && len(first) > 0 {
		w.WriteString("Content-Type: ")
		w.WriteString(http.DetectContentType(first))
		w.WriteString("\r\n")
	}
	if !r.hasDate {
		w.WriteString("Date: ")
		w.Write(time.Now().UTC().AppendFormat(c.scratch[:0], http.TimeFormat))
		w.WriteString("\r\n")
	}
	switch {
	case chunkOut:
		w.WriteString("Transfer-Encoding: chunked\r\n")
	case unknown:
		w.WriteString("Content-Length: 0\r\n")
	}
	if closeAfter {
		w.WriteString("Connection: close\r\n")
	}
	w.WriteString("\r\n")

	// The body.
	var rerr, werr error
	switch {
	case body == nil && unknown:
		// Empty; read to its end above.
	case body == nil:
		// HEAD, 1xx, 204, 304, or a declared length of 0.
	case chunkOut:
		// The bytes peeked are consumed already: write them as the first
		// chunk, then the rest.
		werr = writeChunk(w, first)
		if werr == nil {
			rerr, werr = copyChunkedFrom(w, body, c.trailerSource(r), uc.br)
		}
	case r.contentLength > 0:
		if r.std != nil && first != nil {
			// Already read from a net/http body: write them first.
			_, werr = w.Write(first)
			if werr == nil {
				_, rerr, werr = copyBody(w, body, r.contentLength-int64(len(first)))
			}
		} else {
			_, rerr, werr = copyBody(w, body, r.contentLength)
		}
		if rerr == io.EOF {
			rerr = io.ErrUnexpectedEOF
		}
	}
	if werr == nil {
		werr = w.Flush()
	}
	if rerr != nil || werr != nil {
		if rerr != nil {
			c.srv.logger.V(2).Info("ingress backend answer cut off", "host", string(h.host), "err", rerr)
		}
		c.closeUpstream(uc, r)
		return false
	}
	if r.std != nil || r.close {
		c.closeUpstream(uc, r)
	} else {
		uc.rd.watch = nil
		u.put(uc)
	}
	return !closeAfter
}

// trailerSource returns what writes the answer's trailer section.
func (c *clientConn) trailerSource(r *respHead) func(w *bufio.Writer) {
	return func(w *bufio.Writer) {
		if r.std != nil {
			for k, vv := range r.std.Trailer {
				for _, v := range vv {
					w.WriteString(k)
					w.WriteString(": ")
					w.WriteString(v)
					w.WriteString("\r\n")
				}
			}
			return
		}
		if r.chunked {
			w.Write(c.upChunked.trailer)
		}
	}
}

// gone reports whether the client closed its connection (or broke it),
// by a read that waits at most a millisecond; bytes read stay buffered for
// the next request.
func (c *clientConn) gone() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	_ = c.rwc.SetReadDeadline(time.Now().Add(time.Millisecond))
	_, err := c.br.Peek(1)
	_ = c.rwc.SetReadDeadline(time.Time{})
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// abortResponse ends an exchange whose answer's body failed before its
// head was written, as a net/http handler that panics with
// http.ErrAbortHandler would: both connections closed, nothing written.
func (c *clientConn) abortResponse(uc *upConn, r *respHead) bool {
	c.closeUpstream(uc, r)
	return false
}

func (c *clientConn) closeUpstream(uc *upConn, r *respHead) {
	if r.std != nil {
		r.std.Body.Close()
	}
	uc.Close()
}

// answerError answers the request itself as http.Error does. bodyRead:
// the request's body was read in part, so the connection cannot carry
// another request; an unread one is read and dropped up to
// maxDiscardBody.
func (c *clientConn) answerError(h *reqHead, code int, msg string, bodyRead bool) bool {
	closeAfter := h.close || bodyRead || c.srv.down.Load()
	if !bodyRead {
		_, _ = c.br.Discard(h.size) // the head, not consumed yet
	}
	if !bodyRead && h.hasBody() {
		if h.chunked || h.contentLength > maxDiscardBody {
			closeAfter = true
		} else if _, err := c.br.Discard(int(h.contentLength)); err != nil {
			closeAfter = true
		}
	}
	w := c.bw
	writeStatusLine(w, code, &c.scratch)
	w.WriteString("Content-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nDate: ")
	w.Write(time.Now().UTC().AppendFormat(c.scratch[:0], http.TimeFormat))
	w.WriteString("\r\nContent-Length: ")
	w.Write(strconv.AppendInt(c.scratch[:0], int64(len(msg)+1), 10))
	if closeAfter {
		w.WriteString("\r\nConnection: close")
	}
	w.WriteString("\r\n\r\n")
	w.WriteString(msg)
	w.WriteByte('\n')
	if err := w.Flush(); err != nil {
		return false
	}
	return !closeAfter
}

// writeStatusLine writes the status line as net/http's server does (its
// own reason phrase, not the backend's).
func writeStatusLine(w *bufio.Writer, code int, scratch *[64]byte) {
	w.WriteString("HTTP/1.1 ")
	if text := http.StatusText(code); text != "" {
		w.Write(strconv.AppendInt(scratch[:0], int64(code), 10))
		w.WriteByte(' ')
		w.WriteString(text)
		w.WriteString("\r\n")
		return
	}
	fmt.Fprintf(w, "%03d status code %d\r\n", code, code)
}

func writeHeaderLine(w *bufio.Writer, l headerLine) {
	w.Write(l.name)
	w.WriteString(": ")
	w.Write(l.value)
	w.WriteString("\r\n")
}

// copyBody copies n bytes from src to w. rerr and werr tell which side
// failed.
func copyBody(w *bufio.Writer, src io.Reader, n int64) (written int64, rerr, werr error) {
	for n > 0 {
		var buf []byte
		var big *[]byte
		if int64(w.Available()) >= n || w.Available() >= 2<<10 {
			// Read straight into the writer's buffer.
			buf = w.AvailableBuffer()
			buf = buf[:min(int64(cap(buf)), n)]
		} else {
			if w.Buffered() > 0 {
				if werr = w.Flush(); werr != nil {
					return written, nil, werr
				}
			}
			big = copyBuffers.Get().(*[]byte)
			buf = (*big)[:min(int64(len(*big)), n)]
		}
		m, err := src.Read(buf)
		if m > 0 {
			if _, werr = w.Write(buf[:m]); werr != nil {
				if big != nil {
					copyBuffers.Put(big)
				}
				return written, nil, werr
			}
			written += int64(m)
			n -= int64(m)
		}
		if big != nil {
			copyBuffers.Put(big)
		}
		if err != nil {
			if n == 0 {
				break
			}
			return written, err, nil
		}
	}
	return written, nil, nil
}

// copyChunked re-frames the chunked body cr reads (from src) onto w.
func copyChunked(w *bufio.Writer, cr *chunkedReader, src *bufio.Reader) (rerr, werr error) {
	return copyChunkedFrom(w, cr, nil, src)
}

// copyChunkedFrom writes what body reads as chunks onto w, flushing
// whenever src has nothing more buffered (so that streamed answers
// stream), then the last chunk, the trailer section trailer writes (none
// if nil) and the final CRLF.
func copyChunkedFrom(w *bufio.Writer, body io.Reader, trailer func(*bufio.Writer), src *bufio.Reader) (rerr, werr error) {
	big := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(big)
	buf := *big
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if werr = writeChunk(w, buf[:n]); werr != nil {
				return nil, werr
			}
			if src.Buffered() == 0 {
				if werr = w.Flush(); werr != nil {
					return nil, werr
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err, nil
		}
	}
	w.WriteString("0\r\n")
	if trailer != nil {
		trailer(w)
	}
	_, werr = w.WriteString("\r\n")
	return nil, werr
}

func writeChunk(w *bufio.Writer, p []byte) error {
	var size [16]byte
	w.Write(strconv.AppendInt(size[:0], int64(len(p)), 16))
	w.WriteString("\r\n")
	w.Write(p)
	_, err := w.WriteString("\r\n")
	return err
}
