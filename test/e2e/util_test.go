package e2e

import (
	"bytes"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
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

// running is a command started in the background, its output collected.
type running struct {
	cmd         *exec.Cmd
	out, errOut syncBuffer
	done        chan error
}

// startRunning starts cmd (whose Stdin, if any, is set) in the background.
func startRunning(t *testing.T, cmd *exec.Cmd) *running {
	t.Helper()
	r := &running{cmd: cmd, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = &r.out, &r.errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- cmd.Wait() }()
	return r
}

// wait returns the command's exit error once it ends; if it has not ended
// within timeout, it kills it and ended is false.
func (r *running) wait(timeout time.Duration) (ended bool, err error) {
	select {
	case err := <-r.done:
		return true, err
	case <-time.After(timeout):
		_ = r.cmd.Process.Kill()
		<-r.done
		return false, nil
	}
}
