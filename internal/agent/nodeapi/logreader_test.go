package nodeapi

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/test/poll"
)

// base is the time of the first entry of the test files.
var base = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// at is base plus n seconds.
func at(n int) time.Time { return base.Add(time.Duration(n) * time.Second) }

// criLine formats one entry as containerd writes it.
func criLine(t time.Time, stream, tag, msg string) string {
	return fmt.Sprintf("%s %s %s %s\n", t.Format(time.RFC3339Nano), stream, tag, msg)
}

// sampleLog has full and partial entries on both streams, and one line
// that is not in the CRI format.
func sampleLog() string {
	return criLine(at(0), "stdout", "F", "one") +
		criLine(at(1), "stderr", "F", "two") +
		criLine(at(2), "stdout", "P", "thr") +
		criLine(at(3), "stdout", "P", "e") +
		criLine(at(4), "stdout", "F", "e!") +
		"not a log line\n" +
		criLine(at(5), "stdout", "F", "four") +
		criLine(at(6).Add(123*time.Millisecond), "stderr", "F", "five with  spaces ")
}

func writeLog(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "0.log")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func neverRunning(context.Context) bool { return false }

func TestReadLogs(t *testing.T) {
	ts := func(n int) string { return at(n).Format(timestampFormat) + " " }
	tests := []struct {
		name string
		opts logOptions
		want string
	}{
		{name: "everything, partial entries joined", want: "one\ntwo\nthree!\nfour\nfive with  spaces \n"},
		{name: "timestamps on each line, not inside joined ones", opts: logOptions{timestamps: true},
			want: ts(0) + "one\n" + ts(1) + "two\n" + ts(2) + "three!\n" + ts(5) + "four\n" +
				at(6).Add(123*time.Millisecond).Format(timestampFormat) + " five with  spaces \n"},
		{name: "tail 2", opts: logOptions{tailLines: ptr.To[int64](2)}, want: "four\nfive with  spaces \n"},
		{name: "tail counts a joined line once", opts: logOptions{tailLines: ptr.To[int64](3)}, want: "three!\nfour\nfive with  spaces \n"},
		{name: "tail 0", opts: logOptions{tailLines: ptr.To[int64](0)}, want: ""},
		{name: "tail beyond the file", opts: logOptions{tailLines: ptr.To[int64](100)}, want: "one\ntwo\nthree!\nfour\nfive with  spaces \n"},
		{name: "limit bytes cuts mid-line", opts: logOptions{limitBytes: ptr.To[int64](6)}, want: "one\ntw"},
		{name: "limit bytes at a line end", opts: logOptions{limitBytes: ptr.To[int64](8)}, want: "one\ntwo\n"},
		{name: "since drops older entries", opts: logOptions{since: at(5)}, want: "four\nfive with  spaces \n"},
		{name: "stdout only", opts: logOptions{stream: StreamStdout}, want: "one\nthree!\nfour\n"},
		{name: "stderr only", opts: logOptions{stream: StreamStderr}, want: "two\nfive with  spaces \n"},
		{name: "tail, since and timestamps", opts: logOptions{tailLines: ptr.To[int64](3), since: at(5), timestamps: true},
			want: ts(5) + "four\n" + at(6).Add(123*time.Millisecond).Format(timestampFormat) + " five with  spaces \n"},
	}
	path := writeLog(t, sampleLog())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := readLogs(context.Background(), path, tt.opts, &out, nil, neverRunning); err != nil {
				t.Fatalf("readLogs: %v", err)
			}
			if got := out.String(); got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestReadLogsMissingFile(t *testing.T) {
	err := readLogs(context.Background(), filepath.Join(t.TempDir(), "none.log"), logOptions{}, &bytes.Buffer{}, nil, neverRunning)
	if err == nil {
		t.Fatal("no error for a missing file")
	}
}

func TestParseLogLine(t *testing.T) {
	tests := []struct {
		line    string
		wantErr bool
		want    logEntry
	}{
		{line: "2026-11-22T10:00:00.5Z stdout F hello world", want: logEntry{time: base.Add(500 * time.Millisecond), stream: "stdout", msg: []byte("hello world")}},
		{line: "2026-11-22T10:00:00Z stderr P part", want: logEntry{time: base, stream: "stderr", partial: true, msg: []byte("part")}},
		{line: "2026-11-22T10:00:00Z stdout F:x empty-tagged", want: logEntry{time: base, stream: "stdout", msg: []byte("empty-tagged")}},
		{line: "2026-11-22T10:00:00Z stdout F", want: logEntry{time: base, stream: "stdout", msg: nil}},
		{line: "yesterday stdout F x", wantErr: true},
		{line: "2026-11-22T10:00:00Z stdin F x", wantErr: true},
		{line: "2026-11-22T10:00:00Z stdout X x", wantErr: true},
		{line: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseLogLine([]byte(tt.line))
		if tt.wantErr {
			if err == nil {
				t.Errorf("parseLogLine(%q) = %+v, want an error", tt.line, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseLogLine(%q): %v", tt.line, err)
			continue
		}
		if !got.time.Equal(tt.want.time) || got.stream != tt.want.stream || got.partial != tt.want.partial || string(got.msg) != string(tt.want.msg) {
			t.Errorf("parseLogLine(%q) = %+v, want %+v", tt.line, got, tt.want)
		}
	}
}

// syncBuffer is a buffer one goroutine writes and another reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// appendLog appends s to the file at path, as the runtime does.
func appendLog(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// follow runs a followed readLogs in the background; running reports
// what stopped says, and done is closed when readLogs returns.
func follow(t *testing.T, ctx context.Context, path string, opts logOptions, stopped *atomic.Bool) (out *syncBuffer, flushes *atomic.Int32, done chan error) {
	t.Helper()
	out, flushes, done = &syncBuffer{}, &atomic.Int32{}, make(chan error, 1)
	opts.follow = true
	go func() {
		done <- readLogs(ctx, path, opts, out, func() { flushes.Add(1) }, func(context.Context) bool { return !stopped.Load() })
	}()
	return out, flushes, done
}

func waitDone(t *testing.T, done chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("readLogs: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a followed read did not end")
	}
}

func TestReadLogsFollow(t *testing.T) {
	path := writeLog(t, criLine(at(0), "stdout", "F", "first"))
	var stopped atomic.Bool
	out, flushes, done := follow(t, context.Background(), path, logOptions{}, &stopped)
	poll.Until(t, 10*time.Second, "the existing line", func() bool { return out.String() == "first\n" })
	if flushes.Load() == 0 {
		t.Error("caught up with the file without flushing")
	}
	// Lines written while following come out as they are written,
	// partial entries as soon as the runtime wrote them.
	appendLog(t, path, criLine(at(1), "stdout", "F", "second"))
	poll.Until(t, 10*time.Second, "a line written after the follow started", func() bool { return out.String() == "first\nsecond\n" })
	appendLog(t, path, criLine(at(2), "stdout", "P", "half "))
	poll.Until(t, 10*time.Second, "a partial entry", func() bool { return out.String() == "first\nsecond\nhalf " })
	// A line half written by the runtime waits for its newline.
	appendLog(t, path, strings.TrimSuffix(criLine(at(3), "stdout", "F", "done"), "\n"))
	time.Sleep(3 * pollInterval)
	if got := out.String(); got != "first\nsecond\nhalf " {
		t.Fatalf("an unfinished line came out: %q", got)
	}
	// The container stops after writing its last line: the read drains
	// the file and ends by itself.
	appendLog(t, path, "\n"+criLine(at(4), "stderr", "F", "last"))
	stopped.Store(true)
	waitDone(t, done)
	if got, want := out.String(), "first\nsecond\nhalf done\nlast\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestReadLogsFollowEndsWithContext(t *testing.T) {
	path := writeLog(t, criLine(at(0), "stdout", "F", "first"))
	ctx, cancel := context.WithCancel(context.Background())
	var stopped atomic.Bool
	out, _, done := follow(t, ctx, path, logOptions{}, &stopped)
	poll.Until(t, 10*time.Second, "the existing line", func() bool { return out.String() == "first\n" })
	cancel()
	waitDone(t, done)
}

func TestReadLogsFollowTail(t *testing.T) {
	path := writeLog(t, sampleLog())
	var stopped atomic.Bool
	out, _, done := follow(t, context.Background(), path, logOptions{tailLines: ptr.To[int64](1)}, &stopped)
	poll.Until(t, 10*time.Second, "the last line", func() bool { return out.String() == "five with  spaces \n" })
	appendLog(t, path, criLine(at(7), "stdout", "F", "six"))
	stopped.Store(true)
	waitDone(t, done)
	if got, want := out.String(), "five with  spaces \nsix\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestReadLogsFollowRotation(t *testing.T) {
	path := writeLog(t, criLine(at(0), "stdout", "F", "before"))
	var stopped atomic.Bool
	out, _, done := follow(t, context.Background(), path, logOptions{}, &stopped)
	poll.Until(t, 10*time.Second, "the first line", func() bool { return out.String() == "before\n" })
	// Rotation: the file is renamed (a last line still lands in it), and
	// the runtime reopens a new file at the path.
	appendLog(t, path, criLine(at(1), "stdout", "F", "last in old"))
	if err := os.Rename(path, path+".20261122-100000"); err != nil {
		t.Fatal(err)
	}
	appendLog(t, path, criLine(at(2), "stdout", "F", "after"))
	poll.Until(t, 10*time.Second, "the line in the new file", func() bool { return strings.HasSuffix(out.String(), "after\n") })
	stopped.Store(true)
	waitDone(t, done)
	if got, want := out.String(), "before\nlast in old\nafter\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestReadLogsFollowLimit(t *testing.T) {
	path := writeLog(t, criLine(at(0), "stdout", "F", "12345"))
	var stopped atomic.Bool
	out, _, done := follow(t, context.Background(), path, logOptions{limitBytes: ptr.To[int64](9)}, &stopped)
	poll.Until(t, 10*time.Second, "the first line", func() bool { return out.String() == "12345\n" })
	// The limit ends a followed read even while the container runs.
	appendLog(t, path, criLine(at(1), "stdout", "F", "67890"))
	waitDone(t, done)
	if got, want := out.String(), "12345\n678"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
