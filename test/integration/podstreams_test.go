package integration

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/test/framework"
)

// fakeNodeAPI stands in for a node agent's API: it serves only clients
// whose certificate the cluster CA signed, and records who called what.
type fakeNodeAPI struct {
	srv *httptest.Server
	// release lets the followed log write its second line.
	release chan struct{}

	mu    sync.Mutex
	calls []string
}

func (f *fakeNodeAPI) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}

func (f *fakeNodeAPI) lastCall() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return ""
	}
	return f.calls[len(f.calls)-1]
}

func startFakeNodeAPI(t *testing.T, c *framework.Cluster) *fakeNodeAPI {
	t.Helper()
	caPEM, err := os.ReadFile(filepath.Join(c.DataDir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	f := &fakeNodeAPI{release: make(chan struct{})}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.record(r.TLS.PeerCertificates[0].Subject.CommonName + " " + r.Method + " " + r.URL.RequestURI())
		switch r.URL.Path {
		case "/containerLogs/default/one/c":
			_, _ = io.WriteString(w, "first\n")
			w.(http.Flusher).Flush()
			select {
			case <-f.release:
			case <-r.Context().Done():
				return
			}
			_, _ = io.WriteString(w, "second\n")
		case "/containerLogs/default/waiting/c":
			http.Error(w, `container "c" in pod "waiting" is waiting to start: ContainerCreating`, http.StatusBadRequest)
		case "/containerLogs/default/gone/c":
			http.Error(w, `pod "gone" does not exist`, http.StatusNotFound)
		default:
			http.Error(w, "unexpected call", http.StatusTeapot)
		}
	}))
	f.srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

// registerNode creates a Node whose node API is at addr.
func registerNode(t *testing.T, client kubernetes.Interface, name, addr string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	var p int32
	fmt.Sscan(port, &p)
	ctx := context.Background()
	node, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "no-such-host.invalid"}, {Type: corev1.NodeInternalIP, Address: host}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = p
	if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func createPod(t *testing.T, client kubernetes.Interface, name, node string, containers ...string) {
	t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: corev1.PodSpec{NodeName: node}}
	for _, c := range containers {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: c, Image: "img"})
	}
	if _, err := client.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestPodLogsThroughTheNodeAPI checks the API server's half of pods/log:
