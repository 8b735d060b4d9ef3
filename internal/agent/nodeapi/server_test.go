package nodeapi

import (
	"bufio"
	"context"
	"crypto/tls"
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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/navarch/navarch/internal/pki"
)

// stubRuntime answers the endpoint's CRI calls from maps; Exec, Attach
// and PortForward return streamURL and record their requests.
type stubRuntime struct {
	statuses  map[string]*runtimeapi.ContainerStatus
	sandboxes []*runtimeapi.PodSandbox
	streamURL string

	mu       sync.Mutex
	requests []any
}

func (s *stubRuntime) ContainerStatus(_ context.Context, id string) (*runtimeapi.ContainerStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.statuses[id]; ok {
		return st, nil
	}
	return nil, fmt.Errorf("no container %s", id)
}

func (s *stubRuntime) ListPodSandbox(_ context.Context, filter *runtimeapi.PodSandboxFilter) ([]*runtimeapi.PodSandbox, error) {
	var out []*runtimeapi.PodSandbox
	for _, sb := range s.sandboxes {
		if sb.Labels["io.kubernetes.pod.uid"] == filter.GetLabelSelector()["io.kubernetes.pod.uid"] && sb.State == filter.GetState().GetState() {
			out = append(out, sb)
		}
	}
	return out, nil
}

// setState changes container id's state (the status is replaced, not
// changed, so callers holding the old one see no change under them).
func (s *stubRuntime) setState(id string, state runtimeapi.ContainerState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.statuses[id]
	s.statuses[id] = &runtimeapi.ContainerStatus{Id: old.Id, State: state, LogPath: old.LogPath}
}

func (s *stubRuntime) record(req any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
}

func (s *stubRuntime) lastRequest() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) == 0 {
		return nil
	}
	return s.requests[len(s.requests)-1]
}

func (s *stubRuntime) Exec(_ context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	s.record(req)
	return &runtimeapi.ExecResponse{Url: s.streamURL + "/exec/token"}, nil
}

func (s *stubRuntime) Attach(_ context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	s.record(req)
	return &runtimeapi.AttachResponse{Url: s.streamURL + "/attach/token"}, nil
}

func (s *stubRuntime) PortForward(_ context.Context, req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	s.record(req)
	return &runtimeapi.PortForwardResponse{Url: s.streamURL + "/portforward/token"}, nil
}

// testEnv is a running endpoint with a cluster CA and client
// certificates for the API server, for the admin, and from another CA.
type testEnv struct {
	url                              string
	runtime                          *stubRuntime
	apiserver, admin, foreign, noone *http.Client
	apiserverCert                    tls.Certificate
}

func clientWith(t *testing.T, dir, name string) (*http.Client, tls.Certificate) {
	t.Helper()
	var cert tls.Certificate
	// Always present the certificate, whatever CAs the server asks for:
	// Go's client would otherwise leave out one whose issuer the server
	// did not name, and the test would depend on the two CAs' names.
	var present func(*tls.CertificateRequestInfo) (*tls.Certificate, error)
	if name != "" {
		var err error
		cert, err = tls.LoadX509KeyPair(pki.CertFile(dir, name), pki.KeyFile(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		present = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		GetClientCertificate: present, InsecureSkipVerify: true, //nolint:gosec // the endpoint's certificate is self-signed by design
	}}}, cert
}

// startEnv starts an endpoint for pods (by name) and the given runtime,
// with extra handlers.
func startEnv(t *testing.T, pods map[string]*corev1.Pod, rt *stubRuntime, extra map[string]http.Handler) *testEnv {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.EnsureCA(filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.EnsureClientCert(dir, "kubelet-client", APIServerUser, []string{"system:masters"}); err != nil {
		t.Fatal(err)
	}
	if err := ca.EnsureClientCert(dir, "admin", "navarch-admin", []string{"system:masters"}); err != nil {
		t.Fatal(err)
	}
	other, err := pki.EnsureCA(filepath.Join(dir, "other-ca"))
	if err != nil {
		t.Fatal(err)
	}
	if err := other.EnsureClientCert(dir, "foreign", APIServerUser, []string{"system:masters"}); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{
		Address: "127.0.0.1:0", CertDir: filepath.Join(dir, "serving"), Hosts: []string{"127.0.0.1", "node-1"},
		ClientCA: ca.CertPEM(),
		Pods: PodGetterFunc(func(namespace, name string) (*corev1.Pod, bool) {
			p, ok := pods[namespace+"/"+name]
			return p, ok
		}),
		Runtime: rt, Extra: extra,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	port, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Start: %v", err)
		}
	})
	env := &testEnv{url: fmt.Sprintf("https://127.0.0.1:%d", port), runtime: rt}
	env.apiserver, env.apiserverCert = clientWith(t, dir, "kubelet-client")
	env.admin, _ = clientWith(t, dir, "admin")
	env.foreign, _ = clientWith(t, dir, "foreign")
	env.noone, _ = clientWith(t, dir, "")
	return env
}

