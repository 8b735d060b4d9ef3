package pause

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Run blocks until the process gets SIGTERM or SIGINT and returns the
// exit code (0). Meanwhile it reaps every child that exits. It writes one
// line to w once the signals are caught and one when it shuts down.
func Run(w io.Writer) int {
	signals := make(chan os.Signal, 16)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	defer signal.Stop(signals)
	// Said once the signals are caught, so a caller can tell when a
	// SIGTERM is handled rather than fatal.
	fmt.Fprintln(w, "pause: waiting for SIGTERM or SIGINT")
	// A child may have exited before Notify took effect.
	reap()
	for sig := range signals {
		if sig == syscall.SIGCHLD {
			reap()
			continue
		}
		fmt.Fprintf(w, "pause: shutting down, got signal %v\n", sig)
		return 0
	}
	return 0
}

// reap collects every exited child without blocking. Signals coalesce,
// so one SIGCHLD may stand for many exits.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
