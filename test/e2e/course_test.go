package e2e

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/navarch/navarch/test/framework"
)

// courseDir is examples/course/kubernetes of this checkout.
func courseDir(t *testing.T) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "examples", "course", "kubernetes")
}

// TestCourseManifestsValidate sends every course manifest through the API
// server's validation and defaulting (server-side dry run): the shapes the
// course uses are accepted as they are.
func TestCourseManifestsValidate(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binary")
	}
	c := framework.StartBinary(t, framework.Options{})
	dir := courseDir(t)
	for _, sub := range []string{"pods", "services", "deployments"} {
		out := c.MustKubectl(t, "apply", "--dry-run=server", "-f", filepath.Join(dir, sub))
		if strings.Count(out, "(server dry run)") < 2 {
			t.Fatalf("apply --dry-run=server -f %s:\n%s", sub, out)
		}
	}
	// The NodePort the course asks for is allocated for real by a create.
	c.MustKubectl(t, "create", "-f", filepath.Join(dir, "services", "monolith.yaml"))
	if got := c.MustKubectl(t, "get", "service", "monolith", "-o", "jsonpath={.spec.ports[0].nodePort}"); got != "31000" {
		t.Fatalf("monolith nodePort = %q, want 31000", got)
	}
	// A second service asking for the same port is refused with 422.
	_, errOut, err := c.KubectlWithInput(t, `{"apiVersion":"v1","kind":"Service","metadata":{"name":"clash"},
"spec":{"type":"NodePort","selector":{"app":"x"},"ports":[{"port":443,"nodePort":31000}]}}`, "create", "-f", "-")
	if err == nil || !strings.Contains(errOut, "provided port is already allocated") {
		t.Fatalf("nodePort clash: err %v, stderr %q", err, errOut)
	}
}
