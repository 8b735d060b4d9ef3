// Package benchserver holds what the benchmark programs share about the
// navarch server they measure: a free port to run it on, waiting until it
// is ready, reading its memory, stopping it, and running on the host
// under the test host lock.
package benchserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/navarch/navarch/test/hostlock"
)

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WaitReady polls /readyz every 5 ms.
func WaitReady(kubeconfig string, timeout time.Duration) (*rest.Config, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig); err == nil {
			if c, err := kubernetes.NewForConfig(cfg); err == nil {
				if body, err := c.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(context.Background()); err == nil && string(body) == "ok" {
					return cfg, nil
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil, fmt.Errorf("server not ready after %v", timeout)
}

// RSSMiB returns the resident memory of a process (VmRSS), or -1.
func RSSMiB(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.Atoi(f[1])
			return float64(kb) / 1024
		}
	}
	return -1
}

// MemoryMiB returns the resident memory of a process split into anonymous
// memory (the heap, stacks) and file pages mapped in (etcd's database),
// from /proc/<pid>/status; -1 when unknown.
func MemoryMiB(pid int) (anon, file float64) {
	anon, file = -1, -1
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return anon, file
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		switch f[0] {
		case "RssAnon:":
			anon = float64(kb) / 1024
		case "RssFile:":
			file = float64(kb) / 1024
		}
	}
	return anon, file
}

// StopProcess sends p SIGTERM and waits for exited (closed when p has been
// waited for), killing p after grace.
func StopProcess(p *os.Process, exited <-chan struct{}, grace time.Duration) error {
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return nil
	case <-time.After(grace):
		_ = p.Kill()
		<-exited
		return fmt.Errorf("did not stop within %v of SIGTERM; killed", grace)
	}
}

// PrintLogTails writes the last 15 lines of each log file to stderr, for
// a run that failed.
func PrintLogTails(paths []string) {
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		fmt.Fprintf(os.Stderr, "--- last lines of %s\n%s\n", path, strings.Join(lines, "\n"))
	}
}

// RunOnHost runs a benchmark that uses the host's shared resources
// (containerd, pod networking, nftables, node ports) while holding the
// test host lock (test/hostlock), so that it never runs beside a
// real-runtime test, with a context ended by SIGINT or SIGTERM. It exits
// the program with status 1 when the lock cannot be taken or run fails.
func RunOnHost(run func(context.Context) error) {
	// The lock is taken before interrupts are caught: waiting for it, an
	// interrupt just ends the program, which has nothing to clean up yet.
	start := time.Now()
	release, err := hostlock.Acquire()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if waited := time.Since(start); waited > time.Second {
		fmt.Printf("waited %v for the host lock\n", waited.Round(time.Second))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err = run(ctx)
	stop()
	release()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
