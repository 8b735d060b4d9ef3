package pausebin

import (
	"embed"
	"fmt"
	"runtime"
)

//go:embed pause-linux-amd64 pause-linux-arm64
var binaries embed.FS

// ForArch returns the pause binary for a GOARCH ("amd64", "arm64").
func ForArch(arch string) ([]byte, error) {
	data, err := binaries.ReadFile("pause-linux-" + arch)
	if err != nil {
		return nil, fmt.Errorf("pausebin: no pause binary for linux/%s", arch)
	}
	return data, nil
}

// Host returns the pause binary for the architecture navarch runs on.
func Host() ([]byte, error) { return ForArch(runtime.GOARCH) }
