// Package benchserver holds what the benchmark programs share about the
// navarch server they measure: a free port to run it on, waiting until it
// is ready, reading its memory, and stopping it.
package benchserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
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