// options, container defaulting and upstream's errors, the call to the
// node (its address and port from the Node, the kubelet client
// certificate), the node's errors, and streaming with flushes.
func TestPodLogsThroughTheNodeAPI(t *testing.T) {
	c := framework.StartInProcess(t, framework.Options{})
	client := c.Client(t)
	node := startFakeNodeAPI(t, c)
	registerNode(t, client, "n1", node.srv.Listener.Addr().String())
	createPod(t, client, "one", "n1", "c")
	createPod(t, client, "two", "n1", "a", "b")
	createPod(t, client, "waiting", "n1", "c")
	createPod(t, client, "gone", "n1", "c")
	createPod(t, client, "unbound", "", "c")
	createPod(t, client, "lost", "no-such-node", "c")
	ctx := context.Background()
	pods := client.CoreV1().Pods("default")

	// Streaming: the first line arrives while the node holds the second.
	stream, err := pods.GetLogs("one", &corev1.PodLogOptions{Follow: true, TailLines: ptr.To[int64](2), Timestamps: true}).Stream(ctx)
	if err != nil {
		t.Fatalf("logs -f: %v", err)
	}
	lines := bufio.NewReader(stream)
	if line, err := lines.ReadString('\n'); err != nil || line != "first\n" {
		t.Fatalf("first streamed line: %q %v", line, err)
	}
	if got, want := node.lastCall(), "kube-apiserver-kubelet-client GET /containerLogs/default/one/c?follow=true&tailLines=2&timestamps=true"; got != want {
		t.Errorf("node API call %q, want %q", got, want)
	}
	close(node.release)
	if line, err := lines.ReadString('\n'); err != nil || line != "second\n" {
		t.Fatalf("second streamed line: %q %v", line, err)
	}
	if rest, err := io.ReadAll(lines); err != nil || len(rest) != 0 {
		t.Fatalf("after the last line: %q %v", rest, err)
	}
	stream.Close()

	// An unscheduled pod has no logs yet (upstream answers empty).
	if body, err := pods.GetLogs("unbound", &corev1.PodLogOptions{}).DoRaw(ctx); err != nil || len(body) != 0 {
		t.Errorf("logs of an unscheduled pod: %q %v", body, err)
	}

	tests := []struct {
		name    string
		pod     string
		opts    corev1.PodLogOptions
		is      func(error) bool
		message string
	}{
		{name: "container name needed", pod: "two", is: apierrors.IsBadRequest,
			message: "a container name must be specified for pod two, choose one of: [a b]"},
		{name: "unknown container", pod: "two", opts: corev1.PodLogOptions{Container: "x"}, is: apierrors.IsBadRequest,
			message: "container x is not valid for pod two"},
		{name: "negative tail", pod: "one", opts: corev1.PodLogOptions{TailLines: ptr.To[int64](-1)}, is: apierrors.IsInvalid,
			message: `PodLogOptions "one" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0`},
		{name: "since twice", pod: "one", opts: corev1.PodLogOptions{SinceSeconds: ptr.To[int64](5), SinceTime: &metav1.Time{Time: time.Now()}}, is: apierrors.IsInvalid,
			message: "PodLogOptions \"one\" is invalid: []: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"},
		{name: "zero limit", pod: "one", opts: corev1.PodLogOptions{LimitBytes: ptr.To[int64](0)}, is: apierrors.IsInvalid,
			message: `PodLogOptions "one" is invalid: limitBytes: Invalid value: 0: must be greater than 0`},
		{name: "the node's 400 keeps its message", pod: "waiting", is: apierrors.IsBadRequest,
			message: `container "c" in pod "waiting" is waiting to start: ContainerCreating`},
		{name: "the node's 404", pod: "gone", is: apierrors.IsNotFound,
			message: "the server could not find the requested resource ( pods/log gone)"},
		{name: "a node that does not exist", pod: "lost", is: apierrors.IsNotFound,
			message: `nodes "no-such-node" not found`},
		{name: "a pod that does not exist", pod: "nope", is: apierrors.IsNotFound,
			message: `pods "nope" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Stream decodes the Status of an error answer, as kubectl's
			// logs command reads it.
			stream, err := pods.GetLogs(tt.pod, &tt.opts).Stream(ctx)
			if err == nil {
				stream.Close()
			}
			if err == nil || !tt.is(err) || err.Error() != tt.message {
				t.Errorf("got %v; want an error %q", err, tt.message)
			}
		})
	}
}

// TestPodExecValidation checks what the API server refuses before it
// reaches a node for exec, attach and portforward.
func TestPodExecValidation(t *testing.T) {
	c := framework.StartInProcess(t, framework.Options{})
	client := c.Client(t)
	node := startFakeNodeAPI(t, c)
	registerNode(t, client, "n1", node.srv.Listener.Addr().String())
	createPod(t, client, "one", "n1", "c")
	createPod(t, client, "two", "n1", "a", "b")
	createPod(t, client, "unbound", "", "c")
	raw := rawClient(t, c)
	tests := []struct {
		method, path string
		code         int
		message      string
	}{
		{"POST", "/api/v1/namespaces/default/pods/one/exec?stdout=true", 400, "you must specify at least one command for the container"},
		{"POST", "/api/v1/namespaces/default/pods/one/exec?command=ls", 400, "you must specify at least one of stdin, stdout, stderr"},
		{"POST", "/api/v1/namespaces/default/pods/two/exec?command=ls&stdout=true", 400, "a container name must be specified for pod two, choose one of: [a b]"},
		{"POST", "/api/v1/namespaces/default/pods/two/attach?container=zz&stdout=true", 400, "container zz is not valid for pod two"},
		{"POST", "/api/v1/namespaces/default/pods/unbound/exec?command=ls&stdout=true", 400, "pod unbound does not have a host assigned"},
		{"POST", "/api/v1/namespaces/default/pods/unbound/portforward", 400, "pod unbound does not have a host assigned"},
		{"POST", "/api/v1/namespaces/default/pods/one/portforward?ports=70000", 400, `invalid port \"70000\": must be between 1 and 65535, inclusive`},
		{"POST", "/api/v1/namespaces/default/pods/nope/exec?command=ls&stdout=true", 404, `pods \"nope\" not found`},
		{"DELETE", "/api/v1/namespaces/default/pods/one/exec?command=ls&stdout=true", 405, `"reason":"MethodNotAllowed"`},
		{"POST", "/api/v1/namespaces/default/pods/one/log", 405, `"reason":"MethodNotAllowed"`},
		// A well-formed exec that is not an upgrade never reaches the node.
		{"POST", "/api/v1/namespaces/default/pods/one/exec?command=ls&stdout=true", 400, "Upgrade request required"},
		{"GET", "/api/v1/namespaces/default/pods/one/exec/extra?command=ls&stdout=true", 404, "the server could not find the requested resource"},
	}
	for _, tt := range tests {
		code, body := raw.do(t, tt.method, tt.path, "", "")
		if code != tt.code || !strings.Contains(body, tt.message) {
			t.Errorf("%s %s: %d %s; want %d with %q", tt.method, tt.path, code, body, tt.code, tt.message)
		}
	}
	if calls := node.lastCall(); calls != "" {
		t.Errorf("the node API was called: %s", calls)
	}
}

// TestClusterCAPublished checks the ConfigMap node agents joining with a
// token read the cluster CA from.
func TestClusterCAPublished(t *testing.T) {
	c := framework.StartInProcess(t, framework.Options{})
	want, err := os.ReadFile(filepath.Join(c.DataDir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	cm, err := c.Client(t).CoreV1().ConfigMaps("kube-system").Get(context.Background(), "kube-root-ca.crt", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["ca.crt"] != string(want) {
		t.Errorf("kube-root-ca.crt ca.crt = %q, want the cluster CA", cm.Data["ca.crt"])
	}
}