func get(t *testing.T, c *http.Client, url string) (int, string, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func TestOnlyTheAPIServerIsServed(t *testing.T) {
	env := startEnv(t, nil, &stubRuntime{}, map[string]http.Handler{
		"GET /stats/summary": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "{}") }),
	})
	for _, path := range []string{"/healthz", "/stats/summary", "/containerLogs/default/p/c"} {
		t.Run(path, func(t *testing.T) {
			if code, body, err := get(t, env.noone, env.url+path); err != nil || code != http.StatusUnauthorized {
				t.Errorf("without a client certificate: %d %q %v, want 401", code, body, err)
			}
			if code, body, err := get(t, env.foreign, env.url+path); err == nil {
				t.Errorf("a certificate of another CA was served: %d %q", code, body)
			}
			code, body, err := get(t, env.admin, env.url+path)
			if err != nil || code != http.StatusForbidden || !strings.Contains(body, "Forbidden (user=navarch-admin, verb=get, resource=nodes, subresource=proxy)") {
				t.Errorf("the admin's certificate: %d %q %v, want 403", code, body, err)
			}
		})
	}
	if code, body, err := get(t, env.apiserver, env.url+"/healthz"); err != nil || code != http.StatusOK || body != "ok" {
		t.Errorf("/healthz as the API server: %d %q %v", code, body, err)
	}
	if code, body, err := get(t, env.apiserver, env.url+"/stats/summary"); err != nil || code != http.StatusOK || body != "{}" {
		t.Errorf("an extra handler as the API server: %d %q %v", code, body, err)
	}
}

func TestNewRefusesClashingExtraHandlers(t *testing.T) {
	_, err := New(Config{
		CertDir: t.TempDir(), ClientCA: []byte("x"), Pods: PodGetterFunc(nil), Runtime: &stubRuntime{},
	})
	if err == nil {
		t.Fatal("New accepted a client CA without certificates")
	}
	dir := t.TempDir()
	ca, err := pki.EnsureCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(Config{
		CertDir: t.TempDir(), ClientCA: ca.CertPEM(), Pods: PodGetterFunc(nil), Runtime: &stubRuntime{},
		Extra: map[string]http.Handler{"GET /healthz": http.NotFoundHandler()},
	})
	if err == nil {
		t.Fatal("New accepted a second /healthz")
	}
}

func TestServingCertificateIsKept(t *testing.T) {
	dir := t.TempDir()
	first, err := ensureServingCert(dir, []string{"10.0.0.1", "node-1"}, base)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ensureServingCert(dir, []string{"10.0.0.1"}, base.Add(24*60*60*1e9))
	if err != nil {
		t.Fatal(err)
	}
	if string(first.Certificate[0]) != string(again.Certificate[0]) {
		t.Error("a fitting certificate was replaced")
	}
	moved, err := ensureServingCert(dir, []string{"10.0.0.2"}, base.Add(24*60*60*1e9))
	if err != nil {
		t.Fatal(err)
	}
	if string(first.Certificate[0]) == string(moved.Certificate[0]) {
		t.Error("the certificate was kept for a new node IP")
	}
	if info, err := os.Stat(filepath.Join(dir, ServingKeyFile)); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", info, err)
	}
}

// logPod is a pod whose container "app" runs (as container "cur", which
// restarted once after "old"), and whose container "new" waits.
func logPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "uid-1"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}, {Name: "new"}, {Name: "nostatus"}}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{
			{
				Name: "app", ContainerID: "containerd://cur",
				State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ContainerID: "containerd://old", ExitCode: 1}},
			},
			{Name: "new", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}},
		}},
	}
}

