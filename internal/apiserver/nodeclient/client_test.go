package nodeclient

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/navarch/navarch/internal/pki"
)

func node(name string, port int32, addrs ...corev1.NodeAddress) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n.Status.Addresses = addrs
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = port
	return n
}

func newClient(t *testing.T, nodes map[string]*corev1.Node) (*Client, *pki.CA) {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.EnsureCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.EnsureClientCert(dir, "kc", "kube-apiserver-kubelet-client", []string{"system:masters"}); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{CertFile: pki.CertFile(dir, "kc"), KeyFile: pki.KeyFile(dir, "kc"),
		Nodes: func(_ context.Context, name string) (*corev1.Node, error) {
			if n, ok := nodes[name]; ok {
				return n, nil
			}
			return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "nodes"}, name)
		}})
	if err != nil {
		t.Fatal(err)
	}
	return c, ca
}

func TestLocation(t *testing.T) {
	c, _ := newClient(t, map[string]*corev1.Node{
		"internal": node("internal", 10255,
			corev1.NodeAddress{Type: corev1.NodeHostName, Address: "host-a"},
			corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "203.0.113.1"},
			corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "10.0.0.1"}),
		"v6":       node("v6", 0, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "fd00::1"}),
		"hostonly": node("hostonly", 0, corev1.NodeAddress{Type: corev1.NodeHostName, Address: "host-b"}),
		"none":     node("none", 0),
	})
	tests := []struct {
		node, want string
	}{
		{"internal", "https://10.0.0.1:10255/containerLogs/ns/p/c?follow=true"},
		{"v6", "https://[fd00::1]:10250/containerLogs/ns/p/c?follow=true"},
		{"hostonly", "https://host-b:10250/containerLogs/ns/p/c?follow=true"},
	}
	for _, tt := range tests {
		loc, err := c.Location(context.Background(), tt.node, "/containerLogs/ns/p/c?follow=true")
		if err != nil || loc.String() != tt.want {
			t.Errorf("Location(%s) = %v, %v; want %s", tt.node, loc, err, tt.want)
		}
	}
	if _, err := c.Location(context.Background(), "none", "/"); !errors.Is(err, ErrNoAddress) {
		t.Errorf("a node without addresses: %v, want ErrNoAddress", err)
	}
	if _, err := c.Location(context.Background(), "missing", "/"); !apierrors.IsNotFound(err) {
		t.Errorf("a missing node: %v, want the getter's NotFound", err)
	}
}

func TestDoPresentsTheKubeletClientCertificate(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName+" "+r.Method+" "+r.URL.RequestURI())
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	srv.StartTLS()
	defer srv.Close()
	host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	c, _ := newClient(t, map[string]*corev1.Node{"n": node("n", int32(p), corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: host})})
	resp, err := c.Do(context.Background(), "n", http.MethodGet, "/stats/summary?only_cpu_and_memory=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if want := "kube-apiserver-kubelet-client GET /stats/summary?only_cpu_and_memory=true"; string(body) != want {
		t.Errorf("the node saw %q, want %q", body, want)
	}
}
