package pause

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// processState returns the state letter of pid from /proc (Z for a
// zombie), or "" once the process is gone.
func processState(pid int) string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	// The state follows the parenthesised command name.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	return fields[0]
}

func TestReapCollectsExitedChildren(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start a child: %v", err)
	}
	pid := cmd.Process.Pid
	deadline := time.Now().Add(10 * time.Second)
	for processState(pid) != "Z" {
		if time.Now().After(deadline) {
			t.Fatalf("child %d never became a zombie (state %q)", pid, processState(pid))
		}
		time.Sleep(10 * time.Millisecond)
	}
	reap()
	if st := processState(pid); st != "" {
		t.Errorf("child %d still present (state %q) after reap", pid, st)
	}
}
