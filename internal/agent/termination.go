package agent

import (
	"bufio"
	"bytes"
	"io"
	"os"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/navarch/navarch/internal/agent/volume"
)

// annotationTerminationMessagePolicy keeps the container's
// terminationMessagePolicy for exitMessage (the kubelet's key).
const annotationTerminationMessagePolicy = "io.kubernetes.container.terminationMessagePolicy"

// The kubelet's limits on a termination message taken from the logs
// (terminationMessagePolicy FallbackToLogsOnError): the first 2 KiB of
// the last 80 lines.
const (
	fallbackLogLines = 80
	fallbackLogBytes = 2048
	// fallbackLogWindow is how much of the log file's end is read to find
	// those lines.
	fallbackLogWindow = 64 * 1024
)

// exitMessage is an exited container's terminated-state message, as the
// kubelet builds it: the runtime's message, then what the container wrote
// to its termination-message file or, with FallbackToLogsOnError and a
// failure, the end of its log.
func exitMessage(c *runtimeapi.ContainerStatus) string {
	msg := c.Message
	tm := volume.TerminationMessage(c, c.Annotations[annotationTerminationMessagePath])
	if tm == "" && c.ExitCode != 0 && c.Reason != "ContainerCannotRun" &&
		c.Annotations[annotationTerminationMessagePolicy] == string(corev1.TerminationMessageFallbackToLogsOnError) {
		tm = logTail(c.LogPath)
	}
	if tm != "" {
		if msg != "" {
			msg += ": "
		}
		msg += tm
	}
	return msg
}

// logTail returns the first fallbackLogBytes of the last
// fallbackLogLines lines of a CRI log file ("<time> <stream> <P|F>
// <text>" per line; P marks a line continued by the next entry). A
// missing or unreadable file gives "".
func logTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	skipFirst := false
	if info, err := f.Stat(); err == nil && info.Size() > fallbackLogWindow {
		if _, err := f.Seek(info.Size()-fallbackLogWindow, io.SeekStart); err != nil {
			return ""
		}
		// The window starts mid-entry.
		skipFirst = true
	}
	var lines [][]byte
	var partial []byte
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 0, 16*1024), fallbackLogWindow)
	for s.Scan() {
		if skipFirst {
			skipFirst = false
			continue
		}
		fields := bytes.SplitN(s.Bytes(), []byte(" "), 4)
		if len(fields) < 3 {
			continue
		}
		var text []byte
		if len(fields) == 4 {
			text = fields[3]
		}
		partial = append(partial, text...)
		if string(fields[2]) == "P" {
			continue
		}
		lines = append(lines, append(partial, '\n'))
		partial = nil
	}
	if len(lines) > fallbackLogLines {
		lines = lines[len(lines)-fallbackLogLines:]
	}
	out := bytes.Join(lines, nil)
	if len(out) > fallbackLogBytes {
		out = out[:fallbackLogBytes]
	}
	return string(out)
}
