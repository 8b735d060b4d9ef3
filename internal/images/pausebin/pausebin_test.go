package pausebin

import (
	"bufio"
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestBinariesAreStaticForTheirArch(t *testing.T) {
	tests := []struct {
		arch    string
		machine elf.Machine
	}{
		{arch: "amd64", machine: elf.EM_X86_64},
		{arch: "arm64", machine: elf.EM_AARCH64},
	}
	for _, tt := range tests {
		t.Run(tt.arch, func(t *testing.T) {
			data, err := ForArch(tt.arch)
			if err != nil {
				t.Fatal(err)
			}
			f, err := elf.NewFile(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("not an ELF file: %v", err)
			}
			if f.Machine != tt.machine {
				t.Errorf("machine = %v, want %v", f.Machine, tt.machine)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("dynamically linked; it must run in an empty image (go generate builds it with CGO_ENABLED=0)")
				}
			}
		})
	}
	if _, err := ForArch("mips"); err == nil {
		t.Errorf("ForArch(mips) gave a binary")
	}
}

// TestHostBinaryRunsAndStopsOnSIGTERM runs the embedded binary: it must
// wait, then exit 0 on SIGTERM (as a sandbox's stop expects).
func TestHostBinaryRunsAndStopsOnSIGTERM(t *testing.T) {
	data, err := Host()
	if err != nil {
		t.Skipf("no pause binary for %s: %v", runtime.GOARCH, err)
	}
	path := filepath.Join(t.TempDir(), "pause")
	if err := os.WriteFile(path, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the pause binary: %v", err)
	}
	lines := bufio.NewScanner(stderr)
	if !lines.Scan() || !strings.Contains(lines.Text(), "waiting for SIGTERM") {
		_ = cmd.Process.Kill()
		t.Fatalf("first line = %q, want the waiting message", lines.Text())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var rest strings.Builder
	for lines.Scan() {
		rest.WriteString(lines.Text())
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("pause exited with %v, want status 0", err)
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("pause did not exit within 10s of SIGTERM")
	}
	if !strings.Contains(rest.String(), "shutting down") {
		t.Errorf("output after SIGTERM = %q, want the shutdown message", rest.String())
	}
}
