package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/navarch/navarch/test/framework"
)

// kubectlClient is one way of running kubectl: the embedded one over
// WebSocket (its default), the embedded one forced to SPDY, or the
// stock kubectl 1.32 (WebSocket by default).
type kubectlClient struct {
	name string
	argv []string
	env  []string
	// websocket: kubectl must not fall back to SPDY. It would do so
	// silently when the WebSocket upgrade fails; at -v=4 it says so.
	websocket bool
}

// fallbackLog is what kubectl logs at -v=4 when it gives up WebSocket
// for SPDY (exec and attach; port-forward).
var fallbackLog = regexp.MustCompile(`RemoteCommand fallback|fallback to secondary dialer`)

// run runs kubectl with stdin and returns stdout, stderr and the error
// (an *exec.ExitError carries the exit code). For a WebSocket client it
// fails the test if kubectl fell back to SPDY.
func (k kubectlClient) run(t *testing.T, c *framework.Cluster, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := k.command(c, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if k.websocket && fallbackLog.MatchString(stderr.String()) {
		t.Errorf("%s: kubectl %s fell back to SPDY:\n%s", k.name, strings.Join(args, " "), stderr.String())
	}
	return stdout.String(), stderr.String(), err
}

func (k kubectlClient) command(c *framework.Cluster, args ...string) *exec.Cmd {
	argv := append([]string(nil), k.argv[1:]...)
	if k.websocket {
		argv = append(argv, "-v=4")
	}
	cmd := exec.Command(k.argv[0], append(argv, args...)...)
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+c.Kubeconfig), k.env...)
	return cmd
}

