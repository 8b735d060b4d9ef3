//go:build linux

package ingress

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// rawConn is a TCP connection whose reads and writes are made with raw
// system calls on its non-blocking socket, through the netpoller's
// RawConn (which keeps its deadlines, its wait for readiness and its
// guard against Close).
//
// Why: Go's net.Conn enters every read and write as a possibly blocking
// system call. A write to a local peer runs the peer's whole TCP receive
// path inside the call (tens of microseconds on this kind of VM), long
// enough for the runtime's sysmon to take the P away from the thread in
// the call and hand it to another one (a futex wake, then a thread put to
// sleep when the call returns), and each such hand-off puts sysmon back
// to waking every 20 us. The proxy's reads and writes never block (the
// socket is non-blocking; EAGAIN parks the goroutine in the netpoller as
// net.Conn does), so making them as raw calls is safe, and spares the
// hand-offs and most of sysmon's wake-ups. A single write is bounded by
// maxRawWrite bytes, so that the P is not held for long.
type rawConn struct {
	net.Conn // a *net.TCPConn
	rc       syscall.RawConn
	// rd and wr are the state of the read and of the write in progress,
	// each guarded by its mutex, with the functions given to rc bound
	// once (a closure per call would be an allocation per call).
	rd, wr rawOp
}

// rawOp is one read or write: its buffer, then its outcome.
type rawOp struct {
	mu    sync.Mutex
	p     []byte
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

// maxRawWrite bounds the bytes given to one write system call.
const maxRawWrite = 64 << 10

// rawIO returns c with raw reads and writes when it is a TCP connection,
// c itself otherwise.
func rawIO(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	r := &rawConn{Conn: c, rc: rc}
	r.rd.fn = r.rd.read
	r.wr.fn = r.wr.write
	return r
}

// Read reads as net.Conn's Read does: what is there, or waits until
// something is (or the read deadline); io.EOF at the end of the stream.
func (c *rawConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	op := &c.rd
	op.mu.Lock()
	defer op.mu.Unlock()
	op.p, op.n, op.errno = p, 0, 0
	err := c.rc.Read(op.fn)
	op.p = nil
	switch {
	case err != nil:
		return 0, c.opError("read", err)
	case op.errno != 0:
		return 0, c.opError("read", os.NewSyscallError("read", op.errno))
	case op.n == 0:
		return 0, io.EOF
	}
	return op.n, nil
}

// read is given to RawConn.Read: true when done (op.n or op.errno set),
// false to wait until the socket is readable.
func (op *rawOp) read(fd uintptr) bool {
	for {
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&op.p[0])), uintptr(len(op.p)))
		switch e {
		case 0:
			op.n = int(r)
			return true
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			op.errno = e
			return true
		}
	}
}

// Write writes all of p, as net.Conn's Write does, waiting for room in
// the socket's buffer when it is full (or until the write deadline).
func (c *rawConn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	op := &c.wr
	op.mu.Lock()
	defer op.mu.Unlock()
	op.p, op.n, op.errno = p, 0, 0
	err := c.rc.Write(op.fn)
	op.p = nil
	switch {
	case err != nil:
		return op.n, c.opError("write", err)
	case op.errno != 0:
		return op.n, c.opError("write", os.NewSyscallError("write", op.errno))
	}
	return op.n, nil
}

// write is given to RawConn.Write: true when all of op.p is written (or
// op.errno set), false to wait for room. MSG_NOSIGNAL: a peer gone is
// EPIPE, never a SIGPIPE.
func (op *rawOp) write(fd uintptr) bool {
	for op.n < len(op.p) {
		chunk := op.p[op.n:min(len(op.p), op.n+maxRawWrite)]
		r, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&chunk[0])), uintptr(len(chunk)),
			syscall.MSG_NOSIGNAL, 0, 0)
		switch e {
		case 0:
			op.n += int(r)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			op.errno = e
			return true
		}
	}
	return true
}

// opError wraps err as net.Conn's methods do. RawConn's own errors
// (closed, deadline) come wrapped in an OpError of its own: unwrap that.
func (c *rawConn) opError(op string, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		err = oe.Err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}
