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
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/test/hostlock"
)

// When the test binary runs with one of these variables set, it is not a
// test: it is the backend server inside the backend network namespace
// (value: listen address), or a client inside the client namespace
// (value: URL; prints the body, exit status 1 on error).
const (
	backendEnv = "NAVARCH_PROXY_TEST_BACKEND"
	clientEnv  = "NAVARCH_PROXY_TEST_CLIENT"
)

func TestMain(m *testing.M) {
	if listen := os.Getenv(backendEnv); listen != "" {
		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
			fmt.Fprintf(w, "backend %s saw %s", local, r.RemoteAddr)
		})
		if err := http.ListenAndServe(listen, nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if url := os.Getenv(clientEnv); url != "" {
		body, err := httpGet(url)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Print(body)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// httpGet opens a new connection for every request: a kept-alive one
// would not see rule changes (conntrack keeps its first verdict), and
// this machine's network may answer VIPs before the rules exist.
func httpGet(url string) (string, error) {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Addresses of the test network: the host's side of two veth pairs, a
// backend namespace with two addresses (two endpoints), and a client
// namespace standing for a machine outside the cluster.
const (
	backendNS, clientNS   = "nv-proxy-be", "nv-proxy-cl"
	hostIP, backendIP     = "10.99.7.1", "10.99.7.2"
	backendIP2            = "10.99.7.3"
	hostIPOut, externalIP = "10.99.8.1", "10.99.8.2"
	testNode              = "test-node"
)

// setUpNetwork builds the namespaces and starts the backend.
func setUpNetwork(t *testing.T) {
	for _, tool := range []string{"nft", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (hack/install-deps.sh installs it)", tool)
		}
	}
	for _, ns := range []string{backendNS, clientNS} {
		exec.Command("ip", "netns", "del", ns).Run()
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	veth := func(host, inside, ns, hostAddr string, insideAddrs ...string) {
		exec.Command("ip", "link", "del", host).Run()
		run(t, "ip", "link", "add", host, "type", "veth", "peer", "name", inside)
		t.Cleanup(func() { exec.Command("ip", "link", "del", host).Run() })
		run(t, "ip", "link", "set", inside, "netns", ns)
		run(t, "ip", "addr", "add", hostAddr+"/24", "dev", host)
		run(t, "ip", "link", "set", host, "up")
		for _, a := range insideAddrs {
			run(t, "ip", "netns", "exec", ns, "ip", "addr", "add", a+"/24", "dev", inside)
		}
		run(t, "ip", "netns", "exec", ns, "ip", "link", "set", inside, "up")
		run(t, "ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
		run(t, "ip", "netns", "exec", ns, "ip", "route", "add", "default", "via", hostAddr)
	}
	veth("nvpt-host", "nvpt-ns", backendNS, hostIP, backendIP, backendIP2)
	veth("nvpc-host", "nvpc-ns", clientNS, hostIPOut, externalIP)

	backend := exec.Command("ip", "netns", "exec", backendNS, os.Args[0])
	backend.Env = append(os.Environ(), backendEnv+"=:8080")
	if err := backend.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = backend.Process.Kill(); _ = backend.Wait() })
}

// fromOutside sends a request from the client namespace.
func fromOutside(url string) (string, error) {
	cmd := exec.Command("ip", "netns", "exec", clientNS, os.Args[0])
	cmd.Env = append(os.Environ(), clientEnv+"="+url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, out)
	}
	return string(out), nil
}

func slice(name, svc string, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(8080)), Protocol: ptr.To(corev1.ProtocolTCP)}},
		Endpoints:   eps,
	}
}

func endpoint(ip, node string) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: []string{ip}, NodeName: ptr.To(node), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}
}

// startProxier runs a proxier on client until the returned stop is called.
func startProxier(t *testing.T, client *fake.Clientset, table string) (stop func()) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	factory := informers.NewSharedInformerFactory(client, 0)
	p := New(Config{NodeName: testNode, Table: table}, factory, NftCommand{})
	factory.Start(ctx.Done())
	done := make(chan error, 1)
	go func() { done <- p.Start(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("proxier: %v", err)
		}
		factory.Shutdown()
	}
}