func (k kubectlClient) must(t *testing.T, c *framework.Cluster, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := k.run(t, c, stdin, args...)
	if err != nil {
		t.Fatalf("%s: kubectl %s: %v\nstdout:\n%s\nstderr:\n%s", k.name, strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// streamingPods are the test's pods. ticker prints 50 lines in 5 s and
// exits 0; crash prints 20 lines in 2 s and exits 1, again and again;
// shell runs the web server (exec target); pf serves "alpha" on 8081
// and "beta" on 8082 from two containers, behind the service pf
// (port http 80 -> 8081, port beta 8082); attach-* echo their stdin
// (stdinOnce) for one attach each; neverpull waits for an image that
// is not there.
const streamingPods = `
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: ticker}
  spec:
    restartPolicy: Never
    terminationGracePeriodSeconds: 1
    containers:
    - {name: ticker, image: localhost/web:streaming, imagePullPolicy: Never, args: [ticker, "50", 100ms, "0"]}
- apiVersion: v1
  kind: Pod
  metadata: {name: crash}
  spec:
    terminationGracePeriodSeconds: 1
    containers:
    - {name: crash, image: localhost/web:streaming, imagePullPolicy: Never, args: [ticker, "20", 100ms, "1"]}
- apiVersion: v1
  kind: Pod
  metadata: {name: shell}
  spec:
    terminationGracePeriodSeconds: 1
    containers:
    - {name: shell, image: localhost/web:streaming, imagePullPolicy: Never}
- apiVersion: v1
  kind: Pod
  metadata: {name: pf, labels: {app: pf}}
  spec:
    terminationGracePeriodSeconds: 1
    containers:
    - {name: alpha, image: localhost/web:streaming, imagePullPolicy: Never, args: [serve, "8081", alpha], ports: [{containerPort: 8081}]}
    - {name: beta, image: localhost/web:streaming, imagePullPolicy: Never, args: [serve, "8082", beta]}
- apiVersion: v1
  kind: Service
  metadata: {name: pf}
  spec:
    selector: {app: pf}
    ports:
    - {name: http, port: 80, targetPort: 8081}
    - {name: beta, port: 8082}
- apiVersion: v1
  kind: Pod
  metadata: {name: neverpull}
  spec:
    terminationGracePeriodSeconds: 1
    containers:
    - {name: neverpull, image: localhost/missing:1, imagePullPolicy: Never}
`

// attachPod is a pod whose container echoes its stdin, once.
func attachPod(name string) string {
	return fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q},"spec":{"restartPolicy":"Never","terminationGracePeriodSeconds":1,
"containers":[{"name":"echo","image":"localhost/web:streaming","imagePullPolicy":"Never","args":["echo"],"stdin":true,"stdinOnce":true}]}}`, name)
}

// TestStreaming runs kubectl logs, exec, attach and port-forward against
// pods on the server's own agent (real containerd), with the embedded
// kubectl over WebSocket and over SPDY, and with the stock kubectl 1.32:
// kubectl -> API server -> node API -> containerd's streaming server.
func TestStreaming(t *testing.T) {
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
	bin := framework.Binary(t)
	embedded := kubectlClient{name: "websocket", argv: []string{bin, "kubectl"},
		env: []string{"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=true", "KUBECTL_PORT_FORWARD_WEBSOCKETS=true"}, websocket: true}
	spdy := kubectlClient{name: "spdy", argv: []string{bin, "kubectl"},
		env: []string{"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false", "KUBECTL_PORT_FORWARD_WEBSOCKETS=false"}}
	// plain runs the setup commands (quiet, no stream).
	plain := kubectlClient{name: "kubectl", argv: []string{bin, "kubectl"}}
	clients := []kubectlClient{embedded, spdy}
	if _, err := os.Stat("/usr/bin/kubectl"); err == nil {
		clients = append(clients, kubectlClient{name: "kubectl-1.32", argv: []string{"/usr/bin/kubectl"}, websocket: true})
	} else {
		t.Log("no /usr/bin/kubectl: the stock kubectl is not tried")
	}
	k := func(args ...string) string { t.Helper(); return plain.must(t, c, "", args...) }
	defer func() {
		_, _, _ = c.Kubectl(t, "delete", "pods", "--all", "--wait=true", "--timeout=60s")
		c.Stop()
		if out, err := exec.Command(bin, "agent", "--cleanup").CombinedOutput(); err != nil {
			t.Errorf("agent --cleanup: %v\n%s", err, out)
		}
	}()

	framework.WaitFor(t, 90*time.Second, "the node Ready", func() (bool, error) {
		out, _, _ := c.Kubectl(t, "get", "nodes", "-o", `jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}`)
		return strings.Contains(out, "True"), nil
	})
	web := filepath.Join(t.TempDir(), "web")
	build := exec.Command("go", "build", "-o", web, "./internal/agent/testdata/web")
	build.Dir = repoRoot(t)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building web: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "images", "build", "--data-dir", c.DataDir,
		"--binary", web, "--tag", "localhost/web:streaming").CombinedOutput(); err != nil {
		t.Fatalf("navarch images build: %v\n%s", err, out)
	}
	plain.must(t, c, streamingPods, "create", "-f", "-")
	for _, cl := range clients {
		plain.must(t, c, attachPod("attach-"+cl.name), "create", "-f", "-")
	}
	waitRunning := func(pod string) {
		t.Helper()
		framework.WaitFor(t, 90*time.Second, pod+" running", func() (bool, error) {
			out, _, _ := c.Kubectl(t, "get", "pod", pod, "-o", "jsonpath={.status.phase}")
			return out == "Running", nil
		})
	}
	waitRunning("ticker")

	t.Run("logs", func(t *testing.T) {
		// -f: lines written after the follow started come out, and the
		// follow ends by itself when the container exits.
		started := time.Now()
		follow := startRunning(t, plain.command(c, "logs", "-f", "--timestamps", "ticker"))
		if ended, err := follow.wait(60 * time.Second); !ended {
			t.Fatalf("logs -f did not end after the container exited; got:\n%s", follow.out.String())
		} else if err != nil {
			t.Fatalf("logs -f: %v\n%s", err, follow.errOut.String())
		}
		lines := strings.Split(strings.TrimSuffix(follow.out.String(), "\n"), "\n")
		if len(lines) != 51 || !strings.Contains(lines[0], " start ") || !strings.HasSuffix(lines[50], " tick 50") {
			t.Fatalf("logs -f: %d lines, want start + 50 ticks:\n%s", len(lines), follow.out.String())
		}
		last, err := time.Parse(time.RFC3339Nano, strings.Fields(lines[50])[0])
		if err != nil || !last.After(started) {
			t.Errorf("the last line was written at %v, not after the follow started at %v", last, started)
		}

		if got := k("logs", "ticker", "--tail=2"); got != "tick 49\ntick 50\n" {
			t.Errorf("--tail=2: %q", got)
		}
		if got := k("logs", "ticker", "--timestamps", "--tail=1"); !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z tick 50\n$`).MatchString(got) {
			t.Errorf("--timestamps --tail=1: %q", got)
		}
		if got := k("logs", "ticker", "--limit-bytes=5"); got != "start" {
			t.Errorf("--limit-bytes=5: %q", got)
		}
		if got := k("logs", "ticker", "--since=1h"); !strings.HasPrefix(got, "start ") || !strings.HasSuffix(got, "tick 50\n") {
			t.Errorf("--since=1h: %q", got)
		}
		_, errOut2, err := plain.run(t, c, "", "logs", "ticker", "--previous")
		if want := `Error from server (BadRequest): previous terminated container "ticker" in pod "ticker" not found`; err == nil || !strings.Contains(errOut2, want) {
			t.Errorf("--previous of a container that never restarted: %v %q, want %q", err, errOut2, want)
		}
		framework.WaitFor(t, 60*time.Second, "neverpull's logs refused as waiting", func() (bool, error) {
			_, errOut, err := plain.run(t, c, "", "logs", "neverpull")
			return err != nil && strings.Contains(errOut, `Error from server (BadRequest): container "neverpull" in pod "neverpull" is waiting to start: ErrImageNeverPull`), nil
		})
	})

	t.Run("logs --previous", func(t *testing.T) {
		// Between restarts crash runs for 2 s; read both logs while the
		// same container runs before and after.
		status := func() string {
			out, _, _ := c.Kubectl(t, "get", "pod", "crash", "-o",
				`jsonpath={.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].containerID} {.status.containerStatuses[0].state.running.startedAt}`)
			return out
		}
		framework.WaitFor(t, 120*time.Second, "crash's previous and current logs", func() (bool, error) {
			before := strings.Fields(status())
			if len(before) != 3 || before[0] == "0" {
				return false, nil
			}
			current, _, err1 := plain.run(t, c, "", "logs", "crash")
			previous, _, err2 := plain.run(t, c, "", "logs", "crash", "--previous")
			if after := strings.Fields(status()); strings.Join(after, " ") != strings.Join(before, " ") || err1 != nil || err2 != nil {
				return false, nil
			}
			if !strings.HasSuffix(previous, "tick 20\n") || !strings.HasPrefix(previous, "start ") || !strings.HasPrefix(current, "start ") {
				return false, fmt.Errorf("logs:\n%s\nlogs --previous:\n%s", current, previous)
			}
			if strings.SplitN(current, "\n", 2)[0] == strings.SplitN(previous, "\n", 2)[0] {
				return false, fmt.Errorf("--previous shows the current container: %q", previous)
			}
			return true, nil
		})
	})

	waitRunning("shell")
	waitRunning("pf")
	t.Run("proxy", func(t *testing.T) { proxySubresources(t, c, plain) })
	t.Run("debug", func(t *testing.T) { debugContainers(t, c, plain, embedded) })

	for _, cl := range clients {
		t.Run(cl.name, func(t *testing.T) {
			start := time.Now()
			if got := cl.must(t, c, "", "exec", "shell", "--", "web", "print", "hello", "world"); got != "hello world\n" {
				t.Errorf("exec: %q", got)
			}
			t.Logf("%s: kubectl exec took %v (kubectl start included)", cl.name, time.Since(start).Round(time.Millisecond))
			out, errOut, err := cl.run(t, c, "", "exec", "shell", "--", "web", "stderr", "oops")
			if err != nil || out != "" || !strings.Contains(errOut, "oops\n") {
				t.Errorf("exec to stderr: %v stdout %q stderr %q", err, out, errOut)
			}
			input := "line one\nline two\n" + strings.Repeat("x", 4<<20) + "\n"
			start = time.Now()
			if got := cl.must(t, c, input, "exec", "-i", "shell", "--", "web", "echo"); got != input {
				t.Errorf("exec -i echoed %d bytes, want %d", len(got), len(input))
			}
			t.Logf("%s: kubectl exec -i echoed 4 MiB in %v", cl.name, time.Since(start).Round(time.Millisecond))
			_, errOut, err = cl.run(t, c, "", "exec", "shell", "--", "web", "exit", "3")
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) || exitErr.ExitCode() != 3 || !strings.Contains(errOut, "command terminated with exit code 3") {
				t.Errorf("exec exit 3: %v, stderr %q", err, errOut)
			}
			// An exec the API server refuses is an upgrade failure, after
			// which kubectl 1.32 tries SPDY too: no fallback check here.
			refused := cl
			refused.websocket = false
			_, errOut, err = refused.run(t, c, "", "exec", "pf", "-c", "nope", "--", "web", "print")
			if err == nil || !strings.Contains(errOut, "container nope is not valid for pod pf") {
				t.Errorf("exec in an unknown container: %v %q", err, errOut)
			}

			attach := "attach-" + cl.name
			waitRunning(attach)
			if got := cl.must(t, c, "ping\n", "attach", "-i", attach); !strings.Contains(got, "ping\n") {
				t.Errorf("attach -i: %q", got)
			}

			portForward(t, c, cl)
		})
	}

	t.Run("the node API refuses the admin", func(t *testing.T) {
		addr := k("get", "node", "-o", `jsonpath={.items[0].status.addresses[?(@.type=="InternalIP")].address}`)
		port := k("get", "node", "-o", "jsonpath={.items[0].status.daemonEndpoints.kubeletEndpoint.Port}")
		url := "https://" + net.JoinHostPort(addr, port) + "/containerLogs/default/ticker/ticker?tailLines=1"
		for _, tc := range []struct {
			cert     string
			wantCode int
			wantBody string
		}{
			{"admin", http.StatusForbidden, "Forbidden (user=navarch-admin, verb=get, resource=nodes, subresource=proxy)\n"},
			{"apiserver-kubelet-client", http.StatusOK, "tick 50\n"},
		} {
			cert, err := tls.LoadX509KeyPair(filepath.Join(c.DataDir, "pki", tc.cert+".crt"), filepath.Join(c.DataDir, "pki", tc.cert+".key"))
			if err != nil {
				t.Fatal(err)
			}
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
				Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, //nolint:gosec // the node API's certificate is self-signed
			}}}
			resp, err := client.Get(url)
			if err != nil {
				t.Fatalf("%s: %v", tc.cert, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantCode || string(body) != tc.wantBody {
				t.Errorf("%s certificate: %d %q, want %d %q", tc.cert, resp.StatusCode, body, tc.wantCode, tc.wantBody)
			}
		}
	})
}

