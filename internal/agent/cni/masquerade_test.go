package cni

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/navarch/navarch/test/hostlock"
)

// The kernel test re-runs this test binary inside network namespaces as
// an HTTP server that answers with the address it sees the client at,
// and as a client that prints that answer.
const (
	echoServerEnv = "NAVARCH_CNI_TEST_ECHO_SERVER"
	echoClientEnv = "NAVARCH_CNI_TEST_ECHO_CLIENT"
)

func TestMain(m *testing.M) {
	if listen := os.Getenv(echoServerEnv); listen != "" {
		err := http.ListenAndServe(listen, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			fmt.Fprint(w, host)
		}))
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if url := os.Getenv(echoClientEnv); url != "" {
		c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get(url)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		body, _ := io.ReadAll(resp.Body)
		fmt.Print(string(body))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestMasqueradeScript(t *testing.T) {
	n := Network{Bridge: "navarch0", PodCIDR: netip.MustParsePrefix("10.42.3.7/24")}
	got, err := n.MasqueradeScript()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"add table ip navarch-pods-navarch0\ndelete table ip navarch-pods-navarch0\n",
		"type nat hook postrouting priority srcnat; policy accept;",
		"ip saddr 10.42.3.0/24 ip daddr != 10.42.3.0/24 ip daddr != 224.0.0.0/4 masquerade",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("script lacks %q:\n%s", want, got)
		}
	}
	n.PodCIDR = netip.MustParsePrefix("fd00:42::/64")
	if got, err = n.MasqueradeScript(); err != nil {
		t.Fatal(err)
	}
	if want := "ip6 saddr fd00:42::/64 ip6 daddr != fd00:42::/64 ip6 daddr != ff00::/8 masquerade"; !strings.Contains(got, want) {
		t.Errorf("IPv6 script lacks %q:\n%s", want, got)
	}
	if _, err := (Network{Bridge: "navarch0"}).MasqueradeScript(); err == nil {
		t.Error("a network without a CIDR got a script")
	}
}

// TestMasqueradeKernel sends a request from a namespace standing for a
// pod to one standing for a machine outside the node, routed through the
// host: with the rule the outside sees the host's address, without it the
// pod's.
func TestMasqueradeKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("kernel test")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, tool := range []string{"nft", "ip", "sysctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (hack/install-deps.sh installs it)", tool)
		}
	}
	hostlock.Lock(t)
	const (
		podNS, outNS       = "nv-masq-pod", "nv-masq-out"
		hostPodSide, podIP = "10.251.1.1", "10.251.1.2"
		hostOutSide, outIP = "10.251.2.1", "10.251.2.2"
		bridge             = "nvmasqtest0" // names the table only; no device
	)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("sysctl", "-q", "-w", "net.ipv4.ip_forward=1") // as the bridge plugin (isGateway) sets it
	veth := func(ns, host, inside, hostAddr, insideAddr string) {
		_ = exec.Command("ip", "netns", "del", ns).Run()
		_ = exec.Command("ip", "link", "del", host).Run()
		run("ip", "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		run("ip", "link", "add", host, "type", "veth", "peer", "name", inside)
		t.Cleanup(func() { _ = exec.Command("ip", "link", "del", host).Run() })
		run("ip", "link", "set", inside, "netns", ns)
		run("ip", "addr", "add", hostAddr+"/24", "dev", host)
		run("ip", "link", "set", host, "up")
		run("ip", "netns", "exec", ns, "ip", "addr", "add", insideAddr+"/24", "dev", inside)
		run("ip", "netns", "exec", ns, "ip", "link", "set", inside, "up")
		run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
		run("ip", "netns", "exec", ns, "ip", "route", "add", "default", "via", hostAddr)
	}
	veth(podNS, "nvmq-pod-h", "nvmq-pod-i", hostPodSide, podIP)
	veth(outNS, "nvmq-out-h", "nvmq-out-i", hostOutSide, outIP)

	server := exec.Command("ip", "netns", "exec", outNS, os.Args[0])
	server.Env = append(os.Environ(), echoServerEnv+"=:8080")
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Process.Kill(); _ = server.Wait() })

	// seenAs asks the outside, from the pod, which address it sees, once
	// the server answers at all.
	seenAs := func() string {
		t.Helper()
		var out []byte
		var err error
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			client := exec.Command("ip", "netns", "exec", podNS, os.Args[0])
			client.Env = append(os.Environ(), echoClientEnv+"=http://"+outIP+":8080/")
			if out, err = client.Output(); err == nil {
				return string(out)
			}
		}
		t.Fatalf("request from the pod namespace: %v: %s", err, out)
		return ""
	}

	n := Network{Bridge: bridge, PodCIDR: netip.MustParsePrefix("10.251.1.0/24")}
	ctx := context.Background()
	t.Cleanup(func() {
		if err := removeMasquerade(ctx, bridge); err != nil {
			t.Error(err)
		}
	})
	for range 2 { // the second time replaces the table
		if err := n.EnsureMasquerade(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := seenAs(); got != hostOutSide {
		t.Errorf("with the rule the outside saw the pod as %q, want the host's %q", got, hostOutSide)
	}
	out, err := exec.Command("nft", "list", "table", "ip", masqueradeTable(bridge)).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list table: %v: %s", err, out)
	}
	if c := strings.Count(string(out), " masquerade "); c != 1 {
		t.Errorf("table after two ensures holds %d masquerade rules, want one:\n%s", c, out)
	}

	if err := removeMasquerade(ctx, bridge); err != nil {
		t.Fatal(err)
	}
	if got := seenAs(); got != podIP {
		t.Errorf("without the rule the outside saw the pod as %q, want its own %q", got, podIP)
	}
	if err := removeMasquerade(ctx, bridge); err != nil {
		t.Errorf("removing a missing table: %v", err)
	}
}
