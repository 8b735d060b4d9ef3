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

// netns is a network namespace held open by a file descriptor, with the
// process's own namespace to return to.
type netns struct {
	path string
	f    *os.File
	home *os.File
}

// openNetns opens the namespace mounted at path.
func openNetns(path string) (*netns, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening network namespace: %w", err)
	}
	// The thread group leader's namespace: the bench never moves it.
	home, err := os.Open("/proc/self/ns/net")
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening the process's network namespace: %w", err)
	}
	return &netns{path: path, f: f, home: home}, nil
}

// Close releases the namespaces' file descriptors.
func (n *netns) Close() error {
	return errors.Join(n.f.Close(), n.home.Close())
}

// do runs fn on an OS thread that has entered the namespace, and waits for
// it; the thread returns to the process's namespace before it runs other
// goroutines again.
//
// The thread is not simply left to die with its goroutine (which
// LockOSThread without UnlockOSThread would do): any thread may be the
// one that started the server or nginx, and they are started with
// Pdeathsig, which the kernel sends when that thread, not the process,
// exits. Only if the way back fails is the thread given up that way.
func (n *netns) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(int(n.f.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread() // a failed setns changes nothing
			errc <- fmt.Errorf("entering network namespace %s: %w", n.path, err)
			return
		}
		err := fn()
		if rerr := unix.Setns(int(n.home.Fd()), unix.CLONE_NEWNET); rerr != nil {
			errc <- errors.Join(err, fmt.Errorf("leaving network namespace %s: %w", n.path, rerr))
			return // locked: the thread, still in the pod's namespace, ends here
		}
		runtime.UnlockOSThread()
		errc <- err
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