// portForward forwards two local ports to the pf pod's two containers
// and sends concurrent requests through both.
func portForward(t *testing.T, c *framework.Cluster, cl kubectlClient) {
	t.Helper()
	alpha, beta := framework.FreePort(t), framework.FreePort(t)
	cmd := cl.command(c, "port-forward", "pod/pf", fmt.Sprintf("%d:8081", alpha), fmt.Sprintf("%d:8082", beta))
	var out, errOut syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	framework.WaitFor(t, 30*time.Second, "port-forward listening", func() (bool, error) {
		select {
		case err := <-exited:
			exited <- err
			return false, fmt.Errorf("port-forward exited: %v\n%s", err, errOut.String())
		default:
		}
		return strings.Contains(out.String(), fmt.Sprintf("Forwarding from 127.0.0.1:%d -> 8082", beta)), nil
	})
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 20 {
		for _, target := range []struct {
			port int
			text string
		}{{alpha, "alpha"}, {beta, "beta"}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				path := "/req" + strconv.Itoa(i)
				resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", target.port, path))
				if err != nil {
					errs <- err
					return
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				if want := target.text + " path=" + path + "\n"; string(body) != want {
					errs <- fmt.Errorf("port %d: %q, want %q", target.port, body, want)
				}
			}()
		}
	}
	wg.Wait()
	t.Logf("%s: 40 concurrent requests through port-forward (2 ports) in %v", cl.name, time.Since(start).Round(time.Millisecond))
	close(errs)
	for err := range errs {
		t.Errorf("%s port-forward: %v", cl.name, err)
	}
	if cl.websocket && fallbackLog.MatchString(errOut.String()) {
		t.Errorf("%s: port-forward fell back to SPDY:\n%s", cl.name, errOut.String())
	}
}

