// Package hostlock serializes the tests that use this machine's shared
// resources: containerd and CNI networks, nftables, and the ports a node
// agent or a server takes (10250, 53, 80, 443). `go test ./...` runs
// packages in parallel, so two such tests in different packages would
// otherwise fight over them. Each takes the lock for its whole run, as
// k3s' integration tests share one file lock.
package hostlock

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Path is the lock file. It is not the one developers wrap whole `go
// test` runs in (flock /tmp/navarch-e2e.lock ...), so a test under that
// outer lock can still take this one.
const Path = "/run/lock/navarch-test-host.lock"

// Lock blocks until this test holds the host, and releases it when the
// test ends. It fails the test if the lock file cannot be used.
func Lock(t testing.TB) {
	t.Helper()
	start := time.Now()
	release, err := Acquire()
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Logf("hostlock: waited %v for another test to release the host", waited.Round(time.Second))
	}
	t.Cleanup(release)
}

// Acquire blocks until the calling process holds the host, for programs
// (benchmarks) that use the same resources as the tests. The lock is an
// flock on Path: it goes with the process if release is never called.
func Acquire() (release func(), err error) {
	if err := os.MkdirAll(filepath.Dir(Path), 0o755); err != nil {
		return nil, fmt.Errorf("hostlock: %w", err)
	}
	f, err := os.OpenFile(Path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("hostlock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("hostlock: %w", err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
