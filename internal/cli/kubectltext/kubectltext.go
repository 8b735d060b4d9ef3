package kubectltext

import (
	"os"
	"path/filepath"
	"strings"

	"k8s.io/kubectl/pkg/util/i18n"
)

// withoutKubectl are the navarch subcommands that never run kubectl code
// that prints text.
var withoutKubectl = map[string]bool{"agent": true, "server": true, "images": true, "version": true}

// Needed reports whether a process started with args (os.Args) may print
// kubectl's text: false only when args[1] is one of the subcommands above
// and the program is not invoked under another name (a kubectl symlink
// runs kubectl whatever its first argument).
func Needed(args []string) bool {
	if len(args) < 2 {
		return true
	}
	return !withoutKubectl[args[1]] || isKubectl(args[0])
}

// isKubectl reports whether argv0 names kubectl (as internal/cli's
// invokedAsKubectl, which this package cannot import).
func isKubectl(argv0 string) bool {
	return strings.TrimSuffix(filepath.Base(argv0), ".exe") == "kubectl"
}

func init() { configure(os.Args) }

// configure skips kubectl's translations unless a process started with
// args needs them.
func configure(args []string) {
	if Needed(args) {
		return
	}
	// Fails only when translations are already loaded: then there is
	// nothing left to save.
	_ = i18n.SetLoadTranslationsFunc(func() error { return nil })
}