// proxySubresources reaches the pf pod through services/proxy,
// pods/proxy, kubectl proxy and kubectl port-forward service/pf, and the
// node agent through nodes/proxy.
func proxySubresources(t *testing.T, c *framework.Cluster, k kubectlClient) {
	framework.WaitFor(t, 60*time.Second, "a ready endpoint of service pf", func() (bool, error) {
		out, _, _ := c.Kubectl(t, "get", "endpoints", "pf", "-o", "jsonpath={.subsets[*].addresses[*].ip}")
		return out != "", nil
	})
	node := k.must(t, c, "", "get", "nodes", "-o", "jsonpath={.items[0].metadata.name}")
	for _, tc := range []struct{ path, want string }{
		{"/api/v1/namespaces/default/services/pf:http/proxy/hello", "alpha path=/hello\n"},
		{"/api/v1/namespaces/default/services/pf:8082/proxy/by/number", "beta path=/by/number\n"},
		{"/api/v1/namespaces/default/services/http:pf:beta/proxy/", "beta path=/\n"},
		{"/api/v1/namespaces/default/pods/pf/proxy/first/port", "alpha path=/first/port\n"},
		{"/api/v1/namespaces/default/pods/pf:8082/proxy/b", "beta path=/b\n"},
		{"/api/v1/nodes/" + node + "/proxy/healthz", "ok"},
	} {
		start := time.Now()
		if got := k.must(t, c, "", "get", "--raw", tc.path); got != tc.want {
			t.Errorf("kubectl get --raw %s: %q, want %q", tc.path, got, tc.want)
		}
		t.Logf("kubectl get --raw %s: %v (kubectl start included)", tc.path, time.Since(start).Round(time.Millisecond))
	}
	// The kubelet's /pods: the node's pods as the agent knows them.
	var nodePods corev1.PodList
	raw := k.must(t, c, "", "get", "--raw", "/api/v1/nodes/"+node+"/proxy/pods")
	if err := json.Unmarshal([]byte(raw), &nodePods); err != nil || nodePods.Kind != "PodList" {
		t.Errorf("nodes/proxy/pods: %v, kind %q", err, nodePods.Kind)
	}
	if !slices.ContainsFunc(nodePods.Items, func(p corev1.Pod) bool {
		return p.Namespace == "default" && p.Name == "pf" && p.Status.Phase == corev1.PodRunning
	}) {
		t.Errorf("nodes/proxy/pods lacks pod pf Running:\n%.2000s", raw)
	}
	_, errOut, err := k.run(t, c, "", "get", "--raw", "/api/v1/namespaces/default/services/pf:9999/proxy/")
	if err == nil || !strings.Contains(errOut, `no service port 9999 found for service "pf"`) {
		t.Errorf("an unknown service port: %v %q", err, errOut)
	}

	t.Run("kubectl proxy", func(t *testing.T) {
		cmd := k.command(c, "proxy", "--port=0")
		var out, errOut syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}()
		serving := regexp.MustCompile(`Starting to serve on (127\.0\.0\.1:\d+)`)
		var addr string
		framework.WaitFor(t, 30*time.Second, "kubectl proxy serving", func() (bool, error) {
			m := serving.FindStringSubmatch(out.String())
			if m == nil {
				return false, nil
			}
			addr = m[1]
			return true, nil
		})
		body := get200(t, "http://"+addr+"/api/v1/namespaces/default/services/pf:http/proxy/through/kubectl/proxy?q=1")
		if body != "alpha path=/through/kubectl/proxy" {
			t.Errorf("through kubectl proxy: %q (stderr %s)", body, errOut.String())
		}
	})

	t.Run("kubectl port-forward service/pf", func(t *testing.T) {
		local := framework.FreePort(t)
		cmd := k.command(c, "port-forward", "service/pf", fmt.Sprintf("%d:80", local))
		var out, errOut syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}()
		framework.WaitFor(t, 30*time.Second, "port-forward listening", func() (bool, error) {
			return strings.Contains(out.String(), fmt.Sprintf("Forwarding from 127.0.0.1:%d -> 8081", local)), nil
		})
		if body := get200(t, fmt.Sprintf("http://127.0.0.1:%d/svc", local)); body != "alpha path=/svc" {
			t.Errorf("through port-forward service/pf: %q (stderr %s)", body, errOut.String())
		}
	})
}

