package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/navarch/navarch/test/framework"
)

// TestCourseScenario runs lessons 2 to 4 of ../shared/course/SCENARIO.md
// on one cluster with its node agent (real containerd, nftables, cluster
// DNS), with the embedded kubectl doing exactly what each step says. Each
// numbered step is a subtest named after it; a step that fails stops the
// ones that build on it.
func TestCourseScenario(t *testing.T) {
	requireRuntime(t)
	c := startAgentCluster(t, "--cluster-dns=true")
	k := func(args ...string) string { t.Helper(); return c.MustKubectl(t, args...) }
	dir := courseDir(t)
	buildCourseImages(t, c)
	tlsDir := t.TempDir()
	if out, err := exec.Command("go", "run", "github.com/navarch/navarch/examples/course/cmd/tlsgen", "-out", tlsDir).CombinedOutput(); err != nil {
		t.Fatalf("tlsgen: %v\n%s", err, out)
	}
	caFile := filepath.Join(tlsDir, "ca.pem")
	nodeIP := jsonpath(t, c, `{.items[0].status.addresses[?(@.type=="InternalIP")].address}`, "nodes")
	step := func(name string, fn func(t *testing.T)) {
		if !t.Run(name, fn) {
			t.FailNow()
		}
	}

	step("04 kubectl run nginx, expose it as a LoadBalancer", func(t *testing.T) {
		k("run", "nginx", "--image=localhost/nginx:1.22")
		waitOutput(t, c, 90*time.Second, []string{"nginx", "1/1", "Running"}, "get", "pods", "nginx")
		k("expose", "pod", "nginx", "--port", "80", "--type", "LoadBalancer")
		var ip string
		framework.WaitFor(t, 30*time.Second, "the nginx service's EXTERNAL-IP", func() (bool, error) {
			ip = jsonpath(t, c, "{.status.loadBalancer.ingress[0].ip}", "service", "nginx")
			return ip != "", nil
		})
		if out := k("get", "services", "nginx"); !strings.Contains(out, ip) {
			t.Errorf("kubectl get services does not show EXTERNAL-IP %s:\n%s", ip, out)
		}
		waitGet(t, 30*time.Second, "http://"+ip+":80/", "", http.StatusOK, "nginx")
	})

	step("05 create the monolith pod", func(t *testing.T) {
		k("create", "-f", filepath.Join(dir, "pods", "monolith.yaml"))
		out := waitOutput(t, c, 90*time.Second, []string{"monolith", "1/1", "Running"}, "get", "pods", "monolith")
		if !regexp.MustCompile(`monolith\s+1/1\s+Running\s+0\s+`).MatchString(out) {
			t.Errorf("kubectl get pods monolith:\n%s", out)
		}
		desc := k("describe", "pods", "monolith")
		ip := jsonpath(t, c, "{.status.podIP}", "pod", "monolith")
		for _, want := range []string{`(?m)^IP:\s+` + regexp.QuoteMeta(ip) + `$`, `Ports:\s+80/TCP \(http\), 81/TCP \(health\)`,
			`Limits:\s+cpu:\s+200m\s+memory:\s+10Mi`, `Normal\s+Started\s`} {
			if !regexp.MustCompile(want).MatchString(desc) {
				t.Errorf("describe pods monolith lacks %s:\n%s", want, desc)
			}
		}
	})

	step("06 port-forward to the monolith and use it", func(t *testing.T) {
		startPortForward(t, c, "monolith", "10080:80")
		base := "http://127.0.0.1:10080"
		// Running means the process started, not that it listens yet; on
		// a loaded machine the first connection may reach the pod before
		// the monolith's listen (kubectl then closes it: EOF), and a user
		// would curl again.
		waitGet(t, 30*time.Second, base+"/", "", 200, "Hello")
		if r := mustGet(t, base+"/", "", "", "", ""); r.status != 200 || r.body != `{"message":"Hello"}` {
			t.Errorf("GET /: %d %q", r.status, r.body)
		}
		if r := mustGet(t, base+"/secure", "", "", "", ""); r.status != 401 || !strings.Contains(r.body, "authorization failed") {
			t.Errorf("GET /secure without a token: %d %q", r.status, r.body)
		}
		token := login(t, base+"/login", "")
		if r := mustGet(t, base+"/secure", "", "", token, ""); r.status != 200 || r.body != `{"message":"Hello"}` {
			t.Errorf("GET /secure with a token: %d %q", r.status, r.body)
		}
	})

	step("07 logs and logs -f", func(t *testing.T) {
		out := k("logs", "monolith")
		if !strings.Contains(out, "HTTP service listening") || !strings.Contains(out, "GET /secure 401") {
			t.Errorf("kubectl logs monolith lacks the start line or the access line:\n%s", out)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		follow := exec.CommandContext(ctx, framework.Binary(t), "kubectl", "logs", "-f", "monolith")
		follow.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig)
		var buf lockedBuffer
		follow.Stdout = &buf
		if err := follow.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); _ = follow.Wait() }()
		framework.WaitFor(t, 20*time.Second, "logs -f showing the old lines", func() (bool, error) {
			return strings.Contains(buf.String(), "HTTP service listening"), nil
		})
		startPortForward(t, c, "monolith", "10080:80") // step 6's ended with it
		mustGet(t, "http://127.0.0.1:10080/version", "", "", "", "")
		framework.WaitFor(t, 20*time.Second, "logs -f streaming a new access line", func() (bool, error) {
			return strings.Contains(buf.String(), "GET /version 200"), nil
		})
	})

	step("08 exec", func(t *testing.T) {
		// The monolith image is scratch: its binary is the one command.
		out, errOut, err := c.Kubectl(t, "exec", "monolith", "-c", "monolith", "--", "/monolith", "-h")
		if !strings.Contains(out+errOut, "-http") {
			t.Errorf("exec /monolith -h: err %v, output %q (want the flag usage)", err, out+errOut)
		}
		out, errOut, err = c.KubectlWithInput(t, "echo shell-in-nginx; exit 0\n", "exec", "-i", "nginx", "--", "/bin/sh")
		if err != nil || !strings.Contains(out, "shell-in-nginx") {
			t.Errorf("exec -i nginx -- /bin/sh: %v\n%s%s", err, out, errOut)
		}
	})

	step("09 probes: readiness and liveness of healthy-monolith", func(t *testing.T) {
		k("create", "-f", filepath.Join(dir, "pods", "healthy-monolith.yaml"))
		k("expose", "pod", "healthy-monolith", "--name", "healthy", "--port", "80")
		waitOutput(t, c, 90*time.Second, []string{"healthy-monolith", "1/1", "Running"}, "get", "pods", "healthy-monolith")
		desc := k("describe", "pods", "healthy-monolith")
		// kubectl before 1.35 wrote "#success=1 #failure=3".
		for _, want := range []string{
			`Liveness:\s+http-get http://:81/healthz delay=5s timeout=5s period=15s (#success=1 #failure=3|successThreshold=1 failureThreshold=3)`,
			`Readiness:\s+http-get http://:81/readiness delay=5s timeout=1s period=10s (#success=1 #failure=3|successThreshold=1 failureThreshold=3)`,
		} {
			if !regexp.MustCompile(want).MatchString(desc) {
				t.Errorf("describe lacks %s:\n%s", want, desc)
			}
		}
		// The service selects app=monolith: this pod among others.
		ip := jsonpath(t, c, "{.status.podIP}", "pod", "healthy-monolith")
		endpointsHave := func(field string) func() (bool, error) {
			return func() (bool, error) {
				ips := strings.Fields(jsonpath(t, c, "{.subsets[*]."+field+"[*].ip}", "endpoints", "healthy"))
				return slices.Contains(ips, ip), nil
			}
		}
		framework.WaitFor(t, 30*time.Second, "the pod among the service's ready endpoints", endpointsHave("addresses"))
		startPortForward(t, c, "healthy-monolith", "10081:81")
		mustGet(t, "http://127.0.0.1:10081/readiness/status", "", "", "", "")
		waitOutput(t, c, 60*time.Second, []string{"healthy-monolith", "0/1", "Running"}, "get", "pods", "healthy-monolith")
		framework.WaitFor(t, 30*time.Second, "the pod among the not-ready endpoints", endpointsHave("notReadyAddresses"))
		mustGet(t, "http://127.0.0.1:10081/readiness/status", "", "", "", "")
		waitOutput(t, c, 60*time.Second, []string{"healthy-monolith", "1/1", "Running"}, "get", "pods", "healthy-monolith")
		framework.WaitFor(t, 30*time.Second, "the pod back among the ready endpoints", endpointsHave("addresses"))

		mustGet(t, "http://127.0.0.1:10081/healthz/status", "", "", "", "")
		// Three failed probes 15 s apart, then a restart.
		waitJSONPath(t, c, 120*time.Second, "1", "{.status.containerStatuses[0].restartCount}", "pod", "healthy-monolith")
		waitOutput(t, c, 30*time.Second, []string{"Unhealthy", "Liveness probe failed", "failed liveness probe, will be restarted"},
			"describe", "pods", "healthy-monolith")
	})

	step("10 the tls-certs Secret and the nginx-proxy-conf ConfigMap", func(t *testing.T) {
		k("create", "secret", "generic", "tls-certs", "--from-file="+tlsDir)
		desc := k("describe", "secrets", "tls-certs")
		for _, name := range []string{"ca-key.pem", "ca.pem", "cert.pem", "key.pem"} {
			info, err := os.Stat(filepath.Join(tlsDir, name))
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf(`(?m)^%s:\s+%d bytes$`, regexp.QuoteMeta(name), info.Size()); !regexp.MustCompile(want).MatchString(desc) {
				t.Errorf("describe secrets tls-certs lacks %s:\n%s", want, desc)
			}
		}
		k("create", "configmap", "nginx-proxy-conf", "--from-file="+filepath.Join(dir, "nginx", "proxy.conf"))
		if desc := k("describe", "configmap", "nginx-proxy-conf"); !strings.Contains(desc, "proxy_pass http://127.0.0.1:80;") {
			t.Errorf("describe configmap nginx-proxy-conf lacks its content:\n%s", desc)
		}
	})

	step("11 secure-monolith: nginx in front of the monolith in one pod", func(t *testing.T) {
		k("create", "-f", filepath.Join(dir, "pods", "secure-monolith.yaml"))
		waitOutput(t, c, 90*time.Second, []string{"secure-monolith", "2/2", "Running"}, "get", "pods", "secure-monolith")
		startPortForward(t, c, "secure-monolith", "10443:443")
		waitGet(t, 30*time.Second, "https://127.0.0.1:10443/", caFile, http.StatusOK, `{"message":"Hello"}`)
		waitOutput(t, c, 20*time.Second, []string{`"GET / HTTP/1.1" 200`}, "logs", "-c", "nginx", "secure-monolith")
	})

	step("12 a NodePort service without endpoints", func(t *testing.T) {
		k("create", "-f", filepath.Join(dir, "services", "monolith.yaml"))
		if r, err := httpGet("https://"+nodeIP+":31000/", "", "", "", "insecure"); err == nil {
			t.Errorf("NodePort 31000 answered %d %q before any pod matched", r.status, r.body)
		}
		if out, _, _ := c.Kubectl(t, "get", "pods", "-l", "app=monolith,secure=enabled"); strings.Contains(out, "monolith") {
			t.Errorf("pods matched app=monolith,secure=enabled before the label:\n%s", out)
		}
	})

	step("13 label the pod: the service finds it", func(t *testing.T) {
		k("label", "pods", "secure-monolith", "secure=enabled")
		out := k("get", "pods", "-l", "app=monolith,secure=enabled")
		if !regexp.MustCompile(`secure-monolith\s+2/2\s+Running`).MatchString(out) {
			t.Errorf("get pods -l app=monolith,secure=enabled:\n%s", out)
		}
		ip := jsonpath(t, c, "{.status.podIP}", "pod", "secure-monolith")
		waitOutput(t, c, 30*time.Second, []string{"Endpoints:", ip + ":443"}, "describe", "services", "monolith")
		waitGet(t, 30*time.Second, "https://"+nodeIP+":31000/", "insecure", http.StatusOK, `{"message":"Hello"}`)
	})

	step("14 the auth and hello deployments", func(t *testing.T) {
		for _, app := range []string{"auth", "hello"} {
			k("create", "-f", filepath.Join(dir, "deployments", app+".yaml"), "-f", filepath.Join(dir, "services", app+".yaml"))
		}
		for _, app := range []string{"auth", "hello"} {
			desc := waitOutput(t, c, 90*time.Second, []string{"1 desired | 1 updated | 1 total | 1 available | 0 unavailable"},
				"describe", "deployment", app)
			for _, want := range []string{"StrategyType:           RollingUpdate", "NewReplicaSet:   " + app + "-", "ScalingReplicaSet"} {
				if !strings.Contains(desc, want) {
					t.Errorf("describe deployment %s lacks %q:\n%s", app, want, desc)
				}
			}
		}
	})

	var frontendIP string
	step("15 the frontend waits for its ConfigMap, then serves over TLS", func(t *testing.T) {
		k("create", "-f", filepath.Join(dir, "deployments", "frontend.yaml"))
		waitOutput(t, c, 60*time.Second, []string{"ContainerCreating"}, "get", "pods", "-l", "app=frontend")
		waitOutput(t, c, 60*time.Second, []string{"FailedMount", `configmap "nginx-frontend-conf" not found`}, "describe", "pods", "-l", "app=frontend")
		k("create", "configmap", "nginx-frontend-conf", "--from-file="+filepath.Join(dir, "nginx", "frontend.conf"))
		waitOutput(t, c, 120*time.Second, []string{"1/1", "Running"}, "get", "pods", "-l", "app=frontend")
		k("create", "-f", filepath.Join(dir, "services", "frontend.yaml"))
		framework.WaitFor(t, 30*time.Second, "the frontend's EXTERNAL-IP", func() (bool, error) {
			frontendIP = jsonpath(t, c, "{.status.loadBalancer.ingress[0].ip}", "service", "frontend")
			return frontendIP != "", nil
		})
		waitGet(t, 60*time.Second, "https://"+frontendIP+"/", "insecure", http.StatusOK, `{"message":"Hello"}`)
		login(t, "https://"+frontendIP+"/login", "insecure")
	})

	step("16 scale hello to 3 with kubectl apply", func(t *testing.T) {
		manifest, err := os.ReadFile(filepath.Join(dir, "deployments", "hello.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		scaled := filepath.Join(t.TempDir(), "hello.yaml")
		if err := os.WriteFile(scaled, []byte(strings.Replace(string(manifest), "replicas: 1", "replicas: 3", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		k("apply", "-f", scaled)
		out := waitOutput(t, c, 90*time.Second, []string{"3         3         3"}, "get", "replicasets", "-l", "app=hello")
		if !regexp.MustCompile(`hello-\w+\s+3\s+3\s+3\s`).MatchString(out) {
			t.Errorf("get replicasets:\n%s", out)
		}
		framework.WaitFor(t, 30*time.Second, "three hello endpoints", func() (bool, error) {
			return len(strings.Fields(jsonpath(t, c, "{.subsets[0].addresses[*].ip}", "endpoints", "hello"))) == 3, nil
		})
		// Every replica serves: 30 requests through the frontend reach each
		// of the three (each access log gets at least one line).
		for range 30 {
			mustGet(t, "https://"+frontendIP+"/", "", "", "", "insecure")
		}
		pods := strings.Fields(jsonpath(t, c, "{.items[*].metadata.name}", "pods", "-l", "app=hello"))
		for _, pod := range pods {
			if out := k("logs", pod); !strings.Contains(out, "GET / 200") {
				t.Errorf("pod %s served no request of 30 through the service:\n%s", pod, out)
			}
		}
	})

	step("17 rolling update with zero failed requests", func(t *testing.T) {
		var sent, failed atomic.Int64
		var mu sync.Mutex
		var failures []string
		versions := map[string]bool{}
		stop := make(chan struct{})
		var loop sync.WaitGroup
		loop.Add(1)
		go func() {
			defer loop.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := httpGet("https://"+frontendIP+"/version", "", "", "", "insecure")
				sent.Add(1)
				mu.Lock()
				if err != nil || r.status != http.StatusOK {
					failed.Add(1)
					failures = append(failures, fmt.Sprintf("%v %d %q", err, r.status, r.body))
				} else {
					versions[r.body] = true
				}
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		}()
		manifest, err := os.ReadFile(filepath.Join(dir, "deployments", "auth.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		updated := filepath.Join(t.TempDir(), "auth.yaml")
		if err := os.WriteFile(updated, []byte(strings.Replace(string(manifest), "auth:1.0.0", "auth:2.0.0", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		k("apply", "-f", updated)
		k("set", "image", "deployment/hello", "hello=localhost/hello:2.0.0")
		for _, app := range []string{"auth", "hello"} {
			if out := k("rollout", "status", "deployment/"+app, "--timeout=180s"); !strings.Contains(out, "successfully rolled out") {
				t.Errorf("rollout status %s: %s", app, out)
			}
		}
		waitGet(t, 30*time.Second, "https://"+frontendIP+"/version", "insecure", http.StatusOK, `"2.0.0"`)
		close(stop)
		loop.Wait()
		mu.Lock()
		defer mu.Unlock()
		t.Logf("%d requests through the frontend during the rollout, %d failed, versions seen %v", sent.Load(), failed.Load(), versions)
		if failed.Load() != 0 {
			t.Errorf("%d of %d requests failed during the rolling update: %v", failed.Load(), sent.Load(), failures[:min(5, len(failures))])
		}
		if !versions[`{"version":"1.0.0"}`] || !versions[`{"version":"2.0.0"}`] {
			t.Errorf("versions seen %v, want 1.0.0 then 2.0.0", versions)
		}
	})

	step("18 rollout history and undo", func(t *testing.T) {
		out := k("rollout", "history", "deployment/auth")
		if !regexp.MustCompile(`(?m)^1\s`).MatchString(out) || !regexp.MustCompile(`(?m)^2\s`).MatchString(out) {
			t.Errorf("rollout history deployment/auth:\n%s", out)
		}
		k("rollout", "undo", "deployment/auth")
		k("rollout", "status", "deployment/auth", "--timeout=180s")
		authIP := jsonpath(t, c, "{.spec.clusterIP}", "service", "auth")
		waitGet(t, 30*time.Second, "http://"+authIP+"/version", "", http.StatusOK, `"1.0.0"`)
	})

	step("bad input: the frontend's ConfigMap deleted under it", func(t *testing.T) {
		pod := jsonpath(t, c, "{.items[0].metadata.name}", "pods", "-l", "app=frontend")
		failedMounts := func() int {
			n := 0
			for _, count := range strings.Fields(jsonpath(t, c, "{.items[*].count}", "events",
				"--field-selector", "involvedObject.name="+pod+",reason=FailedMount")) {
				var v int
				fmt.Sscan(count, &v)
				n += v
			}
			return n
		}
		before := failedMounts()
		k("delete", "configmap", "nginx-frontend-conf")
		// A label change makes the agent sync the pod, and with it try to
		// refresh the volume: the refresh fails, the files stay.
		k("label", "pod", pod, "touched=yes")
		framework.WaitFor(t, 60*time.Second, "a FailedMount event for the deleted ConfigMap", func() (bool, error) {
			return failedMounts() > before, nil
		})
		waitGet(t, 10*time.Second, "https://"+frontendIP+"/", "insecure", http.StatusOK, `{"message":"Hello"}`)
		if restarts := jsonpath(t, c, "{.status.containerStatuses[0].restartCount}", "pod", pod); restarts != "0" {
			t.Errorf("the frontend restarted %s times after its ConfigMap was deleted", restarts)
		}
	})
}

// lockedBuffer collects a child's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
