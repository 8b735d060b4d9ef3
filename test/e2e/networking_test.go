package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/navarch/navarch/test/framework"
)

// netImage is the test image (internal/agent/testdata/web): it serves
// "hello from POD path=PATH" on 8080, /readiness (and its toggle) and
// /delay, and has the get and apiget tools for requests from a pod.
const netImage = "localhost/web:net"

// TestNetworking checks service networking end to end on one cluster with
// its node agent (real containerd, nftables, cluster DNS, ingress), in
// what the other end-to-end tests leave out:
//
//   - from a pod: a Service by ClusterIP, by node IP:nodePort and by its
//     DNS names, and ClientIP session affinity;
//   - from a pod: the kubernetes Service, by DNS name and by its cluster
//     IP, to the API server, TLS verified against the cluster CA, with
//     the pod's projected service account token (kube-api-access);
//   - an Ingress's TLS Secret replaced under HTTPS traffic, and broken;
//   - an Ingress's paths changed (one added, one's backend switched)
//     under HTTP traffic, with a request in flight across each change;
//   - a pod turning unready leaving a ClusterIP's rotation, and coming
//     back.
//
// Covered elsewhere, so not here: headless and ExternalName Services from
// a pod (TestCourseBeyondTheLessons, step 22, which also checks DNS names
// and session affinity, but with the course's images, which need Debian's
// packages); ClusterIP, NodePort and LoadBalancer from the host and a
// rolling update under traffic (TestCourseScenario, steps 04, 13, 15 and
// 17; TestDeploymentServesThroughItsService); Ingress TLS by SNI with two
// hosts (TestCourseBeyondTheLessons, step 23); the proxy's rules alone,
// with externalTrafficPolicy Local and the affinity timeout
// (internal/proxy TestDataPath).
func TestNetworking(t *testing.T) {
	requireRuntime(t)
	start := time.Now()
	// The API server listens on every address: pods reach it through the
	// kubernetes Service at the node's address.
	c := startAgentCluster(t, "--cluster-dns=true", "--bind-address", "0.0.0.0")
	client := c.Client(t)
	ctx := context.Background()
	k := func(args ...string) string { t.Helper(); return c.MustKubectl(t, args...) }
	apply := func(t *testing.T, manifest string) {
		t.Helper()
		if out, errOut, err := c.KubectlWithInput(t, manifest, "apply", "-f", "-"); err != nil {
			t.Fatalf("kubectl apply: %v\n%s%s", err, out, errOut)
		}
	}
	buildNetImage(t, c)
	nodeIP := jsonpath(t, c, `{.items[0].status.addresses[?(@.type=="InternalIP")].address}`, "nodes")

	apply(t, netDeployment("web-a", 2)+"---\n"+netDeployment("web-b", 1)+`---
apiVersion: v1
kind: Service
metadata: {name: web-a}
spec:
  type: NodePort
  selector: {app: web-a}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-b}
spec:
  selector: {app: web-b}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-a-sticky}
spec:
  selector: {app: web-a}
  sessionAffinity: ClientIP
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: client
    image: `+netImage+`
    imagePullPolicy: Never
    args: [sleep, "86400"]
`)
	waitJSONPath(t, c, 90*time.Second, "2", "{.status.readyReplicas}", "deployment", "web-a")
	waitJSONPath(t, c, 90*time.Second, "1", "{.status.readyReplicas}", "deployment", "web-b")
	waitJSONPath(t, c, 90*time.Second, "Running", "{.status.phase}", "pod", "client")
	t.Logf("cluster, image and pods ready after %v", time.Since(start).Round(time.Second))

	// inClient runs the image's tool in the client pod.
	inClient := func(t *testing.T, args ...string) (string, error) {
		t.Helper()
		out, errOut, err := c.Kubectl(t, append([]string{"exec", "client", "--", "/web"}, args...)...)
		return out + errOut, err
	}
	waitInClient := func(t *testing.T, timeout time.Duration, want string, args ...string) string {
		t.Helper()
		var out string
		framework.WaitFor(t, timeout, fmt.Sprintf("%v in the client pod answering %q", args, want), func() (bool, error) {
			out, _ = inClient(t, args...)
			return strings.Contains(out, want), nil
		})
		return out
	}

	t.Run("ClusterIP and NodePort from a pod", func(t *testing.T) {
		clusterIP := jsonpath(t, c, "{.spec.clusterIP}", "service", "web-a")
		nodePort := jsonpath(t, c, "{.spec.ports[0].nodePort}", "service", "web-a")
		waitInClient(t, 30*time.Second, "hello from web-a-", "get", "http://"+clusterIP+"/")
		waitInClient(t, 30*time.Second, "hello from web-a-", "get", "http://"+net.JoinHostPort(nodeIP, nodePort)+"/")
		waitInClient(t, 30*time.Second, "hello from web-b-", "get", "http://"+jsonpath(t, c, "{.spec.clusterIP}", "service", "web-b")+"/")
	})

	t.Run("DNS names from a pod", func(t *testing.T) {
		// Also in TestCourseBeyondTheLessons (busybox's wget), which
		// skips where Debian's packages cannot be downloaded.
		for _, name := range []string{"web-b", "web-b.default", "web-b.default.svc", "web-b.default.svc.cluster.local"} {
			waitInClient(t, 30*time.Second, "hello from web-b-", "get", "http://"+name+"/")
		}
	})

	t.Run("ClientIP session affinity from a pod", func(t *testing.T) {
		// servedBy runs 20 requests from the client pod and counts the
		// pods that answered.
		servedBy := func(service string) map[string]int {
			t.Helper()
			out, err := inClient(t, "get", "http://"+service+"/", "20")
			if err != nil {
				t.Fatalf("get %s x20: %v\n%s", service, err, out)
			}
			pods := map[string]int{}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if f := strings.Fields(line); len(f) >= 3 && f[0] == "hello" {
					pods[f[2]]++
				}
			}
			return pods
		}
		// Without affinity both pods answer (all 20 from one: one
		// chance in 500,000), so the check below can tell.
		if pods := servedBy("web-a"); len(pods) != 2 {
			t.Errorf("20 requests to web-a were answered by %v, want both pods", pods)
		}
		if pods := servedBy("web-a-sticky"); len(pods) != 1 {
			t.Errorf("20 requests to a ClientIP-affine service were answered by %v, want one pod", pods)
		}
	})

	t.Run("the kubernetes Service from a pod", func(t *testing.T) {
		// The client pod mounts nothing itself: the ServiceAccount
		// admission gave it the projected kube-api-access volume (a token
		// of the default account bound to the pod, the cluster CA, the
		// namespace), which the node agent filled, and the tool reads them
		// as client-go's in-cluster configuration does.
		pod, err := client.CoreV1().Pods("default").Get(ctx, "client", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pod.Spec.ServiceAccountName != "default" || len(pod.Spec.Volumes) != 1 || !strings.HasPrefix(pod.Spec.Volumes[0].Name, "kube-api-access-") ||
			len(pod.Spec.Containers[0].VolumeMounts) != 1 || pod.Spec.Containers[0].VolumeMounts[0].MountPath != "/var/run/secrets/kubernetes.io/serviceaccount" {
			t.Fatalf("the client pod's account %q, volumes %+v, mounts %+v: want default and kube-api-access at the service account path",
				pod.Spec.ServiceAccountName, pod.Spec.Volumes, pod.Spec.Containers[0].VolumeMounts)
		}
		vip := jsonpath(t, c, "{.spec.clusterIP}", "service", "kubernetes")
		if vip != "10.43.0.1" {
			t.Errorf("the kubernetes Service's cluster IP is %s, want 10.43.0.1", vip)
		}
		for _, base := range []string{"https://kubernetes.default.svc:443", "https://kubernetes.default.svc.cluster.local", "https://" + vip} {
			out := waitInClient(t, 30*time.Second, "HTTP 200", "apiget", base+"/api/v1/namespaces/default/pods")
			if !strings.Contains(out, `"kind":"PodList"`) || !strings.Contains(out, `"name":"client"`) {
				t.Errorf("GET %s/api/v1/namespaces/default/pods from the pod:\n%s", base, out)
			}
			out, _ = inClient(t, "apiget", base+"/version")
			if !strings.Contains(out, "HTTP 200") || !strings.Contains(out, `"gitVersion"`) {
				t.Errorf("GET %s/version from the pod:\n%s", base, out)
			}
		}
		// The token is what authenticates: without it, 401.
		out, _ := inClient(t, "apiget", "-anonymous", "https://kubernetes.default.svc/api/v1/namespaces/default/pods")
		if !strings.Contains(out, "HTTP 401") || !strings.Contains(out, `"reason":"Unauthorized"`) {
			t.Errorf("GET pods from the pod without a token:\n%s", out)
		}
	})

	t.Run("ingress TLS Secret replaced under traffic", func(t *testing.T) {
		const host = "tls.example.test"
		dir := t.TempDir()
		oldCert, oldKey := writeSelfSigned(t, dir, "old", host)
		newCert, newKey := writeSelfSigned(t, dir, "new", host)
		roots := x509.NewCertPool()
		names := map[string]string{} // certificate DER -> "old" or "new"
		for name, file := range map[string]string{"old": oldCert, "new": newCert} {
			pemBytes, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			roots.AppendCertsFromPEM(pemBytes)
			block, _ := pem.Decode(pemBytes)
			names[string(block.Bytes)] = name
		}
		k("create", "secret", "tls", "tls-web", "--cert", oldCert, "--key", oldKey)
		apply(t, `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: tls-web}
spec:
  ingressClassName: navarch
  tls: [{hosts: [`+host+`], secretName: tls-web}]
  rules:
  - host: `+host+`
    http:
      paths: [{path: /, pathType: Prefix, backend: {service: {name: web-a, port: {number: 80}}}}]
`)
		// get answers which certificate the ingress showed, and fails on
		// anything but a verified handshake and a 200 from web-a.
		get := func() (string, error) {
			r, err := ingressRequest(context.Background(), nodeIP, "https", host, "/", roots)
			if err != nil {
				return "", err
			}
			if r.status != http.StatusOK || !strings.Contains(r.body, "hello from web-a-") {
				return "", fmt.Errorf("%d %q", r.status, r.body)
			}
			return names[string(r.cert)], nil
		}
		framework.WaitFor(t, 60*time.Second, "the ingress serving "+host+" with the Secret's certificate", func() (bool, error) {
			name, err := get()
			return err == nil && name == "old", nil
		})

		traffic := startTraffic(map[string]func() (string, error){"https": get})
		replaced := time.Now()
		secret, errOut, err := c.Kubectl(t, "create", "secret", "tls", "tls-web", "--cert", newCert, "--key", newKey, "--dry-run=client", "-o", "yaml")
		if err != nil {
			t.Fatalf("kubectl create secret --dry-run: %v\n%s", err, errOut)
		}
		if out, errOut, err := c.KubectlWithInput(t, secret, "replace", "-f", "-"); err != nil {
			t.Fatalf("kubectl replace secret: %v\n%s%s", err, out, errOut)
		}
		framework.WaitFor(t, 10*time.Second, "requests seeing the new certificate", func() (bool, error) {
			return traffic.count(func(o outcome) bool { return o.answer == "new" }) > 0, nil
		})
		// Some more requests after the switch.
		switched := traffic.count(nil)
		framework.WaitFor(t, 10*time.Second, "20 more requests", func() (bool, error) {
			return traffic.count(nil) >= switched+20, nil
		})
		results := traffic.stop()
		firstNew := -1
		for i, o := range results {
			if o.answer == "new" && firstNew < 0 {
				firstNew = i
				t.Logf("the new certificate was served %v after kubectl replace", o.at.Sub(replaced).Round(time.Millisecond))
			}
			if firstNew >= 0 && o.answer == "old" {
				t.Errorf("request %d (%v after the replace) saw the old certificate after the new one", i, o.at.Sub(replaced))
			}
		}
		assertNoFailures(t, results)

		// Bad input: a Secret whose certificate does not parse. The
		// ingress keeps serving the host, with its default certificate
		// (as ingress-nginx does), and takes a valid one again.
		// insecure answers the status and the certificate's common name
		// of an HTTPS request that does not verify the certificate.
		insecure := func() string {
			transport := &http.Transport{
				DisableKeepAlives: true,
				TLSClientConfig:   &tls.Config{ServerName: host, InsecureSkipVerify: true},
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, net.JoinHostPort(nodeIP, "443"))
				},
			}
			resp, err := (&http.Client{Timeout: 10 * time.Second, Transport: transport}).Get("https://" + host + "/")
			if err != nil {
				return err.Error()
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
			return fmt.Sprintf("%d %s", resp.StatusCode, resp.TLS.PeerCertificates[0].Subject.CommonName)
		}
		k("patch", "secret", "tls-web", "--type=merge", "-p", `{"data":{"tls.crt":"bm90IGEgY2VydGlmaWNhdGU="}}`)
		framework.WaitFor(t, 10*time.Second, "HTTPS with the default certificate for a broken Secret", func() (bool, error) {
			return insecure() == "200 navarch-ingress-default", nil
		})
		if out, errOut, err := c.KubectlWithInput(t, secret, "replace", "-f", "-"); err != nil {
			t.Fatalf("kubectl replace secret: %v\n%s%s", err, out, errOut)
		}
		framework.WaitFor(t, 10*time.Second, "the new certificate again", func() (bool, error) {
			name, err := get()
			return err == nil && name == "new", nil
		})
	})

	t.Run("ingress paths changed under traffic", func(t *testing.T) {
		const host = "routes.example.test"
		ingress := func(rootBackend string, extra bool) string {
			paths := `
      - {path: /, pathType: Prefix, backend: {service: {name: ` + rootBackend + `, port: {number: 80}}}}`
			if extra {
				paths += `
      - {path: /extra, pathType: Prefix, backend: {service: {name: web-b, port: {number: 80}}}}`
			}
			return `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: routes}
spec:
  ingressClassName: navarch
  rules:
  - host: ` + host + `
    http:
      paths:` + paths + "\n"
		}
		get := func(path string) func() (string, error) {
			return func() (string, error) {
				r, err := ingressRequest(context.Background(), nodeIP, "http", host, path, nil)
				if err != nil {
					return "", err
				}
				if r.status != http.StatusOK {
					return "", fmt.Errorf("%d %q", r.status, r.body)
				}
				for _, backend := range []string{"web-a", "web-b"} {
					if strings.Contains(r.body, "from "+backend+"-") {
						return backend, nil
					}
				}
				return "", fmt.Errorf("answer from no backend: %q", r.body)
			}
		}
		waitBackend := func(path, backend string) {
			t.Helper()
			framework.WaitFor(t, 30*time.Second, fmt.Sprintf("%s%s answered by %s", host, path, backend), func() (bool, error) {
				got, err := get(path)()
				return err == nil && got == backend, nil
			})
		}
		apply(t, ingress("web-a", false))
		waitBackend("/", "web-a")

		traffic := startTraffic(map[string]func() (string, error){"/": get("/"), "/extra": get("/extra")})
		// change applies an Ingress with a request in flight: one the
		// ingress has received before the change and that takes 3 s. It
		// must finish on the route it started with (web-a) after the new
		// route is served.
		change := func(manifest, path, backend string) {
			t.Helper()
			slow := startSlowRequest(t, nodeIP, host, "/delay?d=3s")
			apply(t, manifest)
			waitBackend(path, backend)
			served := time.Now()
			r := <-slow
			switch {
			case r.err != nil || r.status != http.StatusOK || !strings.Contains(r.body, "from web-a-"):
				t.Errorf("the request in flight during the change to %s -> %s: %v %d %q, want 200 from web-a", path, backend, r.err, r.status, r.body)
			case r.end.Before(served):
				t.Errorf("the request in flight ended %v before %s -> %s was served: the machine is too slow for this check", served.Sub(r.end), path, backend)
			}
		}
		change(ingress("web-a", true), "/extra", "web-b") // a path added
		change(ingress("web-b", true), "/", "web-b")      // a backend switched
		results := traffic.stop()
		assertNoFailures(t, results)
		seen := map[string]bool{}
		for _, o := range results {
			seen[o.worker+" "+o.answer] = true
		}
		for _, want := range []string{"/ web-a", "/ web-b", "/extra web-a", "/extra web-b"} {
			if !seen[want] {
				t.Errorf("no request %s during the changes (saw %v)", want, seen)
			}
		}
	})

	t.Run("an unready pod leaves the ClusterIP rotation", func(t *testing.T) {
		clusterIP := jsonpath(t, c, "{.spec.clusterIP}", "service", "web-a")
		pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web-a"})
		if err != nil || len(pods.Items) != 2 {
			t.Fatalf("web-a pods: %v %v", pods, err)
		}
		victim := pods.Items[0]
		// answeredBy sends one request on a new connection (conntrack
		// keeps a connection's first verdict) and names the pod.
		answeredBy := func() (string, error) {
			r, err := httpGet("http://"+clusterIP+"/", "", "", "", "")
			if err != nil {
				return "", err
			}
			name, ok := strings.CutPrefix(r.body, "hello from ")
			if r.status != http.StatusOK || !ok {
				return "", fmt.Errorf("%d %q", r.status, r.body)
			}
			return strings.Fields(name)[0], nil
		}
		inRotation := func() (bool, error) {
			for range 20 {
				if name, err := answeredBy(); err == nil && name == victim.Name {
					return true, nil
				}
			}
			return false, nil
		}
		framework.WaitFor(t, 30*time.Second, victim.Name+" in the rotation", inRotation)

		// Watch the pod's Ready condition and its endpoint in the slice
		// (a watch tells when a change happens; polling would lag).
		podWatch, err := client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + victim.Name})
		if err != nil {
			t.Fatal(err)
		}
		defer podWatch.Stop()
		sliceWatch, err := client.DiscoveryV1().EndpointSlices("default").Watch(ctx,
			metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web-a"})
		if err != nil {
			t.Fatal(err)
		}
		defer sliceWatch.Stop()
		podUnready := firstEvent(podWatch, func(obj runtime.Object) bool {
			pod, ok := obj.(*corev1.Pod)
			return ok && !podReady(pod)
		})
		sliceUnready := firstEvent(sliceWatch, func(obj runtime.Object) bool {
			slice, ok := obj.(*discoveryv1.EndpointSlice)
			return ok && endpointUnready([]discoveryv1.EndpointSlice{*slice}, victim.Status.PodIP)
		})

		toggled := time.Now()
		if r := mustGet(t, "http://"+net.JoinHostPort(victim.Status.PodIP, "8080")+"/readiness/toggle", "", "", "", ""); !strings.Contains(r.body, "failing=true") {
			t.Fatalf("readiness toggle: %d %q", r.status, r.body)
		}
		// Requests one after the other: the pod has left when 20 in a row
		// (one chance in a million by luck) come from the other one.
		var failures []string
		var left time.Time
		streak := 0
		deadline := time.Now().Add(20 * time.Second)
		for streak < 20 {
			if time.Now().After(deadline) {
				t.Fatalf("%s still answered 20 s after it turned unready", victim.Name)
			}
			sent := time.Now()
			name, err := answeredBy()
			switch {
			case err != nil:
				failures = append(failures, err.Error())
			case name == victim.Name:
				streak = 0
			default:
				if streak == 0 {
					left = sent
				}
				streak++
			}
		}
		when := func(events <-chan time.Time, what string) time.Time {
			select {
			case at := <-events:
				return at
			case <-time.After(10 * time.Second):
				t.Fatalf("no watch event showed %s", what)
				return time.Time{}
			}
		}
		podUnreadyAt, sliceUnreadyAt := when(podUnready, "the pod unready"), when(sliceUnready, "its endpoint not ready")
		t.Logf("readiness toggled; pod Ready=False after %v, endpoint not ready after %v, out of the rotation after %v",
			podUnreadyAt.Sub(toggled).Round(time.Millisecond), sliceUnreadyAt.Sub(toggled).Round(time.Millisecond), left.Sub(toggled).Round(time.Millisecond))
		// One probe period (1 s) to notice; then about a second through
		// the status, the EndpointSlice and nftables, on a busy machine.
		if took := left.Sub(podUnreadyAt); took > 3*time.Second {
			t.Errorf("the pod left the rotation %v after its Ready condition turned False, want within 3 s", took)
		}
		if len(failures) > 0 {
			t.Errorf("%d requests to the cluster IP failed while one endpoint turned unready: %v", len(failures), failures[:min(5, len(failures))])
		}

		mustGet(t, "http://"+net.JoinHostPort(victim.Status.PodIP, "8080")+"/readiness/toggle", "", "", "", "")
		framework.WaitFor(t, 30*time.Second, victim.Name+" back in the rotation", inRotation)
	})
}

