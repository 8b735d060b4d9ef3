package nodeapi

import (
	"context"
	"time"
)

// logWaiter is how a followed read waits for its log file to change.
type logWaiter interface {
	// wait blocks until the log file's directory may have changed (a
	// write, a file created, renamed or removed), for at most d, or until
	// ctx ends. It may return early for no reason.
	wait(ctx context.Context, d time.Duration)
	// close releases the waiter.
	close()
}

// newWaiter makes the waiter of a followed read; tests replace it.
var newWaiter = newLogWaiter

// newLogWaiter returns a waiter for the log file at path: an inotify
// watch of its directory where the kernel offers one (see
// newInotifyWaiter), else polling every pollInterval.
func newLogWaiter(path string) logWaiter {
	if w, err := newInotifyWaiter(path); err == nil {
		return w
	}
	return pollWaiter{}
}

// pollWaiter waits pollInterval (or less) whatever happens.
type pollWaiter struct{}

func (pollWaiter) wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(min(d, pollInterval))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (pollWaiter) close() {}
