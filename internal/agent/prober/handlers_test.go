package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/navarch/navarch/internal/agent/cri"
)

// serverAddr splits an httptest server's address into host and port.
func serverAddr(t *testing.T, rawURL string) (string, int) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	fmt.Sscanf(port, "%d", &n)
	return host, n
}

func TestHTTPGet(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "fine") })
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, "secret details")
	})
	mux.HandleFunc("/local-redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		// Same server, but under another host name: not followed.
		_, port, _ := net.SplitHostPort(r.Host)
		http.Redirect(w, r, "http://localhost:"+port+"/ok", http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Probe") != "yes" || r.Host != "example.test" || r.UserAgent() != "kube-probe/1.37" || r.Header.Get("Accept") != "*/*" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, "headers ok")
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tlsSrv := httptest.NewTLSServer(mux)
	defer tlsSrv.Close()
	host, port := serverAddr(t, srv.URL)
	_, tlsPort := serverAddr(t, tlsSrv.URL)

	tests := []struct {
		name    string
		action  corev1.HTTPGetAction
		timeout time.Duration
		want    Outcome
		// output is a substring of the expected output.
		output string
	}{
		{name: "200", action: corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt32(int32(port))}, want: Succeeded, output: "fine"},
		{name: "503, body left out", action: corev1.HTTPGetAction{Path: "/fail", Port: intstr.FromInt32(int32(port))}, want: Failed,
			output: "HTTP probe failed with statuscode: 503"},
		{name: "same-host redirect followed", action: corev1.HTTPGetAction{Path: "/local-redirect", Port: intstr.FromInt32(int32(port))}, want: Succeeded, output: "fine"},
		{name: "other-host redirect not followed", action: corev1.HTTPGetAction{Path: "/away", Port: intstr.FromInt32(int32(port))}, want: Warned,
			output: "Probe terminated redirects, Response body: <a href="},
		{name: "redirect loop", action: corev1.HTTPGetAction{Path: "/loop", Port: intstr.FromInt32(int32(port))}, want: Failed, output: "stopped after 10 redirects"},
		{name: "timeout", action: corev1.HTTPGetAction{Path: "/slow", Port: intstr.FromInt32(int32(port))}, timeout: 100 * time.Millisecond, want: Failed,
			output: "Client.Timeout exceeded"},
		{name: "headers", action: corev1.HTTPGetAction{Path: "/headers", Port: intstr.FromInt32(int32(port)),
			HTTPHeaders: []corev1.HTTPHeader{{Name: "X-Probe", Value: "yes"}, {Name: "Host", Value: "example.test"}}}, want: Succeeded, output: "headers ok"},
		{name: "HTTPS without verification", action: corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt32(int32(tlsPort)), Scheme: corev1.URISchemeHTTPS},
			want: Succeeded, output: "fine"},
		{name: "refused", action: corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt32(int32(closedPort(t)))}, want: Failed, output: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			req, err := NewHTTPGetRequest(context.Background(), &tt.action, &corev1.Container{}, host, "probe")
			if err != nil {
				t.Fatalf("NewHTTPGetRequest: %v", err)
			}
			got, output := HTTPGet(req, timeout)
			if got != tt.want || !strings.Contains(output, tt.output) {
				t.Errorf("HTTPGet = %v %q, want %v containing %q", got, output, tt.want, tt.output)
			}
			if strings.Contains(output, "secret details") {
				t.Errorf("output %q quotes the failed answer's body", output)
			}
		})
	}
}

func TestNewHTTPGetRequest(t *testing.T) {
	c := &corev1.Container{Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}
	tests := []struct {
		name       string
		action     corev1.HTTPGetAction
		wantURL    string
		wantAccept []string
	}{
		{name: "named port, pod IP, query kept", action: corev1.HTTPGetAction{Path: "/healthz?full=1", Port: intstr.FromString("http")},
			wantURL: "http://10.42.0.5:8080/healthz?full=1", wantAccept: []string{"*/*"}},
		{name: "host and scheme", action: corev1.HTTPGetAction{Host: "192.0.2.1", Scheme: corev1.URISchemeHTTPS, Port: intstr.FromInt32(443)},
			wantURL: "https://192.0.2.1:443", wantAccept: []string{"*/*"}},
		{name: "empty Accept removes it", action: corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(80), HTTPHeaders: []corev1.HTTPHeader{{Name: "Accept", Value: ""}}},
			wantURL: "http://10.42.0.5:80/", wantAccept: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := NewHTTPGetRequest(context.Background(), &tt.action, c, "10.42.0.5", "lifecycle")
			if err != nil {
				t.Fatal(err)
			}
			if req.URL.String() != tt.wantURL {
				t.Errorf("URL = %s, want %s", req.URL, tt.wantURL)
			}
			if got := req.Header.Values("Accept"); strings.Join(got, ",") != strings.Join(tt.wantAccept, ",") {
				t.Errorf("Accept = %q, want %q", got, tt.wantAccept)
			}
			if got := req.UserAgent(); got != "kube-lifecycle/1.37" {
				t.Errorf("User-Agent = %q, want kube-lifecycle/1.37", got)
			}
		})
	}
	if _, err := NewHTTPGetRequest(context.Background(), &corev1.HTTPGetAction{Port: intstr.FromString("metrics")}, c, "10.42.0.5", "probe"); err == nil {
		t.Errorf("a port name the container lacks gave no error")
	}
}

