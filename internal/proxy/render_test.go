package proxy

import (
	"flag"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// samplePorts covers each shape of rule: one endpoint, several, session
// affinity, a NodePort, an external IP, a service without endpoints, and
// the Local traffic policies with and without endpoints on this node.
func samplePorts() []ServicePort {
	return []ServicePort{
		{Namespace: "default", Name: "hello", PortName: "http", Protocol: corev1.ProtocolTCP, Port: 80,
			ClusterIPs: []netip.Addr{addr("10.43.0.20")},
			Endpoints:  []Endpoint{{IP: addr("10.42.0.5"), Port: 8080}, {IP: addr("10.42.0.6"), Port: 8080}, {IP: addr("10.42.0.7"), Port: 8080}}},
		{Namespace: "default", Name: "monolith", Protocol: corev1.ProtocolTCP, Port: 443, NodePort: 31000,
			ClusterIPs: []netip.Addr{addr("10.43.0.21")}, ExternalIPs: []netip.Addr{addr("192.0.2.50")},
			Endpoints: []Endpoint{{IP: addr("10.42.0.9"), Port: 443}}},
		{Namespace: "default", Name: "sticky", Protocol: corev1.ProtocolTCP, Port: 80, AffinitySeconds: 600,
			ClusterIPs: []netip.Addr{addr("10.43.0.22")},
			Endpoints:  []Endpoint{{IP: addr("10.42.0.10"), Port: 80}, {IP: addr("10.42.0.11"), Port: 80}}},
		{Namespace: "kube-system", Name: "kube-dns", PortName: "dns", Protocol: corev1.ProtocolUDP, Port: 53,
			ClusterIPs: []netip.Addr{addr("10.43.0.10")},
			Endpoints:  []Endpoint{{IP: addr("192.0.2.2"), Port: 53}}},
		{Namespace: "default", Name: "empty", Protocol: corev1.ProtocolTCP, Port: 80, NodePort: 31001,
			ClusterIPs: []netip.Addr{addr("10.43.0.23")}},
		{Namespace: "default", Name: "local", Protocol: corev1.ProtocolTCP, Port: 80, NodePort: 31002,
			ClusterIPs: []netip.Addr{addr("10.43.0.24")}, ExternalIPs: []netip.Addr{addr("192.0.2.60")}, ExternalLocal: true,
			Endpoints: []Endpoint{{IP: addr("10.42.0.12"), Port: 80, Local: true}, {IP: addr("10.42.1.12"), Port: 80}}},
		{Namespace: "default", Name: "elsewhere", Protocol: corev1.ProtocolTCP, Port: 80, NodePort: 31003,
			ClusterIPs: []netip.Addr{addr("10.43.0.25")}, ExternalLocal: true, InternalLocal: true,
			Endpoints: []Endpoint{{IP: addr("10.42.1.13"), Port: 80}}},
	}
}

func TestRenderGolden(t *testing.T) {
	got := Render(samplePorts())
	golden := filepath.Join("testdata", "sample.nft")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("Render differs from %s (run go test -update to accept):\n%s", golden, got)
	}
	// Order of the input does not matter.
	ports := samplePorts()
	ports[0], ports[6] = ports[6], ports[0]
	if Render(ports) != got {
		t.Fatalf("Render depends on input order")
	}
}

// TestRenderAcceptedByNft asks nft to check the rendered script (nft -c
// changes nothing). It needs root and the nft command.
func TestRenderAcceptedByNft(t *testing.T) {
	nft, err := exec.LookPath("nft")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and nft (hack/install-deps.sh installs nftables)")
	}
	for name, ports := range map[string][]ServicePort{"sample": samplePorts(), "empty": nil} {
		cmd := exec.Command(nft, "-c", "-f", "-")
		cmd.Stdin = strings.NewReader(Render(ports))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: nft -c refused the script: %v\n%s\n%s", name, err, out, Render(ports))
		}
	}
}

func TestBuildServicePorts(t *testing.T) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.43.0.30", ClusterIPs: []string{"10.43.0.30"},
			// Only the first is usable: the API refuses the others, but
			// old objects or a bypassed API must not capture node traffic.
			ExternalIPs:           []string{"192.0.2.9", "127.0.0.1", "169.254.1.1", "0.0.0.0", "224.0.0.5", "239.1.1.1", "fe80::1", "bogus"},
			SessionAffinity:       corev1.ServiceAffinityClientIP,
			SessionAffinityConfig: &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To(int32(60))}},
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			InternalTrafficPolicy: ptr.To(corev1.ServiceInternalTrafficPolicyCluster),
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromString("web"), NodePort: 30080, Protocol: corev1.ProtocolTCP},
				{Name: "metrics", Port: 9090, Protocol: corev1.ProtocolTCP},
			},
		},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "192.0.2.2"}, {Hostname: "lb.example"}}}},
	}
	slices := []*discoveryv1.EndpointSlice{{
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(8080)), Protocol: ptr.To(corev1.ProtocolTCP)}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.42.0.6"}, NodeName: ptr.To("node-a"), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}},
			{Addresses: []string{"10.42.0.5"}, NodeName: ptr.To("node-b"), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}},
			{Addresses: []string{"10.42.0.7"}, NodeName: ptr.To("node-a"), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}},
			{Addresses: []string{"10.42.0.8"}}, // no conditions: ready, as upstream reads it
		},
	}}
	http := ServicePort{
		Namespace: "default", Name: "web", PortName: "http", Protocol: corev1.ProtocolTCP, Port: 80, NodePort: 30080,
		ClusterIPs: []netip.Addr{addr("10.43.0.30")}, ExternalIPs: []netip.Addr{addr("192.0.2.9"), addr("192.0.2.2")},
		ExternalLocal: true, AffinitySeconds: 60,
		Endpoints: []Endpoint{{IP: addr("10.42.0.5"), Port: 8080}, {IP: addr("10.42.0.6"), Port: 8080, Local: true}, {IP: addr("10.42.0.8"), Port: 8080}},
	}
	metrics := http
	metrics.PortName, metrics.Port, metrics.NodePort, metrics.Endpoints = "metrics", 9090, 0, nil
	want := []ServicePort{http, metrics}
	if d := cmp.Diff(want, BuildServicePorts(svc, slices, "node-a"), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
		t.Errorf("BuildServicePorts (-want +got):\n%s", d)
	}

	// Defaults: affinity 10800 s; a ClusterIP service has no external
	// destinations, so its external policy does not apply.
	plain := svc.DeepCopy()
	plain.Spec.Type = corev1.ServiceTypeClusterIP
	plain.Spec.ExternalIPs = nil
	plain.Spec.SessionAffinityConfig = nil
	plain.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
	got := BuildServicePorts(plain, slices, "node-a")[0]
	if got.AffinitySeconds != corev1.DefaultClientIPServiceAffinitySeconds || got.ExternalLocal || !got.InternalLocal || got.NodePort != 0 || len(got.ExternalIPs) != 0 {
		t.Errorf("ClusterIP service port = %+v", got)
	}

	headless := svc.DeepCopy()
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	if got := BuildServicePorts(headless, slices, "node-a"); got != nil {
		t.Errorf("headless service got rules: %v", got)
	}
	bad := svc.DeepCopy()
	bad.Spec.Ports = []corev1.ServicePort{{Name: "x", Port: 80, Protocol: "ICMP"}, {Name: "y", Port: 70000}}
	if got := BuildServicePorts(bad, slices, "node-a"); got != nil {
		t.Errorf("invalid ports got rules: %v", got)
	}
}
