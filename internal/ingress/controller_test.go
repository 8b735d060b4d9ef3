package ingress

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// backendServer answers "<name> <X-Forwarded-For>" on loopback.
func backendServer(t *testing.T, name string) (string, int32) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s xff=%s host=%s proto=%s", name, r.Header.Get("X-Forwarded-For"), r.Host, r.Header.Get("X-Forwarded-Proto"))
	}))
	t.Cleanup(srv.Close)
	host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	return host, int32(p)
}

func svc(name string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.99", Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
}

func slice(name string, ports ...int32) *discoveryv1.EndpointSlice {
	// One slice per target port (all endpoints on 127.0.0.1).
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("%s-%d", name, ports[0]), Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(ports[0])}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"127.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
	}
	return s
}

func tlsSecret(t *testing.T, name, host string) (*corev1.Secret, []byte) {
	cert, err := selfSigned(host)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	crt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
	key := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, ResourceVersion: "1"},
		Type: corev1.SecretTypeTLS, Data: map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key}}, cert.Certificate[0]
}

func path(p string, typ networkingv1.PathType, service string) networkingv1.HTTPIngressPath {
	return networkingv1.HTTPIngressPath{Path: p, PathType: &typ, Backend: networkingv1.IngressBackend{
		Service: &networkingv1.IngressServiceBackend{Name: service, Port: networkingv1.ServiceBackendPort{Name: "http"}}}}
}

func TestIngress(t *testing.T) {
	_, portA1 := backendServer(t, "a1")
	_, portB := backendServer(t, "b")
	dead := func() int32 { // a port nothing listens on
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		return int32(p)
	}()
	secret, secretCert := tlsSecret(t, "a-tls", "a.example.com")
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: networkingv1.IngressSpec{
			TLS: []networkingv1.IngressTLS{{Hosts: []string{"a.example.com"}, SecretName: "a-tls"},
				{Hosts: []string{"missing.example.com"}, SecretName: "nope"}},
			Rules: []networkingv1.IngressRule{
				{Host: "a.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{path("/", networkingv1.PathTypePrefix, "a"), path("/exact", networkingv1.PathTypeExact, "b")}}}},
				{Host: "*.wild.example", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{path("/api", networkingv1.PathTypePrefix, "b")}}}},
				{Host: "gone.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{path("/", networkingv1.PathTypePrefix, "gone")}}}},
			},
		},
	}
	objects := []runtime.Object{svc("a"), svc("b"), slice("a", dead), slice("a", portA1), slice("b", portB), secret, ing}
	client := fake.NewSimpleClientset(objects...)
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := New(Config{HTTPAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0", StatusAddress: "192.0.2.2"}, client, factory)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	done := make(chan error, 1)
	go func() { done <- c.Start(ctx) }()
	select {
	case <-c.Ready():
	case err := <-done:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	httpAddr, httpsAddr := c.Addrs()

	get := func(host, p string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+httpAddr+p, nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	cases := []struct {
		name, host, path string
		code             int
		bodyPrefix       string
	}{
		{"host prefix", "a.example.com", "/anything", 200, "a1 "},
		{"exact path", "a.example.com", "/exact", 200, "b "},
		{"exact path only exact", "a.example.com", "/exact/more", 200, "a1 "},
		{"wildcard host", "x.wild.example", "/api/v1", 200, "b "},
		{"prefix is element-wise", "x.wild.example", "/apis", 404, "404 Not Found: no Ingress path"},
		{"wildcard is one label", "a.b.wild.example", "/api", 404, "404 Not Found: no Ingress rule for host"},
		{"unknown host", "nobody.example.com", "/", 404, "404 Not Found: no Ingress rule for host \"nobody.example.com\""},
		{"missing service", "gone.example.com", "/", 503, "503 Service Unavailable: service default/gone not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(tc.host, tc.path)
			if code != tc.code || !strings.HasPrefix(body, tc.bodyPrefix) {
				t.Fatalf("GET %s%s = %d %q, want %d %q...", tc.host, tc.path, code, body, tc.code, tc.bodyPrefix)
			}
		})
	}
	t.Run("dead endpoint is skipped and headers forwarded", func(t *testing.T) {
		for i := 0; i < 6; i++ {
			code, body := get("a.example.com", "/")
			if code != 200 || !strings.Contains(body, "xff=127.0.0.1") || !strings.Contains(body, "host=a.example.com") || !strings.Contains(body, "proto=http") {
				t.Fatalf("request %d: %d %q", i, code, body)
			}
		}
	})

	handshake := func(serverName string) []byte {
		conn, err := tls.Dial("tcp", httpsAddr, &tls.Config{ServerName: serverName, InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Raw
	}
	t.Run("TLS by SNI", func(t *testing.T) {
		if !bytes.Equal(handshake("a.example.com"), secretCert) {
			t.Fatalf("a.example.com did not get its Secret's certificate")
		}
		def, _ := x509.ParseCertificate(handshake("missing.example.com"))
		if def.Subject.CommonName != "navarch-ingress-default" {
			t.Fatalf("missing Secret: got %q, want the default certificate", def.Subject.CommonName)
		}
	})
	t.Run("HTTP/2 over TLS", func(t *testing.T) {
		tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest("GET", "https://"+httpsAddr+"/", nil)
		req.Host = "a.example.com"
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || !strings.Contains(string(body), "proto=https") {
			t.Fatalf("proto %s, body %q", resp.Proto, body)
		}
	})
	t.Run("Secret change is served", func(t *testing.T) {
		newSecret, newCert := tlsSecret(t, "a-tls", "a.example.com")
		newSecret.ResourceVersion = "2"
		if _, err := client.CoreV1().Secrets("default").Update(ctx, newSecret, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !bytes.Equal(handshake("a.example.com"), newCert) {
			if time.Now().After(deadline) {
				t.Fatal("the new certificate was never served")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("status and class", func(t *testing.T) {
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, _ := client.NetworkingV1().Ingresses("default").Get(ctx, "web", metav1.GetOptions{})
			if len(got.Status.LoadBalancer.Ingress) == 1 && got.Status.LoadBalancer.Ingress[0].IP == "192.0.2.2" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("status = %+v", got.Status)
			}
			time.Sleep(20 * time.Millisecond)
		}
		cls, err := client.NetworkingV1().IngressClasses().Get(ctx, ClassName, metav1.GetOptions{})
		if err != nil || cls.Annotations[defaultClassAnnotation] != "true" {
			t.Fatalf("ingress class: %v %v", cls, err)
		}
	})
}
