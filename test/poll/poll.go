// Package poll waits, in tests, for a condition that something else makes
// true (a goroutine, a file watcher, a controller), with a deadline
// instead of a sleep. It imports nothing of Navarch, so that any package's
// tests can use it (test/framework, which starts a whole server, cannot be
// imported by the packages that server is built from).
package poll

import (
	"testing"
	"time"
)

// Interval is how often Until checks its condition.
const Interval = 10 * time.Millisecond

// Until checks cond every Interval until it holds, and fails the test,
// naming what it waited for, if it does not within timeout.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(Interval)
	}
}
