package ingress

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/klog/v2"
)

// Timeouts of the client side, the same on the fast path and on net/http.
const (
	// readHeaderTimeout bounds reading a request head (and a TLS
	// handshake), from its first byte.
	readHeaderTimeout = 30 * time.Second
	// clientIdleTimeout closes a keep-alive connection that sends no new
	// request for this long.
	clientIdleTimeout = 120 * time.Second
	// clientReadBuffer is the size of a connection's read buffer, and so
	// the largest request head the fast path takes (larger ones go to
	// net/http, whose limit is 1 MiB).
	clientReadBuffer  = 8 << 10
	clientWriteBuffer = 4 << 10
)

// frontServer serves one listener of the ingress. Each accepted
// connection (on the HTTPS listener: after the TLS handshake, when ALPN
// did not pick "h2") is served by the fast path: one goroutine reads a
// request head at a time, and takes it when parseRequestHead does.
// Anything the fast path does not take is handed, with the bytes read
// so far, to fallback, a net/http server with the Proxy as its handler,
// which serves that connection from then on; so are HTTP/2 connections.
type frontServer struct {
	proxy    *Proxy
	tls      *tls.Config // nil: plain HTTP
	fallback *http.Server
	handoff  *chanListener
	logger   klog.Logger
	// headerTimeout and idleTimeout are readHeaderTimeout and
	// clientIdleTimeout (tests shorten them before Serve).
	headerTimeout, idleTimeout time.Duration

	mu    sync.Mutex
	conns map[*clientConn]struct{} // live fast-path connections; guarded by mu
	ln    net.Listener             // guarded by mu
	wg    sync.WaitGroup           // fast-path connection goroutines
	down  atomic.Bool              // shutting down
}

// newFrontServer returns a server of proxy; tlsConfig nil serves plain
// HTTP.
func newFrontServer(proxy *Proxy, tlsConfig *tls.Config, logger klog.Logger) *frontServer {
	s := &frontServer{proxy: proxy, tls: tlsConfig, logger: logger, conns: map[*clientConn]struct{}{},
		headerTimeout: readHeaderTimeout, idleTimeout: clientIdleTimeout}
	s.handoff = newChanListener()
	s.fallback = &http.Server{
		Handler:           restoreTLS{proxy},
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       clientIdleTimeout,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if hc, ok := c.(*handoffConn); ok && hc.tlsState != nil {
				return context.WithValue(ctx, tlsStateKey{}, hc.tlsState)
			}
			return ctx
		},
	}
	if tlsConfig != nil {
		// Serve sets up HTTP/2 for the handshaken *tls.Conns of "h2"
		// only when its TLSConfig names h2.
		s.fallback.TLSConfig = &tls.Config{NextProtos: []string{"h2", "http/1.1"}}
	}
	return s
}

// tlsStateKey keys, in a handed-off connection's context, its
// *tls.ConnectionState.
type tlsStateKey struct{}

// restoreTLS sets Request.TLS of requests that came over TLS on a
// connection handed off after the handshake: net/http sees only the
// wrapper, not the *tls.Conn.
type restoreTLS struct{ h http.Handler }

func (h restoreTLS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil {
		if st, ok := r.Context().Value(tlsStateKey{}).(*tls.ConnectionState); ok {
			r.TLS = st
		}
	}
	h.h.ServeHTTP(w, r)
}

