package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/navarch/navarch/test/framework"
)

const deploymentYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: localhost/web:1
        ports:
        - containerPort: 8080
`

const podYAML = `apiVersion: v1
kind: Pod
metadata:
  name: monolith
  labels:
    app: monolith
spec:
  containers:
  - name: monolith
    image: localhost/monolith:1.0.0
    ports:
    - name: http
      containerPort: 80
    resources:
      limits:
        cpu: 200m
        memory: 10Mi
`

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKubectlWorkflow(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binary")
	}
	c := framework.StartBinary(t, framework.Options{})
	dir := t.TempDir()
	k := func(args ...string) string { t.Helper(); return c.MustKubectl(t, args...) }

	t.Run("create and get", func(t *testing.T) {
		k("create", "-f", writeFile(t, dir, "pod.yaml", podYAML))
		out := k("get", "pods")
		if !regexp.MustCompile(`(?m)^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$`).MatchString(out) {
			t.Fatalf("pods table header:\n%s", out)
		}
		if !regexp.MustCompile(`(?m)^monolith\s+0/1\s+Pending\s+0\s+\S+$`).MatchString(out) {
			t.Fatalf("pods row:\n%s", out)
		}
		wide := k("get", "pods", "-o", "wide")
		if !strings.Contains(wide, "NOMINATED NODE") || !strings.Contains(wide, "READINESS GATES") {
			t.Fatalf("-o wide columns:\n%s", wide)
		}
		var pod map[string]interface{}
		if err := json.Unmarshal([]byte(k("get", "pod", "monolith", "-o", "json")), &pod); err != nil {
			t.Fatalf("-o json: %v", err)
		}
		if pod["kind"] != "Pod" {
			t.Fatalf("-o json kind = %v", pod["kind"])
		}
		if y := k("get", "pod", "monolith", "-o", "yaml"); !strings.Contains(y, "restartPolicy: Always") {
			t.Fatalf("-o yaml lacks defaults:\n%s", y)
		}
		if n := k("get", "pods", "-o", "name"); strings.TrimSpace(n) != "pod/monolith" {
			t.Fatalf("-o name = %q", n)
		}
		if j := k("get", "pod", "monolith", "-o", "jsonpath={.spec.containers[0].image}"); j != "localhost/monolith:1.0.0" {
			t.Fatalf("jsonpath = %q", j)
		}
		if l := k("get", "pods", "-l", "app=nothing"); strings.Contains(l, "monolith") {
			t.Fatalf("-l filtered nothing:\n%s", l)
		}
		all := k("get", "pods", "-A")
		if !regexp.MustCompile(`(?m)^NAMESPACE\s+NAME`).MatchString(all) || !strings.Contains(all, "default") {
			t.Fatalf("-A:\n%s", all)
		}
		d := k("describe", "pod", "monolith")
		for _, want := range []string{"Name:", "monolith", "Limits:", "cpu:", "200m", "Port:", "80/TCP"} {
			if !strings.Contains(d, want) {
				t.Fatalf("describe lacks %q:\n%s", want, d)
			}
		}
	})

	t.Run("apply twice", func(t *testing.T) {
		f := writeFile(t, dir, "dep.yaml", deploymentYAML)
		if out := k("apply", "-f", f); !strings.Contains(out, "deployment.apps/web created") {
			t.Fatalf("first apply: %q", out)
		}
		if out := k("apply", "-f", f); !strings.Contains(out, "unchanged") {
			t.Fatalf("second apply: %q", out)
		}
		writeFile(t, dir, "dep.yaml", strings.Replace(deploymentYAML, "replicas: 2", "replicas: 3", 1))
		if out := k("apply", "-f", f); !strings.Contains(out, "configured") {
			t.Fatalf("changed apply: %q", out)
		}
		if r := k("get", "deployment", "web", "-o", "jsonpath={.spec.replicas}"); r != "3" {
			t.Fatalf("replicas after apply = %q", r)
		}
		out := k("get", "deployments")
		if !regexp.MustCompile(`(?m)^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE$`).MatchString(out) {
			t.Fatalf("deployments table:\n%s", out)
		}
	})

	t.Run("label annotate patch scale", func(t *testing.T) {
		k("label", "pods", "monolith", "secure=enabled")
		if out := k("get", "pods", "-l", "app=monolith,secure=enabled", "-o", "name"); strings.TrimSpace(out) != "pod/monolith" {
			t.Fatalf("label selector after label: %q", out)
		}
		k("annotate", "pods", "monolith", "note=hello")
		if a := k("get", "pod", "monolith", "-o", "jsonpath={.metadata.annotations.note}"); a != "hello" {
			t.Fatalf("annotation = %q", a)
		}
		k("patch", "deployment", "web", "--type", "merge", "-p", `{"metadata":{"labels":{"m":"1"}}}`)
		k("patch", "deployment", "web", "--type", "json", "-p", `[{"op":"add","path":"/metadata/labels/j","value":"2"}]`)
		k("patch", "deployment", "web", "-p", `{"metadata":{"labels":{"s":"3"}}}`)
		if l := k("get", "deployment", "web", "-o", "jsonpath={.metadata.labels.m}{.metadata.labels.j}{.metadata.labels.s}"); l != "123" {
			t.Fatalf("labels after three patches = %q", l)
		}
		if out := k("scale", "deployment", "web", "--replicas", "5"); !strings.Contains(out, "scaled") {
			t.Fatalf("scale: %q", out)
		}
		if r := k("get", "deployment", "web", "-o", "jsonpath={.spec.replicas}"); r != "5" {
			t.Fatalf("replicas after scale = %q", r)
		}
	})

	t.Run("namespaces secrets configmaps", func(t *testing.T) {
		k("create", "namespace", "custom-namespace")
		k("create", "-f", writeFile(t, dir, "pod.yaml", podYAML), "-n", "custom-namespace")
		if out := k("get", "pods", "-n", "custom-namespace", "-o", "name"); strings.TrimSpace(out) != "pod/monolith" {
			t.Fatalf("pods in custom-namespace: %q", out)
		}
		tls := filepath.Join(dir, "tls")
		os.MkdirAll(tls, 0o755)
		writeFile(t, tls, "ca.pem", "ca-bytes\n")
		writeFile(t, tls, "cert.pem", "cert\n")
		k("create", "secret", "generic", "tls-certs", "--from-file="+tls)
		k("create", "secret", "generic", "lit", "--from-literal=user=admin")
		d := k("describe", "secrets", "tls-certs")
		if !regexp.MustCompile(`ca\.pem:\s+9 bytes`).MatchString(d) || !regexp.MustCompile(`cert\.pem:\s+5 bytes`).MatchString(d) {
			t.Fatalf("describe secret:\n%s", d)
		}
		conf := writeFile(t, dir, "proxy.conf", "server { listen 443; }\n")
		k("create", "configmap", "nginx-proxy-conf", "--from-file="+conf)
		if d := k("describe", "configmap", "nginx-proxy-conf"); !strings.Contains(d, "listen 443") {
			t.Fatalf("describe configmap:\n%s", d)
		}
		if out := k("get", "secrets"); !regexp.MustCompile(`(?m)^NAME\s+TYPE\s+DATA\s+AGE$`).MatchString(out) {
			t.Fatalf("secrets table:\n%s", out)
		}
	})

	t.Run("explain", func(t *testing.T) {
		out := k("explain", "pods.spec.containers")
		if !strings.Contains(out, "KIND:") || !strings.Contains(out, "Pod") || !strings.Contains(out, "FIELD: containers") {
			t.Fatalf("explain:\n%s", out)
		}
	})

	t.Run("errors users see", func(t *testing.T) {
		bad := writeFile(t, dir, "typo.yaml", strings.Replace(podYAML, "image:", "imagee:", 1))
		_, errOut, err := c.Kubectl(t, "create", "-f", bad)
		if err == nil || !strings.Contains(errOut, `unknown field "spec.containers[0].imagee"`) {
			t.Fatalf("typo in field: err %v, stderr %q", err, errOut)
		}
		_, errOut, err = c.Kubectl(t, "get", "pods", "nothere")
		if err == nil || !strings.Contains(errOut, `pods "nothere" not found`) {
			t.Fatalf("missing pod: err %v, stderr %q", err, errOut)
		}
	})

	t.Run("watch", func(t *testing.T) {
		cmd := exec.Command(framework.Binary(t), "kubectl", "get", "configmaps", "-w", "--request-timeout=0")
		cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig)
		var out syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		framework.WaitFor(t, 20*time.Second, "watch header", func() (bool, error) { return strings.Contains(out.String(), "NAME"), nil })
		k("create", "configmap", "watched", "--from-literal=a=b")
		framework.WaitFor(t, 20*time.Second, "watched configmap in kubectl get -w", func() (bool, error) {
			return strings.Contains(out.String(), "watched"), nil
		})
	})

	t.Run("delete", func(t *testing.T) {
		k("delete", "pod", "monolith")
		k("delete", "-f", filepath.Join(dir, "dep.yaml"))
		if out := k("get", "pods", "-o", "name"); strings.TrimSpace(out) != "" {
			t.Fatalf("pods left: %q", out)
		}
		k("delete", "namespace", "custom-namespace")
		framework.WaitFor(t, 60*time.Second, "namespace gone", func() (bool, error) {
			_, errOut, err := c.Kubectl(t, "get", "namespace", "custom-namespace")
			return err != nil && strings.Contains(errOut, "not found"), nil
		})
	})
}
