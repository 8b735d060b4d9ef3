package agent

import (
	"context"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/navarch/navarch/internal/version"
)

func testFacts() hostFacts {
	return hostFacts{hostname: "host1", ip: netip.MustParseAddr("192.0.2.10"), cpus: 4, memoryBytes: 8 << 30,
		kernelVersion: "6.1.0", osImage: "Debian GNU/Linux 12 (bookworm)", machineID: "m1", bootID: "b1",
		architecture: "amd64", ephemeralStorageBytes: 100 << 30}
}

func TestBuildNode(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	spec := nodeSpec{name: "n1", podCIDR: "10.42.0.0/24", maxPods: 110, runtimeVersion: "containerd://1.6.20", kubeletPort: 10250}
	node := buildNode(nil, spec, testFacts(), now)
	if got := node.Status.DaemonEndpoints.KubeletEndpoint.Port; got != 10250 {
		t.Errorf("kubelet endpoint port = %d, want 10250", got)
	}
	if node.Spec.PodCIDR != "10.42.0.0/24" || len(node.Spec.PodCIDRs) != 1 {
		t.Errorf("podCIDR = %q %v, want 10.42.0.0/24", node.Spec.PodCIDR, node.Spec.PodCIDRs)
	}
	if got := node.Status.Capacity.Cpu().Value(); got != 4 {
		t.Errorf("cpu capacity = %d, want 4", got)
	}
	if got := node.Status.Allocatable.Pods().Value(); got != 110 {
		t.Errorf("allocatable pods = %d, want 110", got)
	}
	if got := node.Status.NodeInfo; got.KubeletVersion != version.Kubernetes || got.ContainerRuntimeVersion != "containerd://1.6.20" || got.KernelVersion != "6.1.0" {
		t.Errorf("nodeInfo = %+v", got)
	}
	if got := node.Status.Addresses; len(got) != 2 || got[0] != (corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "192.0.2.10"}) {
		t.Errorf("addresses = %v, want InternalIP first, then Hostname", got)
	}
	if node.Labels[corev1.LabelHostname] != "n1" || node.Labels[corev1.LabelOSStable] != "linux" {
		t.Errorf("labels = %v", node.Labels)
	}
	ready := node.Status.Conditions[len(node.Status.Conditions)-1]
	if ready.Type != corev1.NodeReady || ready.Status != corev1.ConditionTrue || ready.Reason != "KubeletReady" {
		t.Errorf("last condition = %+v, want Ready True KubeletReady", ready)
	}

	// A later heartbeat keeps the transition time and an assigned CIDR.
	node.Spec.PodCIDR, node.Spec.PodCIDRs = "10.42.7.0/24", []string{"10.42.7.0/24"}
	later := buildNode(node, spec, testFacts(), now.Add(time.Minute))
	got := later.Status.Conditions[len(later.Status.Conditions)-1]
	if !got.LastTransitionTime.Equal(&ready.LastTransitionTime) || !got.LastHeartbeatTime.After(ready.LastHeartbeatTime.Time) {
		t.Errorf("heartbeat: transition %v (want %v), heartbeat %v (want later)", got.LastTransitionTime, ready.LastTransitionTime, got.LastHeartbeatTime)
	}
	if later.Spec.PodCIDR != "10.42.7.0/24" {
		t.Errorf("podCIDR = %s, want the assigned 10.42.7.0/24 kept", later.Spec.PodCIDR)
	}
}

func TestNodeReporterRegistersAndRenewsLease(t *testing.T) {
	client := fake.NewClientset()
	clock := testingclock.NewFakeClock(time.Now())
	r := &nodeReporter{client: client, clock: clock, facts: testFacts(), leaseDuration: 40 * time.Second,
		spec: nodeSpec{name: "n1", podCIDR: "10.42.0.0/24", maxPods: 110, runtimeVersion: "containerd://1.6.20"}}
	ctx := context.Background()
	node, err := r.register(ctx)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if len(node.Status.Conditions) == 0 || node.Status.NodeInfo.KubeletVersion == "" {
		t.Errorf("registered node has no status: %+v", node.Status)
	}
	if err := r.renewLease(ctx, node); err != nil {
		t.Fatalf("renewLease: %v", err)
	}
	first, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "n1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("lease: %v", err)
	}
	if *first.Spec.HolderIdentity != "n1" || *first.Spec.LeaseDurationSeconds != 40 {
		t.Errorf("lease spec = %+v", first.Spec)
	}
	clock.Step(10 * time.Second)
	if err := r.renewLease(ctx, node); err != nil {
		t.Fatalf("renewLease: %v", err)
	}
	second, _ := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "n1", metav1.GetOptions{})
	if !second.Spec.RenewTime.After(first.Spec.RenewTime.Time) {
		t.Errorf("renewTime %v not after %v", second.Spec.RenewTime, first.Spec.RenewTime)
	}
	// Registering again (agent restart) updates rather than fails.
	if _, err := r.register(ctx); err != nil {
		t.Fatalf("second register: %v", err)
	}
}

func TestHostParsers(t *testing.T) {
	if got := parseMemTotal([]byte("MemTotal:       16314652 kB\nMemFree: 1 kB\n")); got != 16314652*1024 {
		t.Errorf("parseMemTotal = %d", got)
	}
	if got := parseOSRelease([]byte("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n")); got != "Debian GNU/Linux 12 (bookworm)" {
		t.Errorf("parseOSRelease = %q", got)
	}
	route := "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n" +
		"eth1\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\n" +
		"eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\n"
	if got := parseDefaultRoute([]byte(route)); got != "eth0" {
		t.Errorf("parseDefaultRoute = %q, want eth0", got)
	}
}
