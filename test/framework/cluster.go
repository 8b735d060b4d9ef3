package framework

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/navarch/navarch/internal/agent/cri"
	"github.com/navarch/navarch/internal/apiserver/metrics"
	"github.com/navarch/navarch/internal/controllermanager"
	"github.com/navarch/navarch/internal/server"
	"github.com/navarch/navarch/test/hostlock"
)

// Cluster is a running Navarch control plane under test.
type Cluster struct {
	DataDir    string
	Kubeconfig string
	Port       int
	// stop ends the cluster and waits for it; set by the starters.
	stop func()
	// kill ends a binary cluster abruptly.
	kill func()
}

// Stop ends the cluster (idempotent).
func (c *Cluster) Stop() {
	if c.stop != nil {
		c.stop()
		c.stop = nil
	}
}

// RESTConfig returns a client configuration for the admin user.
func (c *Cluster) RESTConfig(t testing.TB) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatalf("loading kubeconfig: %v", err)
	}
	cfg.QPS, cfg.Burst = 500, 1000
	return cfg
}

// Client returns a typed client for the admin user.
func (c *Cluster) Client(t testing.TB) kubernetes.Interface {
	t.Helper()
	client, err := kubernetes.NewForConfig(c.RESTConfig(t))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	return client
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago;
// another process may take it before the caller binds it (outgoing
// connections draw from the same range), so servers under test should
// listen on port 0 instead where they can.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Options tune a test cluster.
type Options struct {
	// DataDir reuses a data dir (to test restarts); empty: a new temp dir.
	DataDir string
	// Port reuses a port; 0: one the kernel picks when the server listens.
	Port int
	// EtcdEndpoints points the server at an external etcd.
	EtcdEndpoints []string
	// EtcdListenClientURL exposes the embedded etcd.
	EtcdListenClientURL string
	// Agent runs the binary server with its local node agent (root and
	// containerd needed); default --no-agent.
	Agent bool
	// Controllers run in an in-process server (builtin.Controllers()
	// for a whole cluster); none by default, so that a controller's own
	// tests can run just that controller.
	Controllers []controllermanager.Named
	// NodeStats makes an in-process server serve metrics.k8s.io from it
	// (a fake of the agents' /stats/summary); nil: not served.
	NodeStats metrics.NodeStats
}

// StartInProcess runs `navarch server` in this process on a temp data dir
// and returns once it is ready. The cluster stops at the end of the test.
func StartInProcess(t testing.TB, opts Options) *Cluster {
	t.Helper()
	c := newCluster(t, opts)
	s, err := server.New(server.Config{
		DataDir: c.DataDir, BindAddress: "127.0.0.1", Port: c.Port,
		EtcdEndpoints: opts.EtcdEndpoints, EtcdListenClientURL: opts.EtcdListenClientURL,
		Controllers: opts.Controllers, NodeStats: opts.NodeStats,
		// Pods need their namespace's default ServiceAccount, which only
		// the serviceaccount controller creates (upstream's integration
		// framework disables the admission likewise).
		DisableServiceAccountAdmission: !runsController(opts.Controllers, "serviceaccount"),
	})
	if err != nil {
		t.Fatalf("server config: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	exited := false
	var once sync.Once
	c.stop = func() {
		once.Do(func() {
			cancel()
			if exited {
				return
			}
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("server: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("server did not stop within 30s")
			}
		})
	}
	t.Cleanup(c.Stop)
	select {
	case <-s.Ready():
		_, port, _ := net.SplitHostPort(s.Addr())
		c.Port, _ = strconv.Atoi(port)
	case err := <-done:
		exited = true
		t.Fatalf("server exited before it was ready: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatalf("server not ready within 60s")
	}
	return c
}

// runsController reports whether controllers include the one named name.
func runsController(controllers []controllermanager.Named, name string) bool {
	for _, c := range controllers {
		if c.Name == name {
			return true
		}
	}
	return false
}

func newCluster(t testing.TB, opts Options) *Cluster {
	dir := opts.DataDir
	if dir == "" {
		dir = t.TempDir()
	}
	return &Cluster{DataDir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig"), Port: opts.Port}
}

// Binary is the navarch binary the end-to-end tests run: $NAVARCH_BINARY,
// or one built once per test process into a temp dir (removed at the end
// when the package's TestMain calls Main).
func Binary(t testing.TB) string {
	t.Helper()
	binaryOnce.Do(func() {
		if b := os.Getenv("NAVARCH_BINARY"); b != "" {
			binaryPath = b
			return
		}
		dir, err := os.MkdirTemp("", "navarch-bin-")
		if err != nil {
			binaryErr = err
			return
		}
		binaryDir, binaryPath = dir, filepath.Join(dir, "navarch")
		cmd := exec.Command("go", "build", "-o", binaryPath, "github.com/navarch/navarch/cmd/navarch")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binaryErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binaryErr != nil {
		t.Fatalf("building navarch: %v", binaryErr)
	}
	return binaryPath
}

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
	// binaryDir is the temp dir Binary built into, removed by Main.
	binaryDir string
)

// Main runs the tests of a package that uses Binary (call it from
// TestMain) and then removes the binary built for them: 130 MB per test
// process otherwise left in the temp dir.
func Main(m *testing.M) {
	code := m.Run()
	if binaryDir != "" {
		_ = os.RemoveAll(binaryDir)
	}
	os.Exit(code)
}

// StartBinary runs the navarch binary's server command as a child process
// and returns once /readyz answers. Its output goes to DATA_DIR/server.log.
func StartBinary(t testing.TB, opts Options, extraArgs ...string) *Cluster {
	t.Helper()
	c := newCluster(t, opts)
	args := []string{"server", "--data-dir", c.DataDir, "--bind-address", "127.0.0.1",
		"--port", strconv.Itoa(c.Port), "--cluster-dns=false"}
	if opts.Agent {
		// The local agent takes the host's containerd network, nftables
		// and node ports: one such cluster at a time across packages.
		hostlock.Lock(t)
	} else {
		args = append(args, "--no-agent")
	}
	if len(opts.EtcdEndpoints) > 0 {
		args = append(args, "--etcd-endpoints", strings.Join(opts.EtcdEndpoints, ","))
	}
	if opts.EtcdListenClientURL != "" {
		args = append(args, "--etcd-listen-client-url", opts.EtcdListenClientURL)
	}
	args = append(args, extraArgs...)
	logFile, err := os.OpenFile(filepath.Join(c.DataDir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("log file: %v", err)
	}
	cmd := exec.Command(Binary(t), args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting server: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logFile.Close() }()
	var once sync.Once
	c.stop = func() {
		once.Do(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		})
	}
	t.Cleanup(c.Stop)
	c.kill = func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	WaitFor(t, 60*time.Second, "server ready", func() (bool, error) {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(c.DataDir, "server.log"))
			return false, fmt.Errorf("server exited: %v\n%s", err, log)
		default:
		}
		if _, err := os.Stat(c.Kubeconfig); err != nil {
			return false, nil
		}
		cfg := c.RESTConfig(t)
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return false, nil
		}
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(context.Background())
		if err != nil || !bytes.Equal(body, []byte("ok")) {
			return false, nil
		}
		// With port 0 the server wrote the port it bound into the
		// kubeconfig.
		host, err := url.Parse(cfg.Host)
		if err != nil {
			return false, err
		}
		c.Port, err = strconv.Atoi(host.Port())
		return err == nil, err
	})
	return c
}

// Kill ends a binary cluster with SIGKILL (no cleanup in the server).
func (c *Cluster) Kill() {
	if c.kill != nil {
		c.kill()
		c.stop = nil
	}
}

// Kubectl runs `navarch kubectl ARGS` against the cluster and returns
// stdout and stderr.
func (c *Cluster) Kubectl(t testing.TB, args ...string) (string, string, error) {
	t.Helper()
	return c.KubectlWithInput(t, "", args...)
}

// KubectlWithInput runs kubectl with stdin.
func (c *Cluster) KubectlWithInput(t testing.TB, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(Binary(t), append([]string{"kubectl"}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// MustKubectl runs kubectl and fails the test when it fails.
func (c *Cluster) MustKubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, err := c.Kubectl(t, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// WaitFor polls cond every 50ms until it returns true, an error, or the
// timeout passes (which fails the test, naming what was awaited).
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// RequireContainerd skips t when it cannot run pods on the host's
// containerd: under -short, when not root, or when containerd, runc or the
// CNI plugins are missing (hack/install-deps.sh installs them).
func RequireContainerd(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test (real containerd); skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containerd, mount volumes and set up pod networking")
	}
	if err := cri.CheckDependencies(cri.DefaultCNIBinDir); err != nil {
		t.Skipf("containerd is not installed (hack/install-deps.sh installs it): %v", err)
	}
}