// get200 returns the body of a 200 answer to GET url, trimmed.
func get200(t *testing.T, url string) string {
	t.Helper()
	res, err := httpGet(url, "", "", "", "")
	if err != nil || res.status != http.StatusOK {
		t.Fatalf("GET %s: %d %q %v", url, res.status, res.body, err)
	}
	return res.body
}

// debugContainers runs `kubectl debug` against pod pf: an ephemeral
// container targeting alpha sees alpha's processes (it shares its PID
// namespace), runs once and reports its exit in
// ephemeralContainerStatuses; `kubectl debug -i` attaches to a new one.
// attaching is a client that must not fall back to SPDY.
func debugContainers(t *testing.T, c *framework.Cluster, plain, attaching kubectlClient) {
	ephemeralState := func(name string) string {
		out, _, _ := c.Kubectl(t, "get", "pod", "pf", "-o",
			fmt.Sprintf(`jsonpath={.status.ephemeralContainerStatuses[?(@.name=="%s")].state}`, name))
		return out
	}
	plain.must(t, c, "", "debug", "pf", "--image=localhost/web:streaming", "--image-pull-policy=Never",
		"--target=alpha", "--container=debugger", "--", "web", "ps")
	framework.WaitFor(t, 60*time.Second, "the debugger to finish", func() (bool, error) {
		return strings.Contains(ephemeralState("debugger"), `"exitCode":0`), nil
	})
	if ps := plain.must(t, c, "", "logs", "pf", "-c", "debugger"); !strings.Contains(ps, "web serve 8081 alpha") || !strings.Contains(ps, "web ps") {
		t.Errorf("processes the debugger saw:\n%s\nwant alpha's (web serve 8081 alpha) and its own", ps)
	}
	if ps := plain.must(t, c, "", "logs", "pf", "-c", "debugger"); strings.Contains(ps, "web serve 8082 beta") {
		t.Errorf("the debugger saw beta's processes, not only its target's:\n%s", ps)
	}
	// It ran once: still terminated, the pod still Running and ready.
	if got := plain.must(t, c, "", "get", "pod", "pf", "-o", `jsonpath={.status.phase} {.status.containerStatuses[*].ready} {.status.ephemeralContainerStatuses[0].restartCount}`); got != "Running true true 0" {
		t.Errorf("pod pf after the debugger exited: %q", got)
	}

	// -i attaches to the new container: what is typed reaches it and what
	// it prints comes back. Closing stdin ends the attach (the container
	// has no stdinOnce, as kubectl debug makes it, so it goes on running).
	cmd := attaching.command(c, "debug", "-i", "pf", "--image=localhost/web:streaming", "--image-pull-policy=Never",
		"--container=echoer", "--", "web", "echo")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	debug := startRunning(t, cmd)
	framework.WaitFor(t, 60*time.Second, "kubectl debug -i to echo what it is sent", func() (bool, error) {
		if _, err := io.WriteString(stdin, "ping\n"); err != nil {
			return false, fmt.Errorf("writing to kubectl debug -i: %v (stderr %q)", err, debug.errOut.String())
		}
		return strings.Contains(debug.out.String(), "ping\n"), nil
	})
	stdin.Close()
	if ended, err := debug.wait(30 * time.Second); !ended {
		t.Fatalf("kubectl debug -i did not end when its stdin closed; stderr:\n%s", debug.errOut.String())
	} else if err != nil || (attaching.websocket && fallbackLog.MatchString(debug.errOut.String())) {
		t.Errorf("kubectl debug -i: %v\n%s", err, debug.errOut.String())
	}
	if state := ephemeralState("echoer"); !strings.Contains(state, "running") {
		t.Errorf("echoer's state after the attach ended: %s", state)
	}
	_, refused, err := plain.run(t, c, "", "debug", "pf", "--image=localhost/web:streaming", "--container=alpha", "--", "web", "ps")
	if err == nil || !strings.Contains(refused, "Duplicate value") {
		t.Errorf("a debug container named like an app container: %v %q, want a Duplicate value error", err, refused)
	}
}
