package ingress

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// upstream is the proxy's HTTP/1.1 client to endpoints: keep-alive
// connections pooled per "ip:port", each request written and its answer
// read on the goroutine that serves the client. net/http's Transport
// hands every request to a writer and a reader goroutine of the
// connection and the answer back through channels; on a busy machine
// those hand-offs cost more than the proxying. Requests that upgrade the
// connection (WebSocket) go through fallback, whose answer the reverse
// proxy can take over.
//
// A dial error is returned as the dialer's *net.OpError (Op "dial"), so
// that retryTransport can try another endpoint. A request whose reused
// connection turns out closed by the backend before any answer is sent
// again once on a new connection when that is safe (no body, or one that
// can be read again).
type upstream struct {
	dialer                *net.Dialer
	fallback              *http.Transport
	maxIdlePerHost        int
	idleTimeout           time.Duration
	responseHeaderTimeout time.Duration

	mu     sync.Mutex
	idle   map[string][]*upConn // most recently used last; guarded by mu
	reaper *time.Timer          // guarded by mu; armed while idle holds connections
}

var _ http.RoundTripper = (*upstream)(nil)

// upConn is one connection to an endpoint.
type upConn struct {
	net.Conn
	addr      string
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
	scratch   [20]byte // for formatting numbers
	rd        upReader // what br reads from
}

// clientCheckInterval is how long a read from an endpoint blocks, while
// a fast-path client waits for its answer, before the client is checked
// for having gone.
const clientCheckInterval = time.Second

// errClientGone ends a read from an endpoint whose client went away.
var errClientGone = errors.New("ingress: the client went away")

// clientWatch tells whether the client waiting on an exchange is gone.
type clientWatch interface{ gone() bool }

// upReader is what an upConn's buffered reader reads from. Without watch
// it reads the connection as it is (the net/http path sets its own
// deadlines). With watch, it does what net/http's server does with a
// background read for the fast path, which has none: a read that blocks
// for clientCheckInterval checks the client, and ends with errClientGone
// when it left, so that the connection is closed rather than left
// waiting on a backend; and it ends with a timeout at deadline (if set).
type upReader struct {
	c        *upConn
	watch    clientWatch
	deadline time.Time
}

func (r *upReader) Read(p []byte) (int, error) {
	if r.watch == nil {
		return r.c.Conn.Read(p)
	}
	for {
		d := time.Now().Add(clientCheckInterval)
		if !r.deadline.IsZero() && r.deadline.Before(d) {
			d = r.deadline
		}
		_ = r.c.Conn.SetReadDeadline(d)
		n, err := r.c.Conn.Read(p)
		var ne net.Error
		if n > 0 || err == nil || !errors.As(err, &ne) || !ne.Timeout() {
			return n, err
		}
		if !r.deadline.IsZero() && !time.Now().Before(r.deadline) {
			return n, err
		}
		if r.watch.gone() {
			return n, errClientGone
		}
	}
}

// RoundTrip implements http.RoundTripper.
func (u *upstream) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Upgrade") != "" {
		return u.fallback.RoundTrip(req)
	}
	for attempt := 0; ; attempt++ {
		c, reused, err := u.get(req.Context(), req.URL.Host)
		if err != nil {
			return nil, err
		}
		resp, sent, err := u.send(c, req)
		if err == nil {
			return resp, nil
		}
		c.Close()
		if reused && attempt == 0 && !sent && replayable(req) && req.Context().Err() == nil {
			continue
		}
		return nil, err
	}
}

// replayable: the request is idempotent (as net/http's Transport judges)
// and can be written again (no body, or a body it can produce anew).
func replayable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
	default:
		if req.Header.Get("Idempotency-Key") == "" && req.Header.Get("X-Idempotency-Key") == "" {
			return false
		}
	}
	if req.Body == nil || req.Body == http.NoBody {
		return true
	}
	if req.GetBody == nil {
		return false
	}
	body, err := req.GetBody()
	if err != nil {
		return false
	}
	req.Body = body
	return true
}

