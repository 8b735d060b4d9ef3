package apiserver

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestProxyableAddress(t *testing.T) {
	tests := []struct {
		ip   string
		want error
	}{
		{"10.42.0.7", nil},
		{"192.168.1.20", nil},
		{"203.0.113.9", nil},
		{"fd00::7", nil},
		{"2001:db8::1", nil},
		{"127.0.0.1", errAddressNotAllowed},
		{"127.9.9.9", errAddressNotAllowed},
		{"::1", errAddressNotAllowed},
		{"::ffff:127.0.0.1", errAddressNotAllowed},
		{"169.254.169.254", errAddressNotAllowed},
		{"fe80::1", errAddressNotAllowed},
		{"0.0.0.0", errAddressNotAllowed},
		{"::", errAddressNotAllowed},
		{"224.0.0.1", errAddressNotAllowed},
		{"ff02::1", errAddressNotAllowed},
		{"255.255.255.255", errAddressNotAllowed},
		{"", errAddressNotAllowed},
		{"localhost", errAddressNotAllowed},
		{"10.0.0.1:80", errAddressNotAllowed},
	}
	for _, tt := range tests {
		if got := proxyableIP(tt.ip); !errors.Is(got, tt.want) && got != tt.want {
			t.Errorf("proxyableIP(%q) = %v, want %v", tt.ip, got, tt.want)
		}
	}
}

// TestProxyTransportRefusesLoopback checks the second line of defence:
// whatever URL reaches the proxy transport, it does not connect to a
// loopback address (a redirect followed, a name resolved late).
func TestProxyTransportRefusesLoopback(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "reached")
	}))
	defer backend.Close()
	client := &http.Client{Transport: newProxyTransport()}
	for _, u := range []string{backend.URL, strings.Replace(backend.URL, "127.0.0.1", "localhost", 1)} {
		resp, err := client.Get(u)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("GET %s through the proxy transport: %s, want a refused dial", u, resp.Status)
		}
		if !errors.Is(err, errAddressNotAllowed) {
			t.Errorf("GET %s: %v, want %v", u, err, errAddressNotAllowed)
		}
	}
	// The same server is reachable without the policy: the refusal above
	// is the transport's.
	resp, err := http.Get(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func TestPickEndpoint(t *testing.T) {
	pods := map[string][]corev1.PodIP{
		"a": {{IP: "10.0.0.1"}},
		"b": {{IP: "10.0.0.2"}, {IP: "fd00::2"}},
		"l": {{IP: "127.0.0.1"}},
	}
	podIPs := func(name string) ([]corev1.PodIP, error) {
		if ips, ok := pods[name]; ok {
			return ips, nil
		}
		return nil, fmt.Errorf("pods %q not found", name)
	}
	ref := func(ns, name string) *corev1.ObjectReference {
		return &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: name}
	}
	first := func(int) int { return 0 }
	tests := []struct {
		name     string
		subsets  []corev1.EndpointSubset
		port     string
		wantAddr string
		wantPort int32
		wantErr  string
	}{
		{
			name: "named port",
			subsets: []corev1.EndpointSubset{{
				Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1", TargetRef: ref("ns", "a")}},
				Ports:     []corev1.EndpointPort{{Name: "metrics", Port: 9090}, {Name: "http", Port: 8080}},
			}},
			port: "http", wantAddr: "10.0.0.1", wantPort: 8080,
		},
		{
			name: "unnamed port",
			subsets: []corev1.EndpointSubset{{
				Addresses: []corev1.EndpointAddress{{IP: "fd00::2", TargetRef: ref("ns", "b")}},
				Ports:     []corev1.EndpointPort{{Port: 80}},
			}},
			port: "", wantAddr: "fd00::2", wantPort: 80,
		},
		{
			name: "the subset with the port",
			subsets: []corev1.EndpointSubset{
				{Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1", TargetRef: ref("ns", "a")}}, Ports: []corev1.EndpointPort{{Name: "other", Port: 1}}},
				{Addresses: []corev1.EndpointAddress{{IP: "10.0.0.2", TargetRef: ref("ns", "b")}}, Ports: []corev1.EndpointPort{{Name: "http", Port: 2}}},
			},
			port: "http", wantAddr: "10.0.0.2", wantPort: 2,
		},
		{
			name: "invalid addresses skipped",
			subsets: []corev1.EndpointSubset{{
				Addresses: []corev1.EndpointAddress{
					{IP: "10.0.0.9"}, // no pod
					{IP: "10.0.0.9", TargetRef: ref("ns", "a")},   // not the pod's IP
					{IP: "10.0.0.1", TargetRef: ref("kube", "a")}, // another namespace
					{IP: "127.0.0.1", TargetRef: ref("ns", "l")},  // the pod's, but loopback
					{IP: "10.0.0.3", TargetRef: ref("ns", "gone")},
					{IP: "10.0.0.2", TargetRef: ref("ns", "b")},
				},
				Ports: []corev1.EndpointPort{{Name: "http", Port: 80}},
			}},
			port: "http", wantAddr: "10.0.0.2", wantPort: 80,
		},
		{
			name: "only not ready addresses",
			subsets: []corev1.EndpointSubset{{
				NotReadyAddresses: []corev1.EndpointAddress{{IP: "10.0.0.1", TargetRef: ref("ns", "a")}},
				Ports:             []corev1.EndpointPort{{Name: "http", Port: 80}},
			}},
			port: "http", wantErr: `no ready address with port "http"`,
		},
		{
			name: "no such port",
			subsets: []corev1.EndpointSubset{{
				Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1", TargetRef: ref("ns", "a")}},
				Ports:     []corev1.EndpointPort{{Name: "http", Port: 80}},
			}},
			port: "https", wantErr: `no ready address with port "https"`,
		},
		{
			name: "every address refused",
			subsets: []corev1.EndpointSubset{{
				Addresses: []corev1.EndpointAddress{{IP: "169.254.169.254", TargetRef: ref("ns", "a")}, {IP: "10.0.0.1", TargetRef: &corev1.ObjectReference{Kind: "Node", Name: "a"}}},
				Ports:     []corev1.EndpointPort{{Name: "http", Port: 80}},
			}},
			port: "http", wantErr: "endpoint 169.254.169.254: address not allowed\napiserver: endpoint 10.0.0.1 references no pod",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, port, err := pickEndpoint(&corev1.Endpoints{Subsets: tt.subsets}, tt.port, "ns", podIPs, first)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %s:%d %v, want error %q", addr, port, err, tt.wantErr)
				}
				return
			}
			if err != nil || addr != tt.wantAddr || port != tt.wantPort {
				t.Fatalf("got %s:%d %v, want %s:%d", addr, port, err, tt.wantAddr, tt.wantPort)
			}
		})
	}
}

