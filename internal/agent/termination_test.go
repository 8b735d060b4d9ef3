package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestExitMessage(t *testing.T) {
	dir := t.TempDir()
	termFile := filepath.Join(dir, "term")
	if err := os.WriteFile(termFile, []byte("out of disk"), 0o666); err != nil {
		t.Fatal(err)
	}
	emptyFile := filepath.Join(dir, "empty")
	if err := os.WriteFile(emptyFile, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(dir, "0.log")
	var log strings.Builder
	for i := range 100 {
		fmt.Fprintf(&log, "2026-11-22T07:00:00.%09dZ stderr F line %d\n", i, i)
	}
	log.WriteString("2026-11-22T07:00:01.000000000Z stdout P half \n")
	log.WriteString("2026-11-22T07:00:01.000000001Z stdout F and half\n")
	if err := os.WriteFile(logFile, []byte(log.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	wantTail := ""
	for i := 21; i < 100; i++ {
		wantTail += fmt.Sprintf("line %d\n", i)
	}
	wantTail += "half and half\n"

	status := func(hostFile, policy string, code int32) *runtimeapi.ContainerStatus {
		return &runtimeapi.ContainerStatus{
			ExitCode: code, LogPath: logFile,
			Mounts: []*runtimeapi.Mount{{ContainerPath: "/dev/termination-log", HostPath: hostFile}},
			Annotations: map[string]string{
				annotationTerminationMessagePath: "/dev/termination-log", annotationTerminationMessagePolicy: policy},
		}
	}
	for _, tc := range []struct {
		name   string
		status *runtimeapi.ContainerStatus
		want   string
	}{
		{"the file", status(termFile, "File", 1), "out of disk"},
		{"the file wins over the logs", status(termFile, "FallbackToLogsOnError", 1), "out of disk"},
		{"the logs when the file is empty", status(emptyFile, "FallbackToLogsOnError", 1), wantTail},
		{"no logs on success", status(emptyFile, "FallbackToLogsOnError", 0), ""},
		{"no logs with policy File", status(emptyFile, "File", 1), ""},
		{"the runtime's message first", func() *runtimeapi.ContainerStatus {
			s := status(termFile, "File", 137)
			s.Message = "OOMKilled"
			return s
		}(), "OOMKilled: out of disk"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := exitMessage(tc.status); got != tc.want {
				t.Errorf("exitMessage = %q, want %q", got, tc.want)
			}
		})
	}
}
