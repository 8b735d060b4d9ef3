package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/navarch/navarch/test/framework"
)

// TestDeploymentServesThroughItsService runs the course's hello Deployment
// on the server's own node agent (real containerd) and reaches it through
// its Service's cluster IP (real nftables): scheduling, the agent,
// endpoints and the proxy together.
func TestDeploymentServesThroughItsService(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs pods on containerd")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (containerd, CNI, nftables)")
	}
	for _, tool := range []string{"containerd", "runc", "nft", "ctr"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (hack/install-deps.sh installs it)", tool)
		}
	}
	c := framework.StartBinary(t, framework.Options{Agent: true})
	k := func(args ...string) string { t.Helper(); return c.MustKubectl(t, args...) }
	defer func() {
		// Leave nothing behind: pods go with the Deployment, then the
		// agent's network and rules.
		_, _, _ = c.Kubectl(t, "delete", "deployment", "hello", "--wait=true", "--timeout=60s")
		framework.WaitFor(t, 60*time.Second, "hello pods gone", func() (bool, error) {
			out, _, _ := c.Kubectl(t, "get", "pods", "-l", "app=hello", "-o", "name")
			return strings.TrimSpace(out) == "", nil
		})
		c.Stop()
		if out, err := exec.Command(framework.Binary(t), "agent", "--cleanup").CombinedOutput(); err != nil {
			t.Errorf("agent --cleanup: %v\n%s", err, out)
		}
	}()

	// The agent's containerd must be up before images can be imported:
	// its Node turns Ready once it is.
	framework.WaitFor(t, 90*time.Second, "the node Ready", func() (bool, error) {
		out, _, _ := c.Kubectl(t, "get", "nodes", "-o", `jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}`)
		return strings.Contains(out, "True"), nil
	})
	hello := filepath.Join(t.TempDir(), "hello")
	build := exec.Command("go", "build", "-o", hello, "github.com/navarch/navarch/examples/course/cmd/hello")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building hello: %v\n%s", err, out)
	}
	if out, err := exec.Command(framework.Binary(t), "images", "build", "--data-dir", c.DataDir,
		"--binary", hello, "--tag", "localhost/hello:1.0.0").CombinedOutput(); err != nil {
		t.Fatalf("navarch images build: %v\n%s", err, out)
	}

	dir := courseDir(t)
	k("create", "-f", filepath.Join(dir, "deployments", "hello.yaml"), "-f", filepath.Join(dir, "services", "hello.yaml"))
	framework.WaitFor(t, 90*time.Second, "hello available", func() (bool, error) {
		out, _, _ := c.Kubectl(t, "get", "deployment", "hello", "-o", "jsonpath={.status.availableReplicas}")
		return out == "1", nil
	})
	ip := k("get", "service", "hello", "-o", "jsonpath={.spec.clusterIP}")
	client := &http.Client{Timeout: 2 * time.Second}
	framework.WaitFor(t, 30*time.Second, "hello answering on its cluster IP", func() (bool, error) {
		resp, err := client.Get(fmt.Sprintf("http://%s/version", ip))
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return strings.TrimSpace(string(body)) == `{"version":"1.0.0"}`, nil
	})

	k("scale", "deployment", "hello", "--replicas", "3")
	k("rollout", "status", "deployment/hello", "--timeout=90s")
	framework.WaitFor(t, 30*time.Second, "three endpoints", func() (bool, error) {
		out, _, _ := c.Kubectl(t, "get", "endpoints", "hello", "-o", "jsonpath={.subsets[*].addresses[*].ip}")
		return len(strings.Fields(out)) == 3, nil
	})
	if out := k("get", "replicasets", "-l", "app=hello"); !strings.Contains(out, "3         3         3") {
		t.Fatalf("replicasets:\n%s", out)
	}
}