// netDeployment is a Deployment of the test image with a readiness probe
// checked every second.
func netDeployment(name string, replicas int) string {
	return fmt.Sprintf(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s}
spec:
  replicas: %[2]d
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: %[3]s
        imagePullPolicy: Never
        ports: [{containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /readiness, port: 8080}
          periodSeconds: 1
          failureThreshold: 1
`, name, replicas, netImage)
}

// buildNetImage builds the test image and imports it into the cluster's
// containerd.
func buildNetImage(t *testing.T, c *framework.Cluster) {
	t.Helper()
	web := filepath.Join(t.TempDir(), "web")
	build := exec.Command("go", "build", "-o", web, "./internal/agent/testdata/web")
	build.Dir = repoRoot(t)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building web: %v\n%s", err, out)
	}
	if out, err := exec.Command(framework.Binary(t), "images", "build", "--data-dir", c.DataDir,
		"--binary", web, "--tag", netImage).CombinedOutput(); err != nil {
		t.Fatalf("navarch images build: %v\n%s", err, out)
	}
}

// firstEvent reads w until an event's object satisfies cond, and then
// sends the time it came; it sends nothing if w ends first.
func firstEvent(w watch.Interface, cond func(runtime.Object) bool) <-chan time.Time {
	at := make(chan time.Time, 1)
	go func() {
		for ev := range w.ResultChan() {
			if cond(ev.Object) {
				at <- time.Now()
				return
			}
		}
	}()
	return at
}

func podReady(pod *corev1.Pod) bool {
	for _, cond := range pod.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// endpointUnready reports whether the slices list ip as not ready.
func endpointUnready(slices []discoveryv1.EndpointSlice, ip string) bool {
	for _, s := range slices {
		for _, e := range s.Endpoints {
			for _, a := range e.Addresses {
				if a == ip && e.Conditions.Ready != nil && !*e.Conditions.Ready {
					return true
				}
			}
		}
	}
	return false
}

// ingressResult is what one request through the ingress got.
type ingressResult struct {
	status int
	body   string
	cert   []byte // DER of the server's certificate (HTTPS)
	err    error
	end    time.Time // when the answer was read
}

// startSlowRequest sends a GET for http://host/path to the ingress on ip
// and returns once the request is written (the ingress has it); its
// result comes on the channel.
func startSlowRequest(t *testing.T, ip, host, path string) <-chan ingressResult {
	t.Helper()
	written := make(chan struct{})
	var once sync.Once
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(func() { close(written) }) },
	})
	result := make(chan ingressResult, 1)
	go func() {
		r, err := ingressRequest(ctx, ip, "http", host, path, nil)
		r.err, r.end = err, time.Now()
		result <- r
	}()
	select {
	case <-written:
		return result
	case r := <-result:
		t.Fatalf("GET %s%s failed before it was sent: %v", host, path, r.err)
	case <-time.After(10 * time.Second):
		t.Fatalf("GET %s%s: not sent in 10 s", host, path)
	}
	return nil
}

// ingressRequest sends a GET for scheme://host/path to the ingress on
// ip, on a new connection: with SNI and verification against roots for
// HTTPS.
func ingressRequest(ctx context.Context, ip, scheme, host, path string, roots *x509.CertPool) (ingressResult, error) {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	transport := &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: host},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return dialer.DialContext(ctx, network, net.JoinHostPort(ip, port))
		},
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: transport}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+host+path, nil)
	if err != nil {
		return ingressResult{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return ingressResult{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	r := ingressResult{status: resp.StatusCode, body: strings.TrimSpace(string(body))}
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		r.cert = resp.TLS.PeerCertificates[0].Raw
	}
	return r, err
}

// writeSelfSigned writes a self-signed certificate for host and its key
// as DIR/NAME.crt and DIR/NAME.key.
func writeSelfSigned(t *testing.T, dir, name, host string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host + " " + name},
		DNSNames:     []string{host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// outcome is one request of a traffic loop: what answered (the worker's
// own name for it), or the error.
type outcome struct {
	worker string
	at     time.Time
	answer string
	err    error
}

// traffic runs request loops until stopped, keeping every outcome.
type traffic struct {
	done chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	// outcomes is guarded by mu.
	outcomes []outcome
}

// startTraffic runs each worker in a loop of its own, 10 ms between
// requests.
func startTraffic(workers map[string]func() (string, error)) *traffic {
	l := &traffic{done: make(chan struct{})}
	for name, send := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.done:
					return
				default:
				}
				at := time.Now()
				answer, err := send()
				l.mu.Lock()
				l.outcomes = append(l.outcomes, outcome{worker: name, at: at, answer: answer, err: err})
				l.mu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	return l
}

// count counts the outcomes so far that match (all of them for nil).
func (l *traffic) count(match func(outcome) bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, o := range l.outcomes {
		if match == nil || match(o) {
			n++
		}
	}
	return n
}

// stop ends the loops, waits for their last requests and returns every
// outcome in the order the requests were sent.
func (l *traffic) stop() []outcome {
	close(l.done)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]outcome(nil), l.outcomes...)
	slices.SortStableFunc(out, func(a, b outcome) int { return a.at.Compare(b.at) })
	return out
}

// assertNoFailures fails the test for every failed request of a loop.
func assertNoFailures(t *testing.T, results []outcome) {
	t.Helper()
	var failures []string
	perWorker := map[string]int{}
	for _, o := range results {
		perWorker[o.worker]++
		if o.err != nil {
			failures = append(failures, fmt.Sprintf("%s at %s: %v", o.worker, o.at.Format("15:04:05.000"), o.err))
		}
	}
	t.Logf("%d requests (%v), %d failed", len(results), perWorker, len(failures))
	if len(failures) > 0 {
		t.Errorf("%d of %d requests failed: %v", len(failures), len(results), failures[:min(5, len(failures))])
	}
}
