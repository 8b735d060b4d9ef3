package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/navarch/navarch/test/framework"
)

// requireRuntime skips a test that needs real containers when this
// machine cannot run them.
func requireRuntime(t *testing.T) {
	t.Helper()
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
}

// startAgentCluster starts the binary server with its node agent and
// waits for the node to be Ready. extraArgs go to `navarch server`. At
// the end of the test everything is deleted and the agent's network and
// rules are removed.
func startAgentCluster(t *testing.T, extraArgs ...string) *framework.Cluster {
	t.Helper()
	c := framework.StartBinary(t, framework.Options{Agent: true}, extraArgs...)
	t.Cleanup(func() {
		// Pods first (their containers and IPs), then the agent's
		// network and rules.
		_, _, _ = c.Kubectl(t, "delete", "deployments,replicasets,statefulsets,daemonsets,jobs,pods", "--all", "--all-namespaces",
			"--wait=true", "--timeout=90s")
		c.Stop()
		if out, err := exec.Command(framework.Binary(t), "agent", "--cleanup").CombinedOutput(); err != nil {
			t.Errorf("agent --cleanup: %v\n%s", err, out)
		}
	})
	framework.WaitFor(t, 90*time.Second, "the node Ready", func() (bool, error) {
		out, _, _ := c.Kubectl(t, "get", "nodes", "-o", `jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}`)
		return strings.Contains(out, "True"), nil
	})
	return c
}

// buildCourseImages builds and imports every image of the course (the
// Go programs at 1.0.0 and 2.0.0, nginx, tools) with the project's own
// script, into the cluster's containerd.
func buildCourseImages(t *testing.T, c *framework.Cluster) {
	t.Helper()
	script := filepath.Join(repoRoot(t), "hack", "build-images.sh")
	cmd := exec.Command("bash", script, "--import")
	cmd.Env = append(os.Environ(), "NAVARCH_DATA_DIR="+c.DataDir, "NAVARCH_BINARY="+framework.Binary(t))
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.ExitCode() == 3 {
		t.Skipf("cannot download Debian's packages here:\n%s", out)
	}
	if err != nil {
		t.Fatalf("hack/build-images.sh: %v\n%s", err, out)
	}
}

// startPortForward runs `kubectl port-forward target ports...` until the
// test ends and returns once it forwards. kubectl ends when a forwarded
// connection fails (the pod's process not listening yet, on a loaded
// machine), as upstream's does; a user would run it again, and so it is
// started again here, so that the caller's retries can reach the pod.
func startPortForward(t *testing.T, c *framework.Cluster, target string, ports ...string) {
	t.Helper()
	binary := framework.Binary(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	ready := make(chan struct{})
	var readyOnce sync.Once
	var stderr syncBuffer
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			cmd := exec.CommandContext(ctx, binary, append([]string{"kubectl", "port-forward", target}, ports...)...)
			cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig)
			cmd.Stderr = &stderr
			stdout, err := cmd.StdoutPipe()
			if err == nil {
				err = cmd.Start()
			}
			if err != nil {
				fmt.Fprintf(&stderr, "starting kubectl port-forward: %v\n", err)
				return
			}
			scanner := bufio.NewScanner(stdout)
			for scanner.Scan() {
				if strings.HasPrefix(scanner.Text(), "Forwarding from") {
					readyOnce.Do(func() { close(ready) })
				}
			}
			_ = cmd.Wait()
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case <-ready:
	case <-done:
		t.Fatalf("kubectl port-forward %s %v did not start: %s", target, ports, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("kubectl port-forward %s %v did not start: %s", target, ports, stderr.String())
	}
}

// httpResult is what one request got.
type httpResult struct {
	status int
	body   string
}

// httpGet sends one GET; user:password in basic auth when user is set,
// a bearer token when token is set. caFile set: HTTPS verified against
// it; "insecure": HTTPS without verification (curl -k).
func httpGet(url, user, password, token, caFile string) (httpResult, error) {
	transport := &http.Transport{DisableKeepAlives: true}
	switch caFile {
	case "":
	case "insecure":
		transport.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	default:
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return httpResult{}, err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		transport.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: transport}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return httpResult{}, err
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return httpResult{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return httpResult{status: resp.StatusCode, body: strings.TrimSpace(string(body))}, err
}

// httpGetResolved sends a GET for url to ip (port from url), with the
// Host and SNI of host: curl's --resolve.
func httpGetResolved(host, ip, url, caFile string) (httpResult, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return httpResult{}, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	transport := &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: host},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return dialer.DialContext(ctx, network, net.JoinHostPort(ip, port))
		},
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: transport}
	resp, err := client.Get(url)
	if err != nil {
		return httpResult{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return httpResult{status: resp.StatusCode, body: strings.TrimSpace(string(body))}, err
}

// mustGet is httpGet that fails the test on a transport error.
func mustGet(t *testing.T, url, user, password, token, caFile string) httpResult {
	t.Helper()
	r, err := httpGet(url, user, password, token, caFile)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return r
}

// waitGet polls url until it answers want (status and body substring).
func waitGet(t *testing.T, timeout time.Duration, url, caFile string, status int, body string) {
	t.Helper()
	framework.WaitFor(t, timeout, fmt.Sprintf("GET %s -> %d %q", url, status, body), func() (bool, error) {
		r, err := httpGet(url, "", "", "", caFile)
		if err != nil {
			return false, nil
		}
		return r.status == status && strings.Contains(r.body, body), nil
	})
}

// login gets a JWT from a /login endpoint with the course's user.
func login(t *testing.T, url, caFile string) string {
	t.Helper()
	r := mustGet(t, url, "user", "password", "", caFile)
	var reply struct {
		Token string `json:"token"`
	}
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &reply) != nil || reply.Token == "" {
		t.Fatalf("GET %s with user:password: %d %q, want 200 and a token", url, r.status, r.body)
	}
	return reply.Token
}

// jsonpath reads one field of an object with kubectl.
func jsonpath(t *testing.T, c *framework.Cluster, path string, args ...string) string {
	t.Helper()
	out, _, _ := c.Kubectl(t, append([]string{"get"}, append(args, "-o", "jsonpath="+path)...)...)
	return out
}

// waitJSONPath waits until a field of an object reads want.
func waitJSONPath(t *testing.T, c *framework.Cluster, timeout time.Duration, want, path string, args ...string) {
	t.Helper()
	framework.WaitFor(t, timeout, fmt.Sprintf("%v %s = %q", args, path, want), func() (bool, error) {
		return jsonpath(t, c, path, args...) == want, nil
	})
}

// waitOutput waits until `kubectl args...` prints something containing
// every one of wants, and returns that output.
func waitOutput(t *testing.T, c *framework.Cluster, timeout time.Duration, wants []string, args ...string) string {
	t.Helper()
	var out string
	framework.WaitFor(t, timeout, fmt.Sprintf("kubectl %s showing %q", strings.Join(args, " "), wants), func() (bool, error) {
		out, _, _ = c.Kubectl(t, args...)
		for _, w := range wants {
			if !strings.Contains(out, w) {
				return false, nil
			}
		}
		return true, nil
	})
	return out
}
