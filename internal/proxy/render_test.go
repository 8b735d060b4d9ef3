package proxy

import (
	"flag"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// samplePorts covers each shape of rule: one endpoint, several, session
// affinity, a NodePort, an external IP, and a service without endpoints.
func samplePorts() []ServicePort {
	return []ServicePort{
		{Namespace: "default", Name: "hello", PortName: "http", Protocol: corev1.ProtocolTCP, Port: 80,
			VIPs:      []netip.Addr{addr("10.43.0.20")},
			Endpoints: []Endpoint{{addr("10.42.0.5"), 8080}, {addr("10.42.0.6"), 8080}, {addr("10.42.0.7"), 8080}}},
		{Namespace: "default", Name: "monolith", Protocol: corev1.ProtocolTCP, Port: 443, NodePort: 31000,
			VIPs:      []netip.Addr{addr("10.43.0.21"), addr("192.0.2.50")},
			Endpoints: []Endpoint{{addr("10.42.0.9"), 443}}},
		{Namespace: "default", Name: "sticky", Protocol: corev1.ProtocolTCP, Port: 80, AffinitySeconds: 600,
			VIPs:      []netip.Addr{addr("10.43.0.22")},
			Endpoints: []Endpoint{{addr("10.42.0.10"), 80}, {addr("10.42.0.11"), 80}}},
		{Namespace: "kube-system", Name: "kube-dns", PortName: "dns", Protocol: corev1.ProtocolUDP, Port: 53,
			VIPs:      []netip.Addr{addr("10.43.0.10")},
			Endpoints: []Endpoint{{addr("192.0.2.2"), 53}}},
		{Namespace: "default", Name: "empty", Protocol: corev1.ProtocolTCP, Port: 80, NodePort: 31001,
			VIPs: []netip.Addr{addr("10.43.0.23")}},
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
	ports[0], ports[4] = ports[4], ports[0]
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
			ExternalIPs:     []string{"192.0.2.9", "127.0.0.1", "169.254.1.1"},
			SessionAffinity: corev1.ServiceAffinityClientIP,
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromString("web"), NodePort: 30080, Protocol: corev1.ProtocolTCP},
				{Name: "metrics", Port: 9090, Protocol: corev1.ProtocolTCP},
			},
		},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "192.0.2.2"}}}},
	}
	slices := []*discoveryv1.EndpointSlice{{
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(8080)), Protocol: ptr.To(corev1.ProtocolTCP)}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.42.0.6"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}},
			{Addresses: []string{"10.42.0.5"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}},
			{Addresses: []string{"10.42.0.7"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}},
		},
	}}
	ports := BuildServicePorts(svc, slices)
	if len(ports) != 2 {
		t.Fatalf("got %d ports, want 2", len(ports))
	}
	http := ports[0]
	wantVIPs := "[10.43.0.30 192.0.2.9 192.0.2.2]"
	if got := strings.ReplaceAll(strings.Trim(strings.Join(strs(http.VIPs), " "), " "), "  ", " "); "["+got+"]" != wantVIPs {
		t.Errorf("VIPs = [%s], want %s (loopback and link-local external IPs refused)", got, wantVIPs)
	}
	if http.NodePort != 30080 || http.AffinitySeconds != corev1.DefaultClientIPServiceAffinitySeconds {
		t.Errorf("nodePort %d affinity %d", http.NodePort, http.AffinitySeconds)
	}
	if len(http.Endpoints) != 2 || http.Endpoints[0].IP.String() != "10.42.0.5" || http.Endpoints[0].Port != 8080 {
		t.Errorf("endpoints = %v, want the two ready ones, sorted, on 8080", http.Endpoints)
	}
	if len(ports[1].Endpoints) != 0 {
		t.Errorf("metrics port has endpoints %v, but no slice carries it", ports[1].Endpoints)
	}
	headless := svc.DeepCopy()
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	if got := BuildServicePorts(headless, slices); got != nil {
		t.Errorf("headless service got rules: %v", got)
	}
}

func strs(a []netip.Addr) []string {
	var out []string
	for _, x := range a {
		out = append(out, x.String())
	}
	return out
}