func TestContainerLogs(t *testing.T) {
	dir := t.TempDir()
	current, old := filepath.Join(dir, "1.log"), filepath.Join(dir, "0.log")
	if err := os.WriteFile(current, []byte(criLine(at(0), "stdout", "F", "now")+criLine(at(1), "stdout", "F", "then")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old, []byte(criLine(at(0), "stderr", "F", "crashed")), 0o644); err != nil {
		t.Fatal(err)
	}
	rt := &stubRuntime{statuses: map[string]*runtimeapi.ContainerStatus{
		"cur": {Id: "cur", State: runtimeapi.ContainerState_CONTAINER_EXITED, LogPath: current},
		"old": {Id: "old", State: runtimeapi.ContainerState_CONTAINER_EXITED, LogPath: old},
	}}
	env := startEnv(t, map[string]*corev1.Pod{"default/web": logPod()}, rt, nil)
	tests := []struct {
		path     string
		wantCode int
		wantBody string
	}{
		{"/containerLogs/default/web/app", 200, "now\nthen\n"},
		{"/containerLogs/default/web/app?tailLines=1", 200, "then\n"},
		{"/containerLogs/default/web/app?previous=true", 200, "crashed\n"},
		// follow ends with the container (the stub's has exited).
		{"/containerLogs/default/web/app?follow=true&limitBytes=5", 200, "now\nt"},
		{"/containerLogs/default/web/new", 400, `container "new" in pod "web" is waiting to start: trying and failing to pull image` + "\n"},
		{"/containerLogs/default/web/nostatus", 400, `container "nostatus" in pod "web" is waiting to start: ContainerCreating` + "\n"},
		{"/containerLogs/default/web/new?previous=1", 400, `previous terminated container "new" in pod "web" not found` + "\n"},
		{"/containerLogs/default/web/other", 404, `container "other" not found in pod "web"` + "\n"},
		{"/containerLogs/default/nope/app", 404, `pod "nope" does not exist` + "\n"},
		{"/containerLogs/default/web/app?tailLines=x", 400, "tailLines: invalid value \"x\": strconv.ParseInt: parsing \"x\": invalid syntax\n"},
		{"/containerLogs/default/web/app?sinceSeconds=1&sinceTime=2026-01-01T00:00:00Z", 400, "at most one of `sinceTime` or `sinceSeconds` may be specified\n"},
	}
	for _, tt := range tests {
		code, body, err := get(t, env.apiserver, env.url+tt.path)
		if err != nil || code != tt.wantCode || body != tt.wantBody {
			t.Errorf("GET %s: %d %q %v, want %d %q", tt.path, code, body, err, tt.wantCode, tt.wantBody)
		}
	}
}

// upgradeServer is a stand-in for the runtime's streaming server: it
// switches protocols and echoes what it reads, after writing the path
// it was called on.
func upgradeServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "" {
			http.Error(w, "upgrade required", http.StatusBadRequest)
			return
		}
		conn, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\nX-Stream-Protocol-Version: %s\r\n\r\n%s\n",
			r.Header.Get("Upgrade"), r.Header.Get("X-Stream-Protocol-Version"), r.URL.Path)
		_ = rw.Flush()
		_, _ = io.Copy(conn, rw)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// upgrade sends an SPDY upgrade request for path as the API server does,