// TestPickEndpointSpreads checks that the starting address follows the
// random source: every ready address gets picked.
func TestPickEndpointSpreads(t *testing.T) {
	eps := &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{
			{IP: "10.0.0.1", TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: "a"}},
			{IP: "10.0.0.2", TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: "b"}},
		},
		Ports: []corev1.EndpointPort{{Name: "http", Port: 80}},
	}}}
	podIPs := func(name string) ([]corev1.PodIP, error) {
		return []corev1.PodIP{{IP: map[string]string{"a": "10.0.0.1", "b": "10.0.0.2"}[name]}}, nil
	}
	seen := map[string]bool{}
	for i := range 2 {
		addr, _, err := pickEndpoint(eps, "http", "ns", podIPs, func(n int) int { return i % n })
		if err != nil {
			t.Fatal(err)
		}
		seen[addr] = true
	}
	if len(seen) != 2 {
		t.Errorf("picked %v, want both addresses", seen)
	}
}

func TestProxyPath(t *testing.T) {
	tests := []struct {
		parts []string
		want  string
	}{
		{[]string{"pods", "p"}, ""},
		{[]string{"pods", "p", "proxy"}, ""},
		{[]string{"pods", "p", "proxy", "a", "b"}, "/a/b"},
		{[]string{"pods", "p", "proxy", "a", "", "b"}, "/a/b"},
		{[]string{"pods", "p", "proxy", "..", "..", "x"}, "/x"},
		{[]string{"pods", "p", "proxy", "a", "..", "b c"}, "/b c"},
	}
	for _, tt := range tests {
		if got := proxyPath(requestInfo{Parts: tt.parts}); got != tt.want {
			t.Errorf("proxyPath(%q) = %q, want %q", tt.parts, got, tt.want)
		}
	}
}

func TestProxyableHost(t *testing.T) {
	ctx := t.Context()
	if err := proxyableHost(ctx, "10.1.2.3"); err != nil {
		t.Errorf("10.1.2.3: %v", err)
	}
	for _, h := range []string{"127.0.0.1", "localhost", "169.254.169.254"} {
		if err := proxyableHost(ctx, h); !errors.Is(err, errAddressNotAllowed) {
			t.Errorf("%s: %v, want %v", h, err, errAddressNotAllowed)
		}
	}
}
