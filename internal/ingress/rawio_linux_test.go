//go:build linux

package ingress

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection, the first with
// raw reads and writes.
func tcpPair(t *testing.T) (raw net.Conn, peer net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer = <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	raw = rawIO(c)
	if _, ok := raw.(*rawConn); !ok {
		t.Fatalf("rawIO(%T) = %T, want *rawConn", c, raw)
	}
	t.Cleanup(func() { raw.Close(); peer.Close() })
	return raw, peer
}

func TestRawIOKeepsOtherConns(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if got := rawIO(a); got != a {
		t.Errorf("rawIO(net.Pipe) = %T, want the pipe itself", got)
	}
}

// TestRawConnLargeWrite writes more than the socket buffers hold while
// the peer reads slowly, so that writes wait for room (EAGAIN, then the
// netpoller), and the other way round for reads.
func TestRawConnLargeWrite(t *testing.T) {
	raw, peer := tcpPair(t)
	data := make([]byte, 8<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	done := make(chan error, 1)
	go func() {
		n, err := raw.Write(data)
		if err == nil && n != len(data) {
			err = io.ErrShortWrite
		}
		done <- err
	}()
	got := make([]byte, 0, len(data))
	buf := make([]byte, 3000)
	for len(got) < len(data) {
		if len(got) < 1<<20 {
			time.Sleep(time.Millisecond) // let the writer fill the buffers
		}
		n, err := peer.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("peer read after %d bytes: %v", len(got), err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("raw write: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("the peer read other bytes than were written")
	}

	// The other way: the raw side reads what the peer writes.
	go func() { _, err := peer.Write(data); done <- err }()
	got = got[:0]
	for len(got) < len(data) {
		n, err := raw.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("raw read after %d bytes: %v", len(got), err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("peer write: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("the raw side read other bytes than were written")
	}
}

func TestRawConnErrors(t *testing.T) {
	t.Run("EOF", func(t *testing.T) {
		raw, peer := tcpPair(t)
		_, _ = peer.Write([]byte("last"))
		peer.Close()
		b, err := io.ReadAll(raw)
		if err != nil || string(b) != "last" {
			t.Fatalf("ReadAll = %q, %v; want \"last\", nil (io.EOF at the end)", b, err)
		}
		if n, err := raw.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Errorf("Read after the end = %d, %v; want 0, io.EOF", n, err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		raw, _ := tcpPair(t)
		_ = raw.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		start := time.Now()
		_, err := raw.Read(make([]byte, 1))
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("Read past the deadline = %v, want a timeout", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("the read timed out after %v", d)
		}
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "read" {
			t.Errorf("error %#v is not a read *net.OpError", err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		raw, _ := tcpPair(t)
		read := make(chan error, 1)
		go func() { _, err := raw.Read(make([]byte, 1)); read <- err }()
		time.Sleep(10 * time.Millisecond) // usually parked by now; either way it must end
		raw.Close()
		select {
		case err := <-read:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("Read ended by Close = %v, want net.ErrClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Close did not end a blocked Read")
		}
		if _, err := raw.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Write after Close = %v, want net.ErrClosed", err)
		}
	})
	t.Run("peer gone", func(t *testing.T) {
		raw, peer := tcpPair(t)
		// An RST from the peer: writes then fail with ECONNRESET or
		// EPIPE, never a SIGPIPE.
		_ = peer.(*net.TCPConn).SetLinger(0)
		peer.Close()
		deadline := time.Now().Add(10 * time.Second)
		var err error
		for err == nil && time.Now().Before(deadline) {
			_, err = raw.Write([]byte("after the peer left"))
		}
		if !isConnClosed(err) {
			t.Fatalf("Write to a reset connection = %v, want ECONNRESET or EPIPE", err)
		}
	})
}