// and returns the connection after the 101 answer (or the error answer).
func upgrade(t *testing.T, env *testEnv, method, path string) (*http.Response, net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := tls.Dial("tcp", strings.TrimPrefix(env.url, "https://"), &tls.Config{
		Certificates: []tls.Certificate{env.apiserverCert}, InsecureSkipVerify: true, //nolint:gosec // self-signed by design
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: node\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\nContent-Length: 0\r\n\r\n", method, path)
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp, conn, r
}

func TestStreamsAreProxiedToTheRuntime(t *testing.T) {
	rt := &stubRuntime{
		streamURL: upgradeServer(t).URL,
		sandboxes: []*runtimeapi.PodSandbox{
			{Id: "sb-old", CreatedAt: 1, State: runtimeapi.PodSandboxState_SANDBOX_READY, Labels: map[string]string{"io.kubernetes.pod.uid": "uid-1"}},
			{Id: "sb-new", CreatedAt: 2, State: runtimeapi.PodSandboxState_SANDBOX_READY, Labels: map[string]string{"io.kubernetes.pod.uid": "uid-1"}},
		},
	}
	env := startEnv(t, map[string]*corev1.Pod{"default/web": logPod()}, rt, nil)
	tests := []struct {
		name, method, path string
		wantPath           string
		wantRequest        string
	}{
		{name: "exec", method: "POST", path: "/exec/default/web/app?command=sh&command=-c&command=exit+3&input=1&output=1&error=1",
			wantPath: "/exec/token", wantRequest: `container_id:"cur" cmd:"sh" cmd:"-c" cmd:"exit 3" stdin:true stdout:true stderr:true`},
		{name: "exec with a tty has no stderr", method: "GET", path: "/exec/default/web/app?command=sh&input=1&output=1&error=1&tty=1",
			wantPath: "/exec/token", wantRequest: `container_id:"cur" cmd:"sh" tty:true stdin:true stdout:true`},
		{name: "attach", method: "POST", path: "/attach/default/web/app?output=1&error=1",
			wantPath: "/attach/token", wantRequest: `container_id:"cur" stdout:true stderr:true`},
		{name: "port-forward to the newest sandbox", method: "POST", path: "/portForward/default/web?port=8080,9090",
			wantPath: "/portforward/token", wantRequest: `pod_sandbox_id:"sb-new" port:8080 port:9090`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, conn, r := upgrade(t, env, tt.method, tt.path)
			if resp.StatusCode != http.StatusSwitchingProtocols {
				body, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d %q, want 101", resp.StatusCode, body)
			}
			if got := resp.Header.Get("X-Stream-Protocol-Version"); got != "v4.channel.k8s.io" {
				t.Errorf("negotiated protocol %q did not pass through", got)
			}
			if line, _ := r.ReadString('\n'); line != tt.wantPath+"\n" {
				t.Errorf("the runtime was called on %q, want %q", line, tt.wantPath)
			}
			fmt.Fprint(conn, "ping\n")
			if line, _ := r.ReadString('\n'); line != "ping\n" {
				t.Errorf("echo through the proxy: %q", line)
			}
			if got := strings.Join(strings.Fields(fmt.Sprint(rt.lastRequest())), " "); got != tt.wantRequest {
				t.Errorf("runtime request %s, want %s", got, tt.wantRequest)
			}
		})
	}
}

func TestStreamErrors(t *testing.T) {
	env := startEnv(t, map[string]*corev1.Pod{"default/web": logPod()}, &stubRuntime{streamURL: "http://127.0.0.1:1"}, nil)
	tests := []struct {
		path     string
		wantCode int
		wantBody string
	}{
		{"/exec/default/web/app?command=sh", 400, "you must specify at least one of stdin, stdout, stderr\n"},
		{"/exec/default/web/app?output=1", 400, "you must specify at least one command for the container\n"},
		{"/exec/default/web/new?command=sh&output=1", 404, "container not found (\"new\")\n"},
		{"/exec/default/gone/app?command=sh&output=1", 404, "pod does not exist\n"},
		{"/attach/default/web/nostatus?output=1", 404, "container not found (\"nostatus\")\n"},
		{"/portForward/default/web?port=0", 400, "invalid port \"0\"\n"},
		{"/portForward/default/web?port=8080", 404, "pod \"web\" has no running sandbox\n"},
	}
	for _, tt := range tests {
		resp, _, _ := upgrade(t, env, "POST", tt.path)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != tt.wantCode || string(body) != tt.wantBody {
			t.Errorf("POST %s: %d %q, want %d %q", tt.path, resp.StatusCode, body, tt.wantCode, tt.wantBody)
		}
	}
	// Without an upgrade there is nothing to stream.
	resp, err := env.apiserver.Post(env.url+"/exec/default/web/app?command=sh&output=1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "Upgrade request required") {
		t.Errorf("exec without upgrade: %d %q", resp.StatusCode, body)
	}
}

// TestContainerLogsFollowEndsWithTheContainer: kubectl logs -f streams
// the lines a running container writes, and ends when the container
// exits, without the log of the container that replaces it.
func TestContainerLogsFollowEndsWithTheContainer(t *testing.T) {
	dir := t.TempDir()
	first := filepath.Join(dir, "0.log")
	if err := os.WriteFile(first, []byte(criLine(at(0), "stdout", "F", "one")), 0o644); err != nil {
		t.Fatal(err)
	}
	rt := &stubRuntime{statuses: map[string]*runtimeapi.ContainerStatus{
		"cur": {Id: "cur", State: runtimeapi.ContainerState_CONTAINER_RUNNING, LogPath: first},
	}}
	env := startEnv(t, map[string]*corev1.Pod{"default/web": logPod()}, rt, nil)
	resp, err := env.apiserver.Get(env.url + "/containerLogs/default/web/app?follow=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 10)
	go func() {
		defer close(lines)
		r := bufio.NewReader(resp.Body)
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				lines <- line
			}
			if err != nil {
				return
			}
		}
	}()
	next := func(what string) (string, bool) {
		t.Helper()
		select {
		case line, ok := <-lines:
			return line, ok
		case <-time.After(10 * time.Second):
			t.Fatalf("timed out waiting for %s", what)
			return "", false
		}
	}
	if line, _ := next("the first line"); line != "one\n" {
		t.Fatalf("first line %q, want %q", line, "one\n")
	}
	appendLog(t, first, criLine(at(1), "stdout", "F", "two"))
	if line, _ := next("a line written while following"); line != "two\n" {
		t.Fatalf("next line %q, want %q", line, "two\n")
	}
	// The container exits after a last line; the restarted one logs to
	// the next file.
	appendLog(t, first, criLine(at(2), "stdout", "F", "three"))
	appendLog(t, filepath.Join(dir, "1.log"), criLine(at(3), "stdout", "F", "restarted"))
	rt.setState("cur", runtimeapi.ContainerState_CONTAINER_EXITED)
	if line, _ := next("the exited container's last line"); line != "three\n" {
		t.Fatalf("next line %q, want %q", line, "three\n")
	}
	if line, ok := next("the end of the follow"); ok {
		t.Fatalf("got %q after the container exited, want the follow to end", line)
	}
}