// Serve accepts connections on ln until Shutdown, like http.Server's
// Serve, and returns http.ErrServerClosed then.
func (s *frontServer) Serve(ln net.Listener) error {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.fallback.ReadHeaderTimeout, s.fallback.IdleTimeout = s.headerTimeout, s.idleTimeout
	if s.down.Load() {
		ln.Close()
		return http.ErrServerClosed
	}
	fallbackDone := make(chan struct{})
	go func() {
		defer close(fallbackDone)
		_ = s.fallback.Serve(s.handoff)
	}()
	var delay time.Duration
	for {
		rwc, err := ln.Accept()
		if err != nil {
			if s.down.Load() {
				<-fallbackDone
				return http.ErrServerClosed
			}
			if isTemporary(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.logger.V(2).Info("ingress accept failed; retrying", "err", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			s.handoff.Close()
			return err
		}
		delay = 0
		c := &clientConn{srv: s, rwc: rawIO(rwc)}
		if !s.track(c) {
			rwc.Close()
			continue
		}
		go c.serve()
	}
}

// isTemporary: an accept error net/http retries after a pause (out of
// file descriptors and the like).
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *frontServer) track(c *clientConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *frontServer) untrack(c *clientConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// Shutdown stops accepting, closes the connections waiting for a
// request, lets those serving one finish it (their answer then says
// "Connection: close"), and waits for them until ctx ends, when it
// closes the rest. The net/http side shuts down the same way.
func (s *frontServer) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.down.Store(true)
	if s.ln != nil {
		s.ln.Close()
	}
	for c := range s.conns {
		c.closeIfIdle()
	}
	s.mu.Unlock()
	s.handoff.Close()
	fbErr := make(chan error, 1)
	go func() { fbErr <- s.fallback.Shutdown(ctx) }()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.rwc.Close()
		}
		s.mu.Unlock()
		<-done
	}
	return <-fbErr
}

// clientConn is one client connection on the fast path.
type clientConn struct {
	srv *frontServer
	rwc net.Conn // the *tls.Conn after a handshake
	br  *bufio.Reader
	bw  *bufio.Writer
	// clientIP is the X-Forwarded-For value ("" when the remote address
	// has no port: then X-Forwarded-For is not sent).
	clientIP string
	https    bool
	// idle is 1 while the connection waits for a request, 2 once
	// closed by Shutdown; set by CompareAndSwap so that Shutdown never
	// closes a connection that started reading a request.
	idle atomic.Int32
	head reqHead
	resp respHead
	// respBuf holds a copy of the answer's head while its body is read.
	respBuf []byte
	// chunked reads a chunked request body, upChunked a chunked answer.
	chunked, upChunked chunkedReader
	// firstBuf holds the first bytes of an answer of unknown length.
	firstBuf [512]byte
	scratch  [64]byte
	// lastPost: the previous request was a POST (net/http then skips
	// CR and LF before the next request line).
	lastPost bool
}

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, clientReadBuffer) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, clientWriteBuffer) }}
)

// closeIfIdle closes the connection if it is waiting for a request.
func (c *clientConn) closeIfIdle() {
	if c.idle.CompareAndSwap(1, 2) {
		c.rwc.Close()
	}
}

// serve runs the connection: handshake, then requests until the client
// or the proxy ends it, or the connection is handed off.
func (c *clientConn) serve() {
	defer c.srv.untrack(c)
	handedOff := false
	defer func() {
		if !handedOff {
			c.rwc.Close()
		}
	}()
	if ip, _, err := net.SplitHostPort(c.rwc.RemoteAddr().String()); err == nil {
		c.clientIP = ip
	}
	if c.srv.tls != nil {
		tc := tls.Server(c.rwc, c.srv.tls)
		c.rwc = tc
		c.https = true
		_ = tc.SetDeadline(time.Now().Add(c.srv.headerTimeout))
		if err := tc.Handshake(); err != nil {
			c.srv.logger.V(4).Info("ingress TLS handshake failed", "remote", tc.RemoteAddr(), "err", err)
			return
		}
		_ = tc.SetDeadline(time.Time{})
		if tc.ConnectionState().NegotiatedProtocol == "h2" {
			handedOff = c.srv.handoff.give(tc)
			return
		}
	}
	c.br = readerPool.Get().(*bufio.Reader)
	c.br.Reset(c.rwc)
	c.bw = writerPool.Get().(*bufio.Writer)
	c.bw.Reset(c.rwc)
	defer func() {
		c.bw.Reset(nil)
		writerPool.Put(c.bw)
		if c.br != nil {
			c.br.Reset(nil)
			readerPool.Put(c.br)
		}
	}()
	first := true
	for {
		if !first {
			if !c.waitForRequest() {
				return
			}
		} else {
			_ = c.rwc.SetReadDeadline(time.Now().Add(c.srv.headerTimeout))
			first = false
		}
		st, err := c.readHead()
		if err != nil {
			return
		}
		if st == headHandOff {
			handedOff = c.handOff()
			return
		}
		if !c.srv.proxy.forward(c, &c.head) {
			return
		}
	}
}

