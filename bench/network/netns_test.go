package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestFindNetnsNone(t *testing.T) {
	if _, err := findNetns(t.TempDir(), net.ParseIP("198.51.100.7")); err == nil {
		t.Fatal("findNetns in an empty directory succeeded")
	}
}

// TestNetnsDial makes a network namespace of its own (ip netns add),
// finds it by an address of its loopback, and checks that a connection
// dialled through it reaches a listener only that namespace has, and that
// the threads return to the process's namespace.
func TestNetnsDial(t *testing.T) {
	if testing.Short() {
		t.Skip("creates a network namespace")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (iproute2)")
	}
	name := fmt.Sprintf("nvnetbench-%d", os.Getpid())
	addr := net.ParseIP("198.51.100.7")
	ipCmd := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	ipCmd("netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	ipCmd("-n", name, "link", "set", "lo", "up")
	ipCmd("-n", name, "addr", "add", addr.String()+"/32", "dev", "lo")

	n, err := findNetns(netnsDir, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if n.path != filepath.Join(netnsDir, name) {
		t.Fatalf("found %s, want %s", n.path, filepath.Join(netnsDir, name))
	}

	var ln net.Listener
	if err := n.do(func() (err error) {
		ln, err = net.Listen("tcp", net.JoinHostPort(addr.String(), "0"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("hi"))
			c.Close()
		}
	}()

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := n.dial(context.Background(), &net.Dialer{Timeout: 5 * time.Second}, ln.Addr().String())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			got, err := io.ReadAll(c)
			if err == nil && string(got) != "hi" {
				err = fmt.Errorf("read %q, want %q", got, "hi")
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// Every thread is back in the process's namespace.
	home, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := filepath.Glob("/proc/self/task/*/ns/net")
	if err != nil || len(tasks) == 0 {
		t.Fatalf("listing the process's threads: %v", err)
	}
	for _, task := range tasks {
		if ns, err := os.Readlink(task); err == nil && ns != home {
			t.Errorf("%s is %s, not the process's %s", task, ns, home)
		}
	}
}
