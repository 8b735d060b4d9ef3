package prober

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/navarch/navarch/internal/agent/cri"
)

// CommandRunner runs a command in a container (cri.Runtime's ExecSync).
type CommandRunner interface {
	ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) (*runtimeapi.ExecSyncResponse, error)
}

// Exec runs an exec check: cmd in container id, bounded by timeout. Exit
// code 0 passes, any other fails, and so does a command that outlives
// the timeout; the output is the command's stdout and stderr (at most
// 10 KiB). err is set only when the command could not be run at all.
func Exec(ctx context.Context, runner CommandRunner, id string, cmd []string, timeout time.Duration) (Outcome, string, error) {
	resp, err := runner.ExecSync(ctx, id, cmd, timeout)
	if errors.Is(err, cri.ErrExecTimeout) {
		return Failed, fmt.Sprintf("command %q timed out", strings.Join(cmd, " ")), nil
	}
	if err != nil {
		return Failed, "", err
	}
	output := append(append([]byte{}, resp.Stdout...), resp.Stderr...)
	if len(output) > maxBodyLength {
		output = output[:maxBodyLength]
	}
	if resp.ExitCode != 0 {
		return Failed, string(output), nil
	}
	return Succeeded, string(output), nil
}
