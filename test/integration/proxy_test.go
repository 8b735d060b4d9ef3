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
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/navarch/navarch/test/framework"
)

// hostIP returns an IPv4 address of this machine that is neither
// loopback nor link-local: the API server proxies only to such
// addresses, so the test backends listen there. The test is skipped on
// a machine that has none.
func hostIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		ipnet, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if ip := ipnet.IP.To4(); ip != nil && ip.IsGlobalUnicast() {
			return ip.String()
		}
	}
	t.Skip("no global unicast IPv4 address on this machine to run proxy backends on")
	return ""
}

// proxyBackend is an HTTP server standing in for a pod: it records each
// request and answers "backend METHOD PATH?QUERY body=BODY auth=AUTH";
// an upgrade request (WebSocket) is switched and echoed byte for byte.
type proxyBackend struct {
	srv  *httptest.Server
	port int

	mu   sync.Mutex
	last *http.Request
}

func (b *proxyBackend) lastRequest() *http.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

func startProxyBackend(t *testing.T, ip string, tlsConfig *tls.Config) *proxyBackend {
	t.Helper()
	b := &proxyBackend{}
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.last = r.Clone(context.Background())
		b.mu.Unlock()
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			conn, rw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			_ = rw.Flush()
			_, _ = io.Copy(conn, rw)
			return
		}
		body, _ := io.ReadAll(r.Body)
		who := ""
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			who = " cn=" + r.TLS.PeerCertificates[0].Subject.CommonName
		}
		fmt.Fprintf(w, "backend %s %s body=%s auth=%s%s", r.Method, r.URL.RequestURI(), body, r.Header.Get("Authorization"), who)
	}))
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	b.srv.Listener.Close()
	b.srv.Listener = ln
	if tlsConfig != nil {
		b.srv.TLS = tlsConfig
		b.srv.StartTLS()
	} else {
		b.srv.Start()
	}
	t.Cleanup(b.srv.Close)
	b.port = ln.Addr().(*net.TCPAddr).Port
	return b
}

// proxyPod creates a running pod whose IP is ip, its second container
// declaring port (the first declares none).
func proxyPod(t *testing.T, client kubernetes.Interface, name, ip string, port int) {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "sidecar", Image: "img"},
			{Name: "c", Image: "img", Ports: []corev1.ContainerPort{{ContainerPort: int32(port)}}}}}}
	pod, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIP = ip
	pod.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	if _, err := client.CoreV1().Pods("default").UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// proxyService creates a selectorless service with one port "http" (80
// to targetPort) and the Endpoints given (no controller runs here).
func proxyService(t *testing.T, client kubernetes.Interface, name string, targetPort int, subsets []corev1.EndpointSubset) {
	t.Helper()
	ctx := context.Background()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(int32(targetPort))}}}}
	if _, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if subsets == nil {
		return
	}
	eps := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Subsets: subsets}
	if len(subsets) == 1 && len(subsets[0].Addresses) == 0 && len(subsets[0].NotReadyAddresses) == 0 {
		eps.Subsets = nil
	}
	if _, err := client.CoreV1().Endpoints("default").Create(ctx, eps, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func podRef(name string) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: name}
}

