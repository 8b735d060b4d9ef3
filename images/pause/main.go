// Command pause is the pod sandbox's process (see internal/images/pause).
// `go generate ./internal/images/pausebin` builds it static for each
// architecture navarch embeds; the agent builds its pause image from it.
package main

import (
	"os"

	"github.com/navarch/navarch/internal/images/pause"
)

func main() {
	os.Exit(pause.Run(os.Stderr))
}
