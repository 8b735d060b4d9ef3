package nodeapi

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// inotifyMask is what wakes a followed read: data written to a file of
// the log directory, a file created or moved in (the runtime reopening
// the log after a rotation), moved out or removed (the rotation itself),
// or the directory itself going away.
const inotifyMask = unix.IN_MODIFY | unix.IN_CLOSE_WRITE | unix.IN_CREATE | unix.IN_MOVED_TO |
	unix.IN_MOVED_FROM | unix.IN_DELETE | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF

// inotifyWaiter waits on an inotify watch of the log file's directory.
// The directory is watched, not the file, so a file that replaces the
// followed one at its path wakes the reader too.
type inotifyWaiter struct {
	f *os.File
	// broken is set once reading the watch failed; waits then poll.
	broken atomic.Bool
	buf    [4096]byte
}

// newInotifyWaiter watches the directory of path. It fails where inotify
// is not available (no kernel support, the user's instance or watch
// limit reached); the caller then polls.
func newInotifyWaiter(path string) (*inotifyWaiter, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("nodeapi: inotify: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, filepath.Dir(path), inotifyMask); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("nodeapi: inotify watch of %s: %w", filepath.Dir(path), err)
	}
	// A non-blocking descriptor makes a pollable File: reads honour
	// deadlines, and wait never ties up a thread.
	return &inotifyWaiter{f: os.NewFile(uintptr(fd), "inotify")}, nil
}

func (w *inotifyWaiter) wait(ctx context.Context, d time.Duration) {
	if w.broken.Load() {
		pollWaiter{}.wait(ctx, d)
		return
	}
	if err := w.f.SetReadDeadline(time.Now().Add(d)); err != nil {
		w.broken.Store(true)
		pollWaiter{}.wait(ctx, d)
		return
	}
	// ctx ending cuts the read short.
	stop := context.AfterFunc(ctx, func() { _ = w.f.SetReadDeadline(time.Now()) })
	defer stop()
	// Any event is a wake-up; what changed is for the reader to find
	// out. One read drains what is queued.
	_, err := w.f.Read(w.buf[:])
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		w.broken.Store(true)
	}
}

func (w *inotifyWaiter) close() { _ = w.f.Close() }
