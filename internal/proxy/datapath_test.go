package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// When the test binary runs with this variable set, it is the backend
// server inside the test network namespace instead of a test.
const backendEnv = "NAVARCH_PROXY_TEST_BACKEND"

func TestMain(m *testing.M) {
	if addr := os.Getenv(backendEnv); addr != "" {
		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "backend %s saw %s", addr, r.RemoteAddr)
		})
		if err := http.ListenAndServe(addr, nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestDataPath programs a ClusterIP and a NodePort for a backend in a
// network namespace and sends real traffic from the host through them,
// then makes the endpoint unready and checks traffic is refused.
func TestDataPath(t *testing.T) {
	if testing.Short() {
		t.Skip("programs the kernel's nftables")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, tool := range []string{"nft", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (hack/install-deps.sh installs it)", tool)
		}
	}
	const ns, hostIP, backendIP, vip = "nv-proxy-test", "10.99.7.1", "10.99.7.2", "10.43.250.10"
	exec.Command("ip", "netns", "del", ns).Run()
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	run(t, "ip", "link", "add", "nvpt-host", "type", "veth", "peer", "name", "nvpt-ns")
	t.Cleanup(func() { exec.Command("ip", "link", "del", "nvpt-host").Run() })
	run(t, "ip", "link", "set", "nvpt-ns", "netns", ns)
	run(t, "ip", "addr", "add", hostIP+"/24", "dev", "nvpt-host")
	run(t, "ip", "link", "set", "nvpt-host", "up")
	run(t, "ip", "netns", "exec", ns, "ip", "addr", "add", backendIP+"/24", "dev", "nvpt-ns")
	run(t, "ip", "netns", "exec", ns, "ip", "link", "set", "nvpt-ns", "up")
	run(t, "ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
	run(t, "ip", "netns", "exec", ns, "ip", "route", "add", "default", "via", hostIP)

	backend := exec.Command("ip", "netns", "exec", ns, os.Args[0])
	backend.Env = append(os.Environ(), backendEnv+"="+backendIP+":8080")
	if err := backend.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = backend.Process.Kill(); _ = backend.Wait() })

	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: vip, ClusterIPs: []string{vip},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, NodePort: 31987, Protocol: corev1.ProtocolTCP}}},
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: "web-1", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(8080)), Protocol: ptr.To(corev1.ProtocolTCP)}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{backendIP}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
	}
	client := fake.NewSimpleClientset(svc, slice)
	factory := informers.NewSharedInformerFactory(client, 0)
	p := New(factory, NftCommand{})
	// A table of its own: a navarch server running beside the test
	// (another package's end-to-end test) owns "navarch".
	p.Table = "navarch-test"
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	done := make(chan error, 1)
	go func() { done <- p.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = CleanupTable(context.Background(), NftCommand{}, p.Table)
	})

	httpClient := &http.Client{Timeout: 2 * time.Second}
	get := func(url string) (string, error) {
		resp, err := httpClient.Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), nil
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				out, _ := exec.Command("nft", "list", "table", "ip", p.Table).CombinedOutput()
				t.Fatalf("timed out waiting for %s; table:\n%s", what, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("the cluster IP to answer", func() bool {
		body, err := get("http://" + vip + "/")
		return err == nil && strings.HasPrefix(body, "backend "+backendIP)
	})
	localIPs := []string{"127.0.0.1", hostIP}
	for _, ip := range localIPs {
		waitFor("the NodePort on "+ip, func() bool {
			body, err := get(fmt.Sprintf("http://%s:31987/", ip))
			return err == nil && strings.HasPrefix(body, "backend "+backendIP)
		})
	}

	// The endpoint turns unready: within a second the VIP refuses.
	unready := slice.DeepCopy()
	unready.Endpoints[0].Conditions.Ready = ptr.To(false)
	start := time.Now()
	if _, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx, unready, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("the cluster IP to refuse", func() bool {
		conn, err := net.DialTimeout("tcp", vip+":80", 500*time.Millisecond)
		if conn != nil {
			conn.Close()
		}
		return err != nil && strings.Contains(err.Error(), "refused")
	})
	t.Logf("unready endpoint removed from the rules in %v", time.Since(start).Round(time.Millisecond))
}
