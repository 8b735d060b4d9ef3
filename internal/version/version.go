// Package version reports what this binary is: the Navarch version and the
// Kubernetes version it serves. Values are set at build time with -ldflags
// (see hack/build.sh); the defaults describe a plain `go build`.
package version

import (
	"fmt"
	"runtime"

	apimachineryversion "k8s.io/apimachinery/pkg/version"
)

// Set by -ldflags "-X github.com/navarch/navarch/internal/version.navarch=...".
var (
	navarch   = "v0.1.0-dev"
	gitCommit = ""
	buildDate = "1970-01-01T00:00:00Z"
)

// Kubernetes is the Kubernetes release whose API Navarch serves: the minor
// version of the k8s.io modules it is built with.
const (
	KubernetesMajor = "1"
	KubernetesMinor = "37"
	Kubernetes      = "v1.37.2"
)

// Navarch returns Navarch's own version.
func Navarch() string { return navarch }

// Info is what /version answers: the Kubernetes version served, as
// kubectl version expects, with Navarch's version in GitVersion's build
// metadata ("v1.37.2+navarch-v0.1.0").
func Info() apimachineryversion.Info {
	return apimachineryversion.Info{
		Major:        KubernetesMajor,
		Minor:        KubernetesMinor,
		GitVersion:   Kubernetes + "+navarch-" + navarch,
		GitCommit:    gitCommit,
		GitTreeState: "clean",
		BuildDate:    buildDate,
		GoVersion:    runtime.Version(),
		Compiler:     runtime.Compiler,
		Platform:     fmt.Sprintf("%s/%s", runtime.GOOS, runtime.GOARCH),
	}
}
