package main

// Loading the targets from inside a pod's network namespace.
//
// Traffic from the host to a ClusterIP is not what a pod's traffic is:
// the host's packets are DNATed in the nat output hook and the kernel
// then routes each of them again (ip_route_me_harder), while a pod's are
// DNATed in prerouting, before their only routing decision. To measure
// what pods get, the load generator's sockets are created inside a client
// pod's network namespace: a socket belongs to the namespace of the thread
// that created it and stays there, so only the dial needs a thread in the
// pod's namespace; reads and writes then run on any goroutine of the bench
// process. No load generator image is needed, and the load generator's
// cpu is the same in both modes.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sort"

	"golang.org/x/sys/unix"
)

// netnsDir is where containerd's CRI plugin mounts the sandboxes' network
// namespaces (cni-<uuid>).
const netnsDir = "/var/run/netns"

// netns is a network namespace held open by a file descriptor.
type netns struct {
	path string
	f    *os.File
}

// openNetns opens the namespace mounted at path.
func openNetns(path string) (*netns, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening network namespace: %w", err)
	}
	return &netns{path: path, f: f}, nil
}

// Close releases the namespace's file descriptor.
func (n *netns) Close() error { return n.f.Close() }

// do runs fn on an OS thread that has entered the namespace, and waits for
// it. The thread is never handed back to the Go scheduler: its goroutine
// ends locked (no UnlockOSThread), so the runtime terminates the thread
// instead of running other goroutines in the pod's namespace.
func (n *netns) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(int(n.f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("entering network namespace %s: %w", n.path, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// dial opens a TCP connection to addr (an IP address and a port: no name
// is resolved in the namespace) from inside the namespace. The dial's
// socket is created on the namespace's thread; the connection can then be
// used from any goroutine.
func (n *netns) dial(ctx context.Context, d *net.Dialer, addr string) (net.Conn, error) {
	var conn net.Conn
	err := n.do(func() error {
		var err error
		conn, err = d.DialContext(ctx, "tcp", addr)
		return err
	})
	return conn, err
}

// addrs lists the IPv4 and IPv6 addresses of the namespace's interfaces.
func (n *netns) addrs() ([]net.IP, error) {
	var ips []net.IP
	err := n.do(func() error {
		list, err := net.InterfaceAddrs()
		if err != nil {
			return err
		}
		for _, a := range list {
			if ipn, ok := a.(*net.IPNet); ok {
				ips = append(ips, ipn.IP)
			}
		}
		return nil
	})
	return ips, err
}

// findNetns returns the network namespace under dir one of whose
// interfaces has ip: a pod sandbox's, found by its pod IP.
func findNetns(dir string, ip net.IP) (*netns, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing network namespaces: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		n, err := openNetns(filepath.Join(dir, name))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ips, err := n.addrs()
		if err != nil {
			errs = append(errs, err)
			n.Close()
			continue
		}
		for _, a := range ips {
			if a.Equal(ip) {
				return n, nil
			}
		}
		n.Close()
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("no network namespace of the %d in %s has address %s: %w", len(names), dir, ip, errors.Join(errs...))
	}
	return nil, fmt.Errorf("no network namespace of the %d in %s has address %s", len(names), dir, ip)
}
