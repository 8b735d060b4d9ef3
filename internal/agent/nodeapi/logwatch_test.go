package nodeapi

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/navarch/navarch/test/poll"
)

// withIntervals sets the follow intervals for the test.
func withIntervals(t *testing.T, running, poll time.Duration) {
	t.Helper()
	oldRunning, oldPoll := runningInterval, pollInterval
	runningInterval, pollInterval = running, poll
	t.Cleanup(func() { runningInterval, pollInterval = oldRunning, oldPoll })
}

// TestReadLogsFollowWakesOnInotify: with inotify, a followed read sees
// writes and a rotation at once, with no polling at all
// (the intervals are an hour).
func TestReadLogsFollowWakesOnInotify(t *testing.T) {
	path := writeLog(t, criLine(at(0), "stdout", "F", "first"))
	w, err := newInotifyWaiter(path)
	if err != nil {
		t.Skipf("inotify is not available here: %v", err)
	}
	w.close()
	withIntervals(t, time.Hour, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	var stopped atomic.Bool
	out, _, done := follow(t, ctx, path, logOptions{}, &stopped)
	poll.Until(t, 10*time.Second, "the existing line", func() bool { return out.String() == "first\n" })
	appendLog(t, path, criLine(at(1), "stdout", "F", "second"))
	poll.Until(t, 10*time.Second, "a line written while following", func() bool { return out.String() == "first\nsecond\n" })
	// Rotation: renamed away, then a new file at the path.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendLog(t, path, criLine(at(2), "stdout", "F", "rotated"))
	poll.Until(t, 10*time.Second, "the line in the new file", func() bool { return strings.HasSuffix(out.String(), "rotated\n") })
	appendLog(t, path, criLine(at(3), "stdout", "F", "more"))
	poll.Until(t, 10*time.Second, "a line written to the new file", func() bool { return strings.HasSuffix(out.String(), "more\n") })
	// The end of the request ends the wait at once.
	cancel()
	waitDone(t, done)
	if got, want := out.String(), "first\nsecond\nrotated\nmore\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestReadLogsFollowPollsWithoutInotify: where inotify is unavailable,
// a followed read polls the file.
func TestReadLogsFollowPollsWithoutInotify(t *testing.T) {
	withIntervals(t, time.Hour, 10*time.Millisecond)
	newWaiter = func(string) logWaiter { return pollWaiter{} }
	t.Cleanup(func() { newWaiter = newLogWaiter })
	path := writeLog(t, criLine(at(0), "stdout", "F", "first"))
	ctx, cancel := context.WithCancel(context.Background())
	var stopped atomic.Bool
	out, _, done := follow(t, ctx, path, logOptions{}, &stopped)
	poll.Until(t, 10*time.Second, "the existing line", func() bool { return out.String() == "first\n" })
	appendLog(t, path, criLine(at(1), "stdout", "F", "second"))
	poll.Until(t, 10*time.Second, "a line written while following", func() bool { return out.String() == "first\nsecond\n" })
	cancel()
	waitDone(t, done)
}
