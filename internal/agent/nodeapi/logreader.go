package nodeapi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Streams of a CRI log entry, and the stream selection of PodLogOptions.
const (
	streamStdout = "stdout"
	streamStderr = "stderr"

	StreamAll    = "All"
	StreamStdout = "Stdout"
	StreamStderr = "Stderr"
)

// timestampFormat is how `kubectl logs --timestamps` shows an entry's
// time: RFC 3339 with fixed nanoseconds, as the kubelet prints it.
const timestampFormat = "2006-01-02T15:04:05.000000000Z07:00"

// logEntry is one line of a CRI log file:
//
//	<RFC3339Nano> stdout|stderr P|F <message>
//
// P marks a partial entry: the runtime split a long line, and the next
// entry continues it; F ends the line.
type logEntry struct {
	time    time.Time
	stream  string
	partial bool
	msg     []byte
}

// errBadLogLine is returned for a line that is not in the CRI format.
var errBadLogLine = errors.New("nodeapi: not a CRI log line")

// parseLogLine parses one CRI log line (without its newline). msg shares
// line's memory.
func parseLogLine(line []byte) (logEntry, error) {
	var e logEntry
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return e, errBadLogLine
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return e, fmt.Errorf("%w: timestamp %q", errBadLogLine, ts)
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok || (string(stream) != streamStdout && string(stream) != streamStderr) {
		return e, fmt.Errorf("%w: stream %q", errBadLogLine, stream)
	}
	tags, msg, _ := bytes.Cut(rest, []byte{' '})
	// Tags are ':'-separated; the first says partial or full.
	first, _, _ := bytes.Cut(tags, []byte{':'})
	switch string(first) {
	case "P":
		e.partial = true
	case "F":
	default:
		return e, fmt.Errorf("%w: tag %q", errBadLogLine, tags)
	}
	e.time, e.stream, e.msg = t, string(stream), msg
	return e, nil
}

// logOptions is what a /containerLogs request asks for (the kubelet's
// reading of PodLogOptions).
type logOptions struct {
	follow     bool
	previous   bool
	timestamps bool
	// tailLines, when set, starts at the last N lines of the file.
	tailLines *int64
	// limitBytes, when set, ends the output after that many bytes.
	limitBytes *int64
	// since drops entries written before it (zero: none dropped).
	since time.Time
	// stream is StreamAll (or ""), StreamStdout or StreamStderr.
	stream string
}

// logFollower says whether more can still be written to the file being
// read: the container is running. Followed reads end once it returns
// false and the file is drained.
type logFollower func(ctx context.Context) bool

// Intervals of a followed read: how often it asks the runtime whether
// the container still runs, and how often it looks at the file for new
// data when inotify is not available (with inotify, a write wakes it at
// once). Tests change them.
var (
	runningInterval = 500 * time.Millisecond
	pollInterval    = 100 * time.Millisecond
)

// errLimitReached ends a read at limitBytes.
var errLimitReached = errors.New("nodeapi: log byte limit reached")

// logWriter renders entries: it joins partial entries into one line,
// prefixes each line with its time when asked, filters by stream and
// time, and stops at the byte limit.
type logWriter struct {
	w    io.Writer
	opts logOptions
	// midLine is true while the last entry written was partial: the
	// next one continues its line and gets no timestamp.
	midLine bool
	// written counts bytes written (for limitBytes).
	written int64
}

func (lw *logWriter) write(e logEntry) error {
	if !lw.opts.since.IsZero() && e.time.Before(lw.opts.since) {
		return nil
	}
	switch lw.opts.stream {
	case StreamStdout:
		if e.stream != streamStdout {
			return nil
		}
	case StreamStderr:
		if e.stream != streamStderr {
			return nil
		}
	}
	var buf []byte
	if lw.opts.timestamps && !lw.midLine {
		buf = append(buf, e.time.Format(timestampFormat)...)
		buf = append(buf, ' ')
	}
	buf = append(buf, e.msg...)
	if !e.partial {
		buf = append(buf, '\n')
	}
	lw.midLine = e.partial
	if lw.opts.limitBytes != nil {
		left := *lw.opts.limitBytes - lw.written
		if int64(len(buf)) >= left {
			n, err := lw.w.Write(buf[:left])
			lw.written += int64(n)
			if err != nil {
				return err
			}
			return errLimitReached
		}
	}
	n, err := lw.w.Write(buf)
	lw.written += int64(n)
	return err
}