// waitForRequest waits up to clientIdleTimeout for the next request's
// first byte, then gives its head readHeaderTimeout; false when the
// connection is to end.
func (c *clientConn) waitForRequest() bool {
	if c.br.Buffered() == 0 {
		c.idle.Store(1)
		if c.srv.down.Load() {
			return false
		}
		_ = c.rwc.SetReadDeadline(time.Now().Add(c.srv.idleTimeout))
		_, err := c.br.Peek(1)
		if !c.idle.CompareAndSwap(1, 0) || err != nil {
			return false // closed by Shutdown, timed out, or gone
		}
	}
	if c.srv.down.Load() {
		return false
	}
	_ = c.rwc.SetReadDeadline(time.Now().Add(c.srv.headerTimeout))
	return true
}

// readHead reads until c.br holds a whole request head, parsed into
// c.head, or one the fast path does not take (headHandOff), also when
// the head would not fit in the buffer. err: the client went away or
// timed out.
func (c *clientConn) readHead() (headStatus, error) {
	if c.lastPost {
		// net/http tolerates CR and LF after a POST's body (RFC 9112
		// section 2.2), up to four bytes.
		c.lastPost = false
		if b, _ := c.br.Peek(4); len(b) > 0 {
			n := 0
			for n < len(b) && (b[n] == '\r' || b[n] == '\n') {
				n++
			}
			_, _ = c.br.Discard(n)
		}
	}
	// Parse again only when a line end has come since the last try, so
	// that a head sent a byte at a time costs at most maxHeadLines+2
	// parses.
	scanned := 0
	for {
		buf, _ := c.br.Peek(c.br.Buffered())
		newLine := bytes.IndexByte(buf[scanned:], '\n') >= 0
		scanned = len(buf)
		if newLine || len(buf) == c.br.Size() {
			st := parseRequestHead(buf, &c.head)
			if st != headIncomplete {
				c.lastPost = st == headOK && string(c.head.method) == "POST"
				return st, nil
			}
			if len(buf) == c.br.Size() {
				return headHandOff, nil
			}
		}
		if _, err := c.br.Peek(len(buf) + 1); err != nil {
			if len(buf) > 0 && errors.Is(err, io.EOF) {
				return 0, io.ErrUnexpectedEOF
			}
			return 0, err
		}
	}
}

// handOff gives the connection, with the bytes read but not consumed,
// to the net/http server; false if it is shutting down.
func (c *clientConn) handOff() bool {
	_ = c.rwc.SetReadDeadline(time.Time{})
	hc := &handoffConn{Conn: c.rwc}
	if n := c.br.Buffered(); n > 0 {
		b, _ := c.br.Peek(n)
		hc.pending = append([]byte(nil), b...)
	}
	if tc, ok := c.rwc.(*tls.Conn); ok {
		st := tc.ConnectionState()
		hc.tlsState = &st
	}
	c.br.Reset(nil)
	readerPool.Put(c.br)
	c.br = nil
	return c.srv.handoff.give(hc)
}

// handoffConn is a connection handed to net/http: Read returns the
// bytes the fast path had read ahead first.
type handoffConn struct {
	net.Conn
	pending  []byte
	tlsState *tls.ConnectionState // of the TLS connection it wraps, if any
}

func (c *handoffConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// chanListener is the net.Listener the net/http server accepts
// handed-off connections from.
type chanListener struct {
	ch     chan net.Conn
	done   chan struct{}
	closer sync.Once
}

func newChanListener() *chanListener {
	return &chanListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

// give passes c to Accept; false (and c closed) when the listener is
// closed.
func (l *chanListener) give(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		c.Close()
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.closer.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return handoffAddr{} }

type handoffAddr struct{}

func (handoffAddr) Network() string { return "handoff" }
func (handoffAddr) String() string  { return "handoff" }