func waitFor(t *testing.T, table, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			out, _ := exec.Command("nft", "list", "table", "ip", table).CombinedOutput()
			t.Fatalf("timed out waiting for %s; table:\n%s", what, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDataPath programs Services for backends in a network namespace and
// sends real traffic through them, from the host and from a namespace
// standing for a client outside the cluster: ClusterIP, NodePort (also on
// 127.0.0.1), externalTrafficPolicy Local keeping the client address and
// dropping traffic when no endpoint is local, ClientIP session affinity
// and its timeout, rules kept across a proxier restart and reconciled on
// start, and an unready endpoint refused within a second.
func TestDataPath(t *testing.T) {
	if testing.Short() {
		t.Skip("programs the kernel's nftables")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	hostlock.Lock(t) // node ports and the host's routes
	setUpNetwork(t)
	table := scratchTable(t, "dp")
	const vip, stickyVIP, nodePort = "10.43.250.10", "10.43.250.11", 31987

	web := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: vip, ClusterIPs: []string{vip},
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster,
			Ports:                 []corev1.ServicePort{{Name: "http", Port: 80, NodePort: nodePort, Protocol: corev1.ProtocolTCP}}},
	}
	webSlice := slice("web-1", "web", endpoint(backendIP, testNode))
	sticky := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "sticky"},
		Spec: corev1.ServiceSpec{ClusterIP: stickyVIP, ClusterIPs: []string{stickyVIP},
			SessionAffinity:       corev1.ServiceAffinityClientIP,
			SessionAffinityConfig: &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To(int32(2))}},
			Ports:                 []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}},
	}
	stickySlice := slice("sticky-1", "sticky", endpoint(backendIP, testNode), endpoint(backendIP2, "other-node"))
	client := fake.NewSimpleClientset(web, webSlice, sticky, stickySlice)
	stop := startProxier(t, client, table)
	defer func() { stop() }()
	ctx := context.Background()

	answersFrom := func(url, backend string) func() bool {
		return func() bool {
			body, err := httpGet(url)
			return err == nil && strings.HasPrefix(body, "backend "+backend)
		}
	}
	waitFor(t, table, "the cluster IP to answer", 15*time.Second, answersFrom("http://"+vip+"/", backendIP))
	for _, ip := range []string{"127.0.0.1", hostIP} {
		waitFor(t, table, "the NodePort on "+ip, 5*time.Second, answersFrom(fmt.Sprintf("http://%s:%d/", ip, nodePort), backendIP))
	}
	nodePortURL := fmt.Sprintf("http://%s:%d/", hostIPOut, nodePort)
	t.Run("external traffic, Cluster policy: masqueraded", func(t *testing.T) {
		body, err := fromOutside(nodePortURL)
		if err != nil || !strings.Contains(body, "saw "+hostIP+":") {
			t.Fatalf("NodePort from outside = %q, %v; want the backend to see the node's address %s", body, err, hostIP)
		}
	})

	t.Run("external traffic, Local policy: client address kept", func(t *testing.T) {
		local := web.DeepCopy()
		local.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		if _, err := client.CoreV1().Services("default").Update(ctx, local, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		var body string
		waitFor(t, table, "the client address to reach the backend", 10*time.Second, func() bool {
			var err error
			body, err = fromOutside(nodePortURL)
			return err == nil && strings.Contains(body, "saw "+externalIP+":")
		})

		// The endpoint moves to another node: external traffic is
		// dropped here, while the cluster IP keeps working.
		elsewhere := slice("web-1", "web", endpoint(backendIP, "other-node"))
		if _, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx, elsewhere, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, table, "external traffic to be dropped", 15*time.Second, func() bool {
			_, err := fromOutside(nodePortURL)
			return err != nil && strings.Contains(err.Error(), "Timeout")
		})
		if !answersFrom("http://"+vip+"/", backendIP)() {
			t.Errorf("the cluster IP stopped answering when the endpoint left this node")
		}
		if _, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx, webSlice, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, table, "the local endpoint back", 10*time.Second, func() bool {
			body, err := fromOutside(nodePortURL)
			return err == nil && strings.Contains(body, "saw "+externalIP+":")
		})
	})

	t.Run("session affinity with its timeout", func(t *testing.T) {
		url := "http://" + stickyVIP + "/"
		waitFor(t, table, "the sticky service", 5*time.Second, func() bool { _, err := httpGet(url); return err == nil })
		first, err := httpGet(url)
		if err != nil {
			t.Fatal(err)
		}
		pinned := strings.Fields(first)[1]
		for i := 0; i < 10; i++ {
			body, err := httpGet(url)
			if err != nil || strings.Fields(body)[1] != pinned {
				t.Fatalf("request %d reached %q (%v), want the pinned backend %s", i, body, err, pinned)
			}
		}
		// The client's entry is in an affinity set whose timeout is the
		// service's, and expires within it.
		affinityElements := func() []string {
			out, err := exec.Command("nft", "list", "table", "ip", table).CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			var elems []string
			inSet := false
			for _, line := range strings.Split(string(out), "\n") {
				line = strings.TrimSpace(line)
				switch {
				case strings.HasPrefix(line, "set "+prefixAffinity):
					inSet = true
				case line == "}":
					inSet = false
				case inSet && strings.HasPrefix(line, "timeout ") && line != "timeout 2s":
					t.Fatalf("affinity set has %q, want the service's timeout 2s", line)
				case inSet && strings.HasPrefix(line, "elements = {"):
					elems = append(elems, line)
				}
			}
			return elems
		}
		elems := affinityElements()
		if len(elems) != 1 {
			t.Fatalf("affinity entries = %q, want one", elems)
		}
		f := strings.Fields(elems[0]) // elements = { 192.0.2.2 expires 1s996ms }
		if len(f) < 6 || f[4] != "expires" {
			t.Fatalf("affinity entry %q has no expiry", elems[0])
		}
		if d, err := time.ParseDuration(f[5]); err != nil || d > 2*time.Second {
			t.Fatalf("affinity entry %q expires in %v (%v), want within the 2s timeout", elems[0], d, err)
		}
		waitFor(t, table, "the affinity entry to expire", 6*time.Second, func() bool { return len(affinityElements()) == 0 })
	})

	t.Run("rules outlive the proxier, and a new one reconciles", func(t *testing.T) {
		stop()
		if !answersFrom("http://"+vip+"/", backendIP)() {
			t.Fatal("the cluster IP stopped answering when the proxier stopped")
		}
		// Changes while no proxier runs.
		if err := client.CoreV1().Services("default").Delete(ctx, "sticky", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		stop = startProxier(t, client, table)
		waitFor(t, table, "the deleted service's rules to go", 10*time.Second, func() bool {
			out, err := exec.Command("nft", "list", "table", "ip", table).CombinedOutput()
			return err == nil && !strings.Contains(string(out), "sticky") && strings.Contains(string(out), "default-web")
		})
		if !answersFrom("http://"+vip+"/", backendIP)() {
			t.Fatal("the cluster IP does not answer after the restart")
		}
	})

	t.Run("an unready endpoint is refused within a second", func(t *testing.T) {
		unready := webSlice.DeepCopy()
		unready.Endpoints[0].Conditions.Ready = ptr.To(false)
		start := time.Now()
		if _, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx, unready, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, table, "the cluster IP to refuse", 5*time.Second, func() bool {
			conn, err := net.DialTimeout("tcp", vip+":80", 500*time.Millisecond)
			if conn != nil {
				conn.Close()
			}
			return err != nil && strings.Contains(err.Error(), "refused")
		})
		took := time.Since(start)
		t.Logf("unready endpoint removed from the rules in %v", took.Round(time.Millisecond))
		if took > time.Second {
			t.Errorf("an unready endpoint took %v to leave the rules, want < 1s", took)
		}
	})
}