func TestResolvePort(t *testing.T) {
	c := &corev1.Container{Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}
	tests := []struct {
		port    intstr.IntOrString
		want    int
		wantErr bool
	}{
		{port: intstr.FromInt32(81), want: 81},
		{port: intstr.FromString("http"), want: 8080},
		{port: intstr.FromString("9090"), want: 9090},
		{port: intstr.FromString("grpc"), wantErr: true},
		{port: intstr.FromInt32(0), wantErr: true},
		{port: intstr.FromInt32(70000), wantErr: true},
	}
	for _, tt := range tests {
		got, err := ResolvePort(tt.port, c)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("ResolvePort(%v) = %d, %v; want %d (error %v)", tt.port.String(), got, err, tt.want, tt.wantErr)
		}
	}
}

// closedPort returns a local TCP port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestTCPSocket(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if got, output := TCPSocket(context.Background(), "127.0.0.1", l.Addr().(*net.TCPAddr).Port, time.Second); got != Succeeded {
		t.Errorf("open port: %v %q, want Succeeded", got, output)
	}
	port := closedPort(t)
	got, output := TCPSocket(context.Background(), "127.0.0.1", port, time.Second)
	if want := fmt.Sprintf("dial tcp 127.0.0.1:%d: connect: connection refused", port); got != Failed || output != want {
		t.Errorf("closed port: %v %q, want Failed %q", got, output, want)
	}
}

func TestGRPC(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthSrv := health.NewServer()
	healthpb.RegisterHealthServer(srv, healthSrv)
	go srv.Serve(l)
	defer srv.Stop()
	port := l.Addr().(*net.TCPAddr).Port

	bare, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bareSrv := grpc.NewServer()
	go bareSrv.Serve(bare)
	defer bareSrv.Stop()

	healthSrv.SetServingStatus("db", healthpb.HealthCheckResponse_NOT_SERVING)
	refused := closedPort(t)
	tests := []struct {
		name    string
		port    int
		service string
		want    Outcome
		output  string
	}{
		{name: "serving", port: port, want: Succeeded, output: "service healthy"},
		{name: "not serving", port: port, service: "db", want: Failed, output: `service unhealthy (responded with "NOT_SERVING")`},
		{name: "unknown service", port: port, service: "nope", want: Failed, output: "error: health rpc probe failed: rpc error: code = NotFound"},
		{name: "no health service", port: bare.Addr().(*net.TCPAddr).Port, want: Failed,
			output: "error: this server does not implement the grpc health protocol (grpc.health.v1.Health)"},
		{name: "nothing listens", port: refused, want: Failed,
			output: fmt.Sprintf(`timeout: failed to connect service "127.0.0.1:%d" within 300ms`, refused)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := 5 * time.Second
			if tt.name == "nothing listens" {
				timeout = 300 * time.Millisecond
			}
			got, output := GRPC(context.Background(), "127.0.0.1", tt.port, tt.service, timeout)
			if got != tt.want || !strings.Contains(output, tt.output) {
				t.Errorf("GRPC = %v %q, want %v containing %q", got, output, tt.want, tt.output)
			}
		})
	}
}

// runnerFunc adapts a function to CommandRunner.
type runnerFunc func(id string, cmd []string, timeout time.Duration) (*runtimeapi.ExecSyncResponse, error)

func (f runnerFunc) ExecSync(_ context.Context, id string, cmd []string, timeout time.Duration) (*runtimeapi.ExecSyncResponse, error) {
	return f(id, cmd, timeout)
}

func TestExec(t *testing.T) {
	tests := []struct {
		name    string
		resp    *runtimeapi.ExecSyncResponse
		err     error
		want    Outcome
		output  string
		wantErr bool
	}{
		{name: "exit 0", resp: &runtimeapi.ExecSyncResponse{Stdout: []byte("ok\n")}, want: Succeeded, output: "ok\n"},
		{name: "exit 1", resp: &runtimeapi.ExecSyncResponse{Stdout: []byte("out "), Stderr: []byte("err"), ExitCode: 1}, want: Failed, output: "out err"},
		{name: "timed out", err: fmt.Errorf("%w: deadline", cri.ErrExecTimeout), want: Failed, output: `command "/bin/check --deep" timed out`},
		{name: "cannot run", err: errors.New("container not running"), want: Failed, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotTimeout time.Duration
			runner := runnerFunc(func(id string, cmd []string, timeout time.Duration) (*runtimeapi.ExecSyncResponse, error) {
				gotTimeout = timeout
				return tt.resp, tt.err
			})
			got, output, err := Exec(context.Background(), runner, "c1", []string{"/bin/check", "--deep"}, 3*time.Second)
			if got != tt.want || output != tt.output || (err != nil) != tt.wantErr {
				t.Errorf("Exec = %v %q %v, want %v %q (error %v)", got, output, err, tt.want, tt.output, tt.wantErr)
			}
			if gotTimeout != 3*time.Second {
				t.Errorf("ExecSync timeout = %v, want the probe's 3s", gotTimeout)
			}
		})
	}
}