// TestProxySubresources drives pods/proxy, services/proxy and
// nodes/proxy through a real API server to backends on this machine:
// paths, queries, methods, bodies, upgrades, redirects, the caller's
// credentials kept back, and the addresses and endpoints refused.
func TestProxySubresources(t *testing.T) {
	ip := hostIP(t)
	c := framework.StartInProcess(t, framework.Options{})
	client := c.Client(t)
	raw := rawClient(t, c)
	backend := startProxyBackend(t, ip, nil)
	other := startProxyBackend(t, ip, nil)
	// A pod serving HTTPS with a certificate nobody signed, as pods do.
	secure := startProxyBackend(t, ip, &tls.Config{})

	// The node agent stand-in serves TLS and wants the cluster CA's client
	// certificates, as nodeapi does.
	caPEM, err := os.ReadFile(filepath.Join(c.DataDir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	agent := startProxyBackend(t, ip, &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool})
	registerNode(t, client, "n1", net.JoinHostPort(ip, strconv.Itoa(agent.port)))
	registerNode(t, client, "local", net.JoinHostPort("127.0.0.1", strconv.Itoa(agent.port)))

	proxyPod(t, client, "web", ip, backend.port)
	proxyPod(t, client, "loop", "127.0.0.1", backend.port)
	proxyPod(t, client, "secure", ip, secure.port)
	proxyPod(t, client, "metadata", "169.254.169.254", 80)
	proxyPod(t, client, "v6loop", "::1", backend.port)
	proxyService(t, client, "web", backend.port, []corev1.EndpointSubset{{
		Addresses:         []corev1.EndpointAddress{{IP: ip, TargetRef: podRef("web")}},
		NotReadyAddresses: []corev1.EndpointAddress{{IP: "10.255.255.1", TargetRef: podRef("web")}},
		Ports:             []corev1.EndpointPort{{Name: "http", Port: int32(backend.port)}},
	}})
	proxyService(t, client, "empty", backend.port, []corev1.EndpointSubset{{}})
	proxyService(t, client, "noendpoints", backend.port, nil)
	proxyService(t, client, "notready", backend.port, []corev1.EndpointSubset{{
		NotReadyAddresses: []corev1.EndpointAddress{{IP: ip, TargetRef: podRef("web")}},
		Ports:             []corev1.EndpointPort{{Name: "http", Port: int32(backend.port)}},
	}})
	// Endpoints written by hand to aim the API server at an address no
	// pod has, or at a pod of another namespace: none is used (Endpoints
	// validation already refuses loopback and link-local addresses).
	proxyService(t, client, "evil", backend.port, []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{
			{IP: ip},
			{IP: ip, TargetRef: podRef("loop")},
			{IP: ip, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "kube-system", Name: "web"}},
		},
		Ports: []corev1.EndpointPort{{Name: "http", Port: int32(backend.port)}},
	}})

	const base = "/api/v1/namespaces/default"
	t.Run("requests", func(t *testing.T) {
		tests := []struct {
			method, path, body string
			code               int
			want               string
		}{
			{"GET", base + "/pods/web/proxy/some/path?q=1&r=a%20b", "", 200, "backend GET /some/path?q=1&r=a%20b body= auth="},
			{"GET", base + "/pods/web/proxy/", "", 200, "backend GET / body= auth="},
			{"GET", base + "/pods/web/proxy/dir/", "", 200, "backend GET /dir/ body= auth="},
			{"GET", base + "/pods/web/proxy/a/../../b", "", 200, "backend GET /b body= auth="},
			{"POST", base + "/pods/web/proxy/form", "x=1", 200, "backend POST /form body=x=1 auth="},
			{"PUT", base + "/pods/web/proxy/put", "p", 200, "backend PUT /put body=p auth="},
			{"PATCH", base + "/pods/web/proxy/patch", "{}", 200, "backend PATCH /patch body={} auth="},
			{"DELETE", base + "/pods/web/proxy/del", "", 200, "backend DELETE /del body= auth="},
			{"OPTIONS", base + "/pods/web/proxy/opt", "", 200, "backend OPTIONS /opt body= auth="},
			{"HEAD", base + "/pods/web/proxy/head", "", 200, ""},
			{"GET", base + fmt.Sprintf("/pods/web:%d/proxy/port", other.port), "", 200, "backend GET /port"},
			{"GET", base + fmt.Sprintf("/pods/http:web:%d/proxy/scheme", backend.port), "", 200, "backend GET /scheme"},
			{"GET", base + fmt.Sprintf("/pods/https:secure:%d/proxy/tls", secure.port), "", 200, "backend GET /tls body= auth="},
			{"GET", fmt.Sprintf("/api/v1/nodes/https:n1:%d/proxy/tls", secure.port), "", 200, "backend GET /tls body= auth="},
			{"GET", base + "/services/web:http/proxy/svc?x=y", "", 200, "backend GET /svc?x=y body= auth="},
			{"GET", base + "/services/web:80/proxy/bynumber", "", 200, "backend GET /bynumber"},
			{"GET", base + "/services/http:web:http/proxy/scheme", "", 200, "backend GET /scheme"},
			{"GET", "/api/v1/nodes/n1/proxy/healthz?verbose=1", "", 200, "backend GET /healthz?verbose=1 body= auth= cn=kube-apiserver-kubelet-client"},
			{"GET", fmt.Sprintf("/api/v1/nodes/n1:%d/proxy/agentport", agent.port), "", 200, "cn=kube-apiserver-kubelet-client"},
			{"GET", fmt.Sprintf("/api/v1/nodes/n1:%d/proxy/otherport", other.port), "", 200, "backend GET /otherport body= auth="},

			// Errors, as upstream words them.
			{"GET", base + "/pods/nope/proxy/", "", 404, `pods \"nope\" not found`},
			{"GET", base + "/pods/a:b:c:d/proxy/", "", 400, `invalid pod request \"a:b:c:d\"`},
			{"GET", base + "/pods/ftp:web:80/proxy/", "", 400, `invalid pod request \"ftp:web:80\"`},
			{"GET", base + "/pods/web:http/proxy/", "", 400, `invalid pod request \"web:http\"`},
			{"GET", base + "/pods/loop/proxy/", "", 400, "address not allowed"},
			{"GET", base + "/pods/v6loop/proxy/", "", 400, "address not allowed"},
			{"GET", base + "/pods/metadata/proxy/latest/meta-data", "", 400, "address not allowed"},
			{"TRACE", base + "/pods/web/proxy/", "", 405, `"reason":"MethodNotAllowed"`},
			{"GET", base + "/services/web:81/proxy/", "", 503, `no service port 81 found for service \"web\"`},
			{"GET", base + "/services/empty:http/proxy/", "", 503, `no endpoints available for service \"empty\"`},
			{"GET", base + "/services/notready:http/proxy/", "", 503, `no endpoints available for service \"notready:http\"`},
			{"GET", base + "/services/web:other/proxy/", "", 503, `no endpoints available for service \"web:other\"`},
			{"GET", base + "/services/evil:http/proxy/", "", 503, `no endpoints available for service \"evil:http\"`},
			{"GET", base + "/services/noendpoints:http/proxy/", "", 404, `endpoints \"noendpoints\" not found`},
			{"GET", base + "/services/nope/proxy/", "", 404, `services \"nope\" not found`},
			{"GET", "/api/v1/nodes/local/proxy/healthz", "", 400, "address not allowed"},
			{"GET", "/api/v1/nodes/nope/proxy/healthz", "", 404, `nodes \"nope\" not found`},
			{"GET", "/api/v1/namespaces/default/configmaps/x/proxy/", "", 404, "the server could not find the requested resource"},
		}
		for _, tt := range tests {
			req, err := http.NewRequest(tt.method, raw.base+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			// The caller's credentials stay with the API server.
			req.Header.Set("Authorization", "Bearer caller-secret")
			resp, err := raw.client.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tt.method, tt.path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code || !strings.Contains(string(body), tt.want) {
				t.Errorf("%s %s: %d %s; want %d with %q", tt.method, tt.path, resp.StatusCode, body, tt.code, tt.want)
			}
			if strings.Contains(string(body), "caller-secret") {
				t.Errorf("%s %s: the backend saw the caller's Authorization header", tt.method, tt.path)
			}
		}
		if r := backend.lastRequest(); r == nil || r.Header.Get("Authorization") != "" || r.Header.Get("X-Forwarded-Uri") == "" {
			t.Errorf("last backend request: %+v", r)
		}
	})

	t.Run("redirect to the trailing slash", func(t *testing.T) {
		client := &http.Client{Transport: raw.client.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Get(raw.base + base + "/pods/web/proxy?a=b")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != base+"/pods/web/proxy/?a=b" {
			t.Errorf("got %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("websocket upgrade", func(t *testing.T) {
		for _, path := range []string{base + "/pods/web/proxy/ws?x=1", base + "/services/web:http/proxy/ws?x=1"} {
			upgradeEcho(t, c.RESTConfig(t), raw.base, path)
			r := backend.lastRequest()
			if r == nil || r.URL.RequestURI() != "/ws?x=1" || r.Header.Get("Authorization") != "" {
				t.Errorf("%s: backend request %+v", path, r)
			}
		}
	})
}

// upgradeEcho sends a WebSocket upgrade to path through the API server
// and checks that bytes come back through the switched connection.
func upgradeEcho(t *testing.T, cfg *rest.Config, base, path string) {
	t.Helper()
	tlsConfig, err := rest.TLSConfigFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	tlsConfig.NextProtos = []string{"http/1.1"}
	conn, err := tls.Dial("tcp", u.Host, tlsConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nAuthorization: Bearer caller-secret\r\n\r\n", path, u.Host)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
	}
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "ping" {
		t.Errorf("%s: echoed %q %v", path, got, err)
	}
}