// readLogs copies the CRI log file at path to w as opts say. With
// opts.follow it keeps reading as the file grows (and reopens path when
// the file was rotated, replaced by a new one) until ctx ends or running
// reports the container stopped and the file is drained, as the
// kubelet's follow ends with the container it follows (a restart is a
// new container, with a new file). It waits for data on an inotify
// watch of the file's directory, polling where inotify is unavailable. flush is called
// whenever the reader has caught up with the file (nil: never). Lines
// that are not in the CRI format are skipped.
func readLogs(ctx context.Context, path string, opts logOptions, w io.Writer, flush func(), running logFollower) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("nodeapi: opening log file: %w", err)
	}
	defer func() { f.Close() }()
	var waiter logWaiter
	if opts.follow {
		// Watching starts before the first read, so nothing written
		// after it goes unnoticed.
		waiter = newWaiter(path)
		defer waiter.close()
	}
	if opts.tailLines != nil {
		start, err := tailStart(f, *opts.tailLines)
		if err != nil {
			return err
		}
		if _, err := f.Seek(start, io.SeekStart); err != nil {
			return fmt.Errorf("nodeapi: reading log file: %w", err)
		}
	}
	lw := &logWriter{w: w, opts: opts}
	r := bufio.NewReaderSize(f, 64<<10)
	// pending holds a line whose newline has not been written yet.
	var pending []byte
	stopped := false
	var lastRunningCheck time.Time
	for {
		chunk, err := r.ReadSlice('\n')
		if err == nil || errors.Is(err, bufio.ErrBufferFull) {
			pending = append(pending, chunk...)
			if err != nil {
				continue
			}
			line := bytes.TrimSuffix(pending, []byte{'\n'})
			if e, perr := parseLogLine(line); perr == nil {
				if werr := lw.write(e); werr != nil {
					if errors.Is(werr, errLimitReached) {
						return nil
					}
					return werr
				}
			}
			pending = pending[:0]
			continue
		}
		if !errors.Is(err, io.EOF) {
			return fmt.Errorf("nodeapi: reading log file: %w", err)
		}
		pending = append(pending, chunk...)
		// Caught up with the file.
		if flush != nil {
			flush()
		}
		if !opts.follow || stopped {
			return nil
		}
		if rotated, err := reopenIfRotated(path, f); err != nil {
			return err
		} else if rotated != nil {
			// The old file is drained; go on with the new one.
			f.Close()
			f = rotated
			r.Reset(f)
			pending = pending[:0]
			continue
		}
		if now := time.Now(); now.Sub(lastRunningCheck) >= runningInterval {
			lastRunningCheck = now
			if !running(ctx) {
				// One more pass drains what was written before the end.
				stopped = true
				continue
			}
		}
		waiter.wait(ctx, max(time.Until(lastRunningCheck.Add(runningInterval)), time.Millisecond))
		if ctx.Err() != nil {
			return nil
		}
	}
}

// reopenIfRotated returns path opened anew when it no longer names the
// open file f (the runtime or a log rotator moved f away and created a
// new file), or when f was truncated (then f itself, rewound). nil means
// keep reading f.
func reopenIfRotated(path string, f *os.File) (*os.File, error) {
	current, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("nodeapi: log file: %w", err)
	}
	onDisk, err := os.Stat(path)
	if err != nil {
		// Moved away, the new file not created yet: keep waiting.
		return nil, nil
	}
	if !os.SameFile(current, onDisk) {
		nf, err := os.Open(path)
		if err != nil {
			return nil, nil
		}
		return nf, nil
	}
	pos, err := f.Seek(0, io.SeekCurrent)
	if err == nil && onDisk.Size() < pos {
		// Truncated in place (copytruncate): start over.
		nf, err := os.Open(path)
		if err != nil {
			return nil, nil
		}
		return nf, nil
	}
	return nil, nil
}

// tailStart returns the offset where the last n complete lines of f
// begin, partial entries joined with the entry that ends them (an
// unfinished last line is not counted: it is still being written). With
// fewer than n lines it returns 0, with n <= 0 the end of the file.
func tailStart(f *os.File, n int64) (int64, error) {
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("nodeapi: reading log file: %w", err)
	}
	if n <= 0 {
		return end, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("nodeapi: reading log file: %w", err)
	}
	r := bufio.NewReaderSize(f, 64<<10)
	// ring holds the start offsets of the last n complete lines; once
	// full, next is the oldest.
	ring := make([]int64, 0, min(n, 1024))
	next := 0
	var offset, lineStart int64
	inLine, physicalStart, partial, valid := false, true, false, false
	for {
		chunk, err := r.ReadSlice('\n')
		if len(chunk) > 0 && physicalStart {
			if !inLine {
				lineStart, inLine = offset, true
			}
			// The tag is at the head of the physical line.
			e, perr := parseLogLine(bytes.TrimSuffix(chunk, []byte{'\n'}))
			valid, partial = perr == nil, perr == nil && e.partial
			physicalStart = false
		}
		offset += int64(len(chunk))
		switch {
		case err == nil:
			physicalStart = true
			if !valid {
				// Not a log line (readLogs skips it): not counted.
				inLine = false
				continue
			}
			if !partial {
				inLine = false
				if int64(len(ring)) < n {
					ring = append(ring, lineStart)
				} else {
					ring[next] = lineStart
					next = (next + 1) % len(ring)
				}
			}
		case errors.Is(err, bufio.ErrBufferFull):
			// An overlong physical line goes on.
		case errors.Is(err, io.EOF):
			if int64(len(ring)) < n {
				return 0, nil
			}
			return ring[next], nil
		default:
			return 0, fmt.Errorf("nodeapi: reading log file: %w", err)
		}
	}
}