// send writes req on c and reads the answer's header. sent reports
// whether the backend may have seen the request: false only when c failed
// before a single byte of an answer arrived on a connection that had been
// idle (the backend closed it meanwhile).
func (u *upstream) send(c *upConn, req *http.Request) (resp *http.Response, sent bool, err error) {
	ctx := req.Context()
	// Cancelling the request (the client went away) unblocks any read or
	// write on the connection, which is then closed.
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	if err := req.Write(c.bw); err != nil {
		stop()
		return nil, !isConnClosed(err), err
	}
	if err := c.bw.Flush(); err != nil {
		stop()
		return nil, !isConnClosed(err), err
	}
	if u.responseHeaderTimeout > 0 {
		_ = c.SetReadDeadline(time.Now().Add(u.responseHeaderTimeout))
	}
	for {
		if _, err := c.br.Peek(1); err != nil {
			stop()
			if ctx.Err() != nil {
				return nil, true, ctx.Err()
			}
			return nil, !isConnClosed(err), err
		}
		resp, err = http.ReadResponse(c.br, req)
		if err != nil {
			stop()
			return nil, true, err
		}
		// 1xx answers before the real one (100 Continue, 103 Early
		// Hints) are skipped, as net/http's Transport does.
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		break
	}
	if u.responseHeaderTimeout > 0 {
		_ = c.SetReadDeadline(time.Time{})
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// Not asked for (upgrades go through fallback): nothing more on
		// this connection is HTTP.
		stop()
		return nil, true, errors.New("ingress: backend switched protocols without an Upgrade request")
	}
	b := &upBody{rc: resp.Body, c: c, u: u, stop: stop, reusable: !resp.Close && !req.Close}
	if resp.Body == http.NoBody {
		b.finish(true)
	}
	resp.Body = b
	return resp, true, nil
}

// isConnClosed tells an error of a connection the peer had closed.
func isConnClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

// upBody is an answer's body: read to its end, it gives the connection
// back to the pool; closed early, it closes the connection.
type upBody struct {
	rc       io.ReadCloser
	c        *upConn
	u        *upstream
	stop     func() bool
	reusable bool
	mu       sync.Mutex
	done     bool
}

func (b *upBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.finish(true)
	}
	return n, err
}

func (b *upBody) Close() error {
	b.finish(false)
	return nil
}

// finish ends the body once: the connection goes back to the pool if
// the body was read to its end, the answer allows it and the request was
// not cancelled meanwhile; otherwise it is closed.
func (b *upBody) finish(eof bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	b.done = true
	notCancelled := b.stop()
	if eof && b.reusable && notCancelled {
		b.u.put(b.c)
		return
	}
	b.c.Close()
}

// get returns an idle connection to addr, or dials one.
func (u *upstream) get(ctx context.Context, addr string) (c *upConn, reused bool, err error) {
	now := time.Now()
	u.mu.Lock()
	list := u.idle[addr]
	for len(list) > 0 {
		c = list[len(list)-1]
		list[len(list)-1] = nil
		list = list[:len(list)-1]
		if now.Sub(c.idleSince) < u.idleTimeout {
			break
		}
		c.Close()
		c = nil
	}
	u.idle[addr] = list
	u.mu.Unlock()
	if c != nil {
		return c, true, nil
	}
	conn, err := u.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	conn = rawIO(conn)
	c = &upConn{Conn: conn, addr: addr, bw: bufio.NewWriterSize(conn, 4<<10)}
	c.rd.c = c
	c.br = bufio.NewReaderSize(&c.rd, 4<<10)
	return c, false, nil
}

// put keeps c for the next request to its endpoint, or closes it when
// the endpoint has maxIdlePerHost idle connections already.
func (u *upstream) put(c *upConn) {
	c.idleSince = time.Now()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.idle[c.addr]) >= u.maxIdlePerHost {
		c.Close()
		return
	}
	u.idle[c.addr] = append(u.idle[c.addr], c)
	if u.reaper == nil {
		u.reaper = time.AfterFunc(u.idleTimeout, u.reap)
	}
}

// reap closes the connections idle for idleTimeout, so that none is
// kept for an endpoint that is gone; it runs while any is idle.
func (u *upstream) reap() {
	now := time.Now()
	u.mu.Lock()
	defer u.mu.Unlock()
	for addr, list := range u.idle {
		kept := list[:0]
		for _, c := range list {
			if now.Sub(c.idleSince) < u.idleTimeout {
				kept = append(kept, c)
			} else {
				c.Close()
			}
		}
		clear(list[len(kept):])
		if len(kept) == 0 {
			delete(u.idle, addr)
		} else {
			u.idle[addr] = kept
		}
	}
	u.reaper = nil
	if len(u.idle) > 0 {
		u.reaper = time.AfterFunc(u.idleTimeout/2, u.reap)
	}
}

// closeIdle closes every idle connection.
func (u *upstream) closeIdle() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for addr, list := range u.idle {
		for _, c := range list {
			c.Close()
		}
		delete(u.idle, addr)
	}
	u.fallback.CloseIdleConnections()
}
