package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/navarch/navarch/test/framework"
)

// toolsImage is the busybox-based image of the course (sh, wget,
// nslookup), built by hack/build-images.sh.
const toolsImage = "localhost/tools:1.0"

// TestCourseBeyondTheLessons runs steps 19 to 28 of SCENARIO.md (the
// course's other notes) on one cluster with its node agent: namespaces,
// output formats, ReplicaSets and DaemonSets, every kind of Service seen
// from a pod, Ingress, ConfigMaps and Secrets, storage, grace periods,
// self-healing and `kubectl run --rm -it`.
func TestCourseBeyondTheLessons(t *testing.T) {
	requireRuntime(t)
	c := startAgentCluster(t, "--cluster-dns=true")
	k := func(args ...string) string { t.Helper(); return c.MustKubectl(t, args...) }
	apply := func(t *testing.T, manifest string) {
		t.Helper()
		if out, errOut, err := c.KubectlWithInput(t, manifest, "apply", "-f", "-"); err != nil {
			t.Fatalf("kubectl apply: %v\n%s%s", err, out, errOut)
		}
	}
	buildCourseImages(t, c)
	nodeIP := jsonpath(t, c, `{.items[0].status.addresses[?(@.type=="InternalIP")].address}`, "nodes")

	// A long-lived client pod for the in-cluster checks.
	k("run", "tools", "--image="+toolsImage, "--", "sleep", "86400")
	waitOutput(t, c, 90*time.Second, []string{"1/1", "Running"}, "get", "pod", "tools")
	inPod := func(t *testing.T, pod string, args ...string) (string, error) {
		t.Helper()
		out, errOut, err := c.Kubectl(t, append([]string{"exec", pod, "--"}, args...)...)
		return out + errOut, err
	}
	// waitInPod runs a command in a pod until its output has want.
	waitInPod := func(t *testing.T, want string, args ...string) string {
		t.Helper()
		var out string
		framework.WaitFor(t, 60*time.Second, strings.Join(args, " ")+" showing "+want, func() (bool, error) {
			out, _ = inPod(t, "tools", args...)
			return strings.Contains(out, want), nil
		})
		return out
	}

	t.Run("19 namespaces", func(t *testing.T) {
		k("create", "namespace", "custom-namespace")
		k("create", "-f", filepath.Join(courseDir(t), "pods", "monolith.yaml"), "-n", "custom-namespace")
		waitOutput(t, c, 90*time.Second, []string{"custom-namespace", "monolith", "Running"}, "get", "pods", "--all-namespaces")
	})

	t.Run("20 output formats", func(t *testing.T) {
		ip := k("get", "pods", "tools", "-o", "jsonpath", "--template={.status.podIP}")
		if !regexp.MustCompile(`^\d+\.\d+\.\d+\.\d+$`).MatchString(ip) {
			t.Errorf("jsonpath podIP = %q", ip)
		}
		if out := k("get", "pods", "tools", "-o", "json"); !strings.Contains(out, `"podIP": "`+ip+`"`) {
			t.Errorf("-o json lacks the pod IP:\n%s", out)
		}
		if out := k("get", "pods", "tools", "-o", "yaml"); !strings.Contains(out, "podIP: "+ip) {
			t.Errorf("-o yaml lacks the pod IP:\n%s", out)
		}
	})

	t.Run("21 ReplicaSet and DaemonSet", func(t *testing.T) {
		apply(t, `
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs-web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: rs-web}
    matchExpressions: [{key: tier, operator: In, values: [frontend, web]}]
  template:
    metadata: {labels: {app: rs-web, tier: web}}
    spec:
      containers: [{name: hello, image: localhost/hello:1.0.0}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ds-nowhere}
spec:
  selector: {matchLabels: {app: ds-nowhere}}
  template:
    metadata: {labels: {app: ds-nowhere}}
    spec:
      nodeSelector: {disk: ssd}
      containers: [{name: hello, image: localhost/hello:1.0.0}]
`)
		waitJSONPath(t, c, 90*time.Second, "2", "{.status.readyReplicas}", "replicaset", "rs-web")
		if out := jsonpath(t, c, "{.status.desiredNumberScheduled}", "daemonset", "ds-nowhere"); out != "0" {
			t.Errorf("DaemonSet with an unmatched nodeSelector wants %q pods", out)
		}
		k("delete", "replicaset", "rs-web")
		framework.WaitFor(t, 60*time.Second, "the ReplicaSet's pods gone", func() (bool, error) {
			return jsonpath(t, c, "{.items[*].metadata.name}", "pods", "-l", "app=rs-web") == "", nil
		})
		k("delete", "daemonset", "ds-nowhere")
	})

	t.Run("22 services seen from a pod", func(t *testing.T) {
		apply(t, `
apiVersion: apps/v1
kind: Deployment
metadata: {name: hello}
spec:
  replicas: 2
  selector: {matchLabels: {app: hello}}
  template:
    metadata: {labels: {app: hello}}
    spec:
      containers:
      - name: hello
        image: localhost/hello:1.0.0
        ports: [{name: http, containerPort: 80}, {name: health, containerPort: 81}]
---
apiVersion: v1
kind: Service
metadata: {name: hello}
spec:
  selector: {app: hello}
  ports:
  - {name: web, port: 80, targetPort: http}
  - {name: health, port: 8081, targetPort: health}
---
apiVersion: v1
kind: Service
metadata: {name: sticky}
spec:
  selector: {app: hello}
  sessionAffinity: ClientIP
  ports: [{port: 80, targetPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: headless}
spec:
  clusterIP: None
  selector: {app: hello}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: outside}
spec:
  type: ExternalName
  externalName: hello.default.svc.cluster.local
`)
		waitJSONPath(t, c, 90*time.Second, "2", "{.status.availableReplicas}", "deployment", "hello")
		// Multi-port with named target ports, by short, namespaced and
		// fully qualified name.
		for _, host := range []string{"hello", "hello.default", "hello.default.svc.cluster.local"} {
			waitInPod(t, `"message":"Hello"`, "wget", "-qO-", "http://"+host+"/")
		}
		waitInPod(t, "200", "wget", "-S", "-qO-", "http://hello:8081/healthz")
		// Headless: one A record per ready pod.
		podIPs := strings.Fields(jsonpath(t, c, "{.items[*].status.podIP}", "pods", "-l", "app=hello"))
		out := waitInPod(t, podIPs[0], "nslookup", "headless.default.svc.cluster.local")
		for _, ip := range podIPs {
			if !strings.Contains(out, ip) {
				t.Errorf("nslookup headless lacks pod IP %s:\n%s", ip, out)
			}
		}
		// ExternalName: a CNAME to the hello service.
		waitInPod(t, "hello.default.svc.cluster.local", "nslookup", "outside.default.svc.cluster.local")
		// Session affinity: one client always reaches the same pod (the
		// hello access log shows which one served).
		for range 10 {
			if _, err := inPod(t, "tools", "wget", "-qO-", "http://sticky/version"); err != nil {
				t.Fatalf("wget sticky: %v", err)
			}
		}
		served := 0
		for _, pod := range strings.Fields(jsonpath(t, c, "{.items[*].metadata.name}", "pods", "-l", "app=hello")) {
			if strings.Contains(k("logs", pod), "GET /version") {
				served++
			}
		}
		if served != 1 {
			t.Errorf("requests to a ClientIP-affine service were served by %d pods, want 1", served)
		}
		// A selector-less service with hand-made Endpoints.
		apply(t, `
apiVersion: v1
kind: Service
metadata: {name: manual}
spec:
  ports: [{port: 80, targetPort: 80}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: manual}
subsets:
- addresses: [{ip: `+podIPs[0]+`}]
  ports: [{port: 80}]
`)
		waitInPod(t, `"message":"Hello"`, "wget", "-qO-", "http://manual/")
		// Service env vars in a pod created after the service.
		k("run", "envcheck", "--image="+toolsImage, "--restart=Never", "--", "sh", "-c", "env")
		waitOutput(t, c, 60*time.Second, []string{"HELLO_SERVICE_HOST=", "HELLO_SERVICE_PORT=80", "HELLO_PORT_80_TCP="}, "logs", "envcheck")
	})

	t.Run("23 ingress with TLS and two hosts", func(t *testing.T) {
		tlsDir := t.TempDir()
		if out, err := exec.Command("go", "run", "github.com/navarch/navarch/examples/course/cmd/tlsgen", "-out", tlsDir,
			"-hosts", "hello.example.com,auth.example.com").CombinedOutput(); err != nil {
			t.Fatalf("tlsgen: %v\n%s", err, out)
		}
		k("create", "secret", "tls", "example-tls", "--cert", filepath.Join(tlsDir, "cert.pem"), "--key", filepath.Join(tlsDir, "key.pem"))
		k("create", "deployment", "auth", "--image=localhost/auth:1.0.0")
		k("expose", "deployment", "auth", "--port", "80")
		apply(t, `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: course}
spec:
  ingressClassName: navarch
  tls: [{hosts: [hello.example.com, auth.example.com], secretName: example-tls}]
  rules:
  - host: hello.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: hello, port: {number: 80}}}}
  - host: auth.example.com
    http:
      paths:
      - {path: /login, pathType: Exact, backend: {service: {name: auth, port: {number: 80}}}}
      - {path: /version, pathType: Prefix, backend: {service: {name: auth, port: {number: 80}}}}
`)
		caFile := filepath.Join(tlsDir, "ca.pem")
		get := func(host, path string) (httpResult, error) {
			return httpGetResolved(host, nodeIP, "https://"+host+path, caFile)
		}
		framework.WaitFor(t, 60*time.Second, "the ingress serving hello.example.com", func() (bool, error) {
			r, err := get("hello.example.com", "/")
			return err == nil && r.status == 200 && strings.Contains(r.body, "Hello"), nil
		})
		framework.WaitFor(t, 60*time.Second, "the ingress serving auth.example.com/version", func() (bool, error) {
			r, err := get("auth.example.com", "/version")
			return err == nil && r.status == 200 && strings.Contains(r.body, "1.0.0"), nil
		})
		if r, err := get("auth.example.com", "/"); err != nil || r.status != http.StatusNotFound {
			t.Errorf("auth.example.com/ (no rule): %v %d %q, want 404", err, r.status, r.body)
		}
	})

	t.Run("24 ConfigMaps and Secrets as env and files", func(t *testing.T) {
		k("create", "configmap", "app-config", "--from-literal=greeting=hello", "--from-literal=color=blue")
		k("create", "secret", "generic", "app-secret", "--from-literal=password=s3cret")
		apply(t, `
apiVersion: v1
kind: Pod
metadata: {name: config-user}
spec:
  containers:
  - name: tools
    image: `+toolsImage+`
    command: [sleep, "86400"]
    env:
    - name: GREETING
      valueFrom: {configMapKeyRef: {name: app-config, key: greeting}}
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: app-secret, key: password}}
    - name: MESSAGE
      value: "$(GREETING) world"
    envFrom: [{prefix: CFG_, configMapRef: {name: app-config}}]
    volumeMounts:
    - {name: config, mountPath: /etc/config}
    - {name: secret, mountPath: /etc/secret}
  volumes:
  - {name: config, configMap: {name: app-config}}
  - {name: secret, secret: {secretName: app-secret}}
`)
		waitOutput(t, c, 90*time.Second, []string{"1/1", "Running"}, "get", "pod", "config-user")
		env, _ := inPod(t, "config-user", "env")
		for _, want := range []string{"GREETING=hello", "PASSWORD=s3cret", "MESSAGE=hello world", "CFG_color=blue"} {
			if !strings.Contains(env, want) {
				t.Errorf("env lacks %s:\n%s", want, env)
			}
		}
		if out, _ := inPod(t, "config-user", "cat", "/etc/config/color", "/etc/secret/password"); out != "blues3cret" {
			t.Errorf("mounted files read %q, want blues3cret", out)
		}
		k("patch", "configmap", "app-config", "--type=merge", "-p", `{"data":{"color":"green"}}`)
		framework.WaitFor(t, 100*time.Second, "the changed ConfigMap in the mounted file", func() (bool, error) {
			out, _ := inPod(t, "config-user", "cat", "/etc/config/color")
			return out == "green", nil
		})
		if restarts := jsonpath(t, c, "{.status.containerStatuses[0].restartCount}", "pod", "config-user"); restarts != "0" {
			t.Errorf("the pod restarted %s times for a ConfigMap change", restarts)
		}
	})

	t.Run("25 storage: PV, PVC, StorageClass, StatefulSet", func(t *testing.T) {
		hostDir := t.TempDir()
		apply(t, `
apiVersion: v1
kind: PersistentVolume
metadata: {name: manual-pv}
spec:
  storageClassName: manual
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  hostPath: {path: "`+hostDir+`"}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: manual-claim}
spec:
  storageClassName: manual
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
`)
		waitOutput(t, c, 30*time.Second, []string{"manual-claim", "Bound", "manual-pv"}, "get", "pvc", "manual-claim")
		writer := func(name, claim string) string {
			return `
apiVersion: v1
kind: Pod
metadata: {name: ` + name + `}
spec:
  containers:
  - name: tools
    image: ` + toolsImage + `
    command: [sh, -c, "echo $(date +%s) >> /data/log; sleep 86400"]
    volumeMounts: [{name: data, mountPath: /data}]
  volumes: [{name: data, persistentVolumeClaim: {claimName: ` + claim + `}}]
`
		}
		apply(t, writer("keeper", "manual-claim"))
		waitOutput(t, c, 90*time.Second, []string{"1/1", "Running"}, "get", "pod", "keeper")
		k("delete", "pod", "keeper", "--grace-period=1")
		apply(t, writer("keeper", "manual-claim"))
		waitOutput(t, c, 90*time.Second, []string{"1/1", "Running"}, "get", "pod", "keeper")
		deadline := time.Now().Add(30 * time.Second)
		for {
			data, err := os.ReadFile(filepath.Join(hostDir, "log"))
			if err == nil && strings.Count(string(data), "\n") == 2 {
				break
			}
			if time.Now().After(deadline) {
				out, _, _ := c.Kubectl(t, "describe", "pod", "keeper")
				entries, _ := os.ReadDir(hostDir)
				t.Fatalf("want two lines in %s/log, one per pod; read %q (%v), dir has %v\n%s", hostDir, data, err, entries, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
		// Dynamic provisioning by the default local-path class.
		apply(t, `
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: dynamic}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
`)
		apply(t, writer("dynamic-user", "dynamic"))
		waitOutput(t, c, 90*time.Second, []string{"dynamic", "Bound", "local-path"}, "get", "pvc", "dynamic")
		waitOutput(t, c, 90*time.Second, []string{"1/1", "Running"}, "get", "pod", "dynamic-user")
		// A StatefulSet with a headless service and claim templates.
		apply(t, `
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - name: hello
        image: localhost/hello:1.0.0
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
`)
		waitJSONPath(t, c, 180*time.Second, "3", "{.status.readyReplicas}", "statefulset", "db")
		created := map[string]string{}
		for _, i := range []string{"0", "1", "2"} {
			created[i] = jsonpath(t, c, "{.metadata.creationTimestamp}", "pod", "db-"+i)
			waitOutput(t, c, 30*time.Second, []string{"data-db-" + i, "Bound"}, "get", "pvc", "data-db-"+i)
		}
		if !(created["0"] <= created["1"] && created["1"] <= created["2"]) {
			t.Errorf("db pods created out of order: %v", created)
		}
		ip := jsonpath(t, c, "{.status.podIP}", "pod", "db-0")
		waitInPod(t, ip, "nslookup", "db-0.db.default.svc.cluster.local")
	})

	t.Run("26 grace period and preStop", func(t *testing.T) {
		marker := t.TempDir()
		apply(t, `
apiVersion: v1
kind: Pod
metadata: {name: stubborn}
spec:
  terminationGracePeriodSeconds: 4
  containers:
  - name: tools
    image: `+toolsImage+`
    command: [sh, -c, "trap '' TERM; while true; do sleep 1; done"]
    lifecycle:
      preStop:
        exec: {command: [sh, -c, "date +%s > /marker/prestop"]}
    volumeMounts: [{name: marker, mountPath: /marker}]
  volumes: [{name: marker, hostPath: {path: "`+marker+`"}}]
`)
		waitOutput(t, c, 90*time.Second, []string{"1/1", "Running"}, "get", "pod", "stubborn")
		start := time.Now()
		k("delete", "pod", "stubborn", "--wait=true", "--timeout=60s")
		took := time.Since(start)
		if took < 3*time.Second || took > 30*time.Second {
			t.Errorf("deleting a pod that ignores SIGTERM with a 4 s grace period took %v", took)
		}
		if _, err := os.Stat(filepath.Join(marker, "prestop")); err != nil {
			t.Errorf("the preStop hook did not run: %v", err)
		}
	})

	t.Run("27 self-healing", func(t *testing.T) {
		k("run", "healer", "--image="+toolsImage, "--", "sleep", "86399")
		waitOutput(t, c, 90*time.Second, []string{"1/1", "Running"}, "get", "pod", "healer")
		if out, err := exec.Command("pkill", "-KILL", "-f", "sleep 86399").CombinedOutput(); err != nil {
			t.Fatalf("pkill: %v %s", err, out)
		}
		waitJSONPath(t, c, 60*time.Second, "1", "{.status.containerStatuses[0].restartCount}", "pod", "healer")
		victim := strings.Fields(jsonpath(t, c, "{.items[*].metadata.name}", "pods", "-l", "app=hello"))[0]
		k("delete", "pod", victim)
		framework.WaitFor(t, 90*time.Second, "a replacement hello pod", func() (bool, error) {
			names := jsonpath(t, c, "{.items[*].metadata.name}", "pods", "-l", "app=hello")
			return len(strings.Fields(names)) == 2 && !strings.Contains(names, victim), nil
		})
	})

	t.Run("28 kubectl run --rm -it", func(t *testing.T) {
		out, errOut, err := c.KubectlWithInput(t, "echo from-the-shell\nexit\n", "run", "shell", "--rm", "-i", "--restart=Never", "--image="+toolsImage, "--", "sh")
		if err != nil || !strings.Contains(out, "from-the-shell") {
			t.Errorf("kubectl run --rm -i: %v\n%s%s", err, out, errOut)
		}
		framework.WaitFor(t, 60*time.Second, "the shell pod removed", func() (bool, error) {
			_, _, err := c.Kubectl(t, "get", "pod", "shell")
			return err != nil, nil
		})
	})
}
