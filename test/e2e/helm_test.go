package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/navarch/navarch/test/framework"
)

// helmBinary is the helm hack/install-helm.sh installs, or one on PATH.
func helmBinary(t *testing.T) string {
	t.Helper()
	if bin := filepath.Join(repoRoot(t), "_output", "bin", "helm"); fileExists(bin) {
		return bin
	}
	if bin, err := exec.LookPath("helm"); err == nil {
		return bin
	}
	t.Skip("needs helm: hack/install-helm.sh builds it (hack/test.sh runs it)")
	return ""
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestCourseHelm is step 29 of SCENARIO.md: Helm 3 installs, upgrades,
// lists and rolls back the course's hello chart on real containers.
func TestCourseHelm(t *testing.T) {
	requireRuntime(t)
	helm := helmBinary(t)
	c := startAgentCluster(t)
	buildCourseImages(t, c)
	chart := filepath.Join(repoRoot(t), "examples", "course", "helm", "hello")
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(helm, args...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig, "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	version := func() string {
		ip := jsonpath(t, c, "{.spec.clusterIP}", "service", "demo-hello")
		r, err := httpGet("http://"+ip+"/version", "", "", "", "")
		if err != nil || r.status != http.StatusOK {
			return ""
		}
		return r.body
	}

	run("install", "demo", chart, "--wait", "--timeout", "3m")
	if out := run("list"); !strings.Contains(out, "demo") || !strings.Contains(out, "deployed") || !strings.Contains(out, "hello-0.1.0") {
		t.Errorf("helm list after install:\n%s", out)
	}
	framework.WaitFor(t, 30*time.Second, "version 1.0.0 from the release", func() (bool, error) {
		return strings.Contains(version(), `"1.0.0"`), nil
	})

	run("upgrade", "--install", "demo", chart, "--set", "image.tag=2.0.0", "--wait", "--timeout", "3m")
	framework.WaitFor(t, 30*time.Second, "version 2.0.0 after the upgrade", func() (bool, error) {
		return strings.Contains(version(), `"2.0.0"`), nil
	})

	run("rollback", "demo", "1", "--wait", "--timeout", "3m")
	framework.WaitFor(t, 30*time.Second, "version 1.0.0 after the rollback", func() (bool, error) {
		return strings.Contains(version(), `"1.0.0"`), nil
	})
	if out := run("history", "demo"); !strings.Contains(out, "Rollback to 1") || strings.Count(out, "\n") != 4 {
		t.Errorf("helm history after install, upgrade, rollback:\n%s", out)
	}
	run("uninstall", "demo", "--wait")
	framework.WaitFor(t, 60*time.Second, "the release's pods gone", func() (bool, error) {
		return jsonpath(t, c, "{.items[*].metadata.name}", "pods", "-l", "app.kubernetes.io/instance=demo") == "", nil
	})
}
