package simnode

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/navarch/navarch/test/framework"
)

// startSimulator runs a simulator until the test ends (or stop is
// called) and fails the test if Start returns an error.
func startSimulator(t *testing.T, client kubernetes.Interface, cfg Config) (sim *Simulator, stop func()) {
	t.Helper()
	sim = New(client, cfg)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- sim.Start(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Start: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Start did not return within 30s of its context ending")
		}
	}
	t.Cleanup(stop)
	return sim, stop
}

func boundPod(name, node string, hostNetwork bool) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "sim"}},
		Spec: corev1.PodSpec{
			NodeName:    node,
			HostNetwork: hostNetwork,
			Containers:  []corev1.Container{{Name: "c", Image: "localhost/web:1"}},
		},
	}
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func leaseRenewTime(t *testing.T, client kubernetes.Interface, node string) time.Time {
	t.Helper()
	l, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(t.Context(), node, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("lease of %s: %v", node, err)
	}
	if l.Spec.RenewTime == nil {
		t.Fatalf("lease of %s has no renewTime", node)
	}
	return l.Spec.RenewTime.Time
}

// waitLeaseRenewed waits until node's Lease is renewed after since.
func waitLeaseRenewed(t *testing.T, client kubernetes.Interface, node string, since time.Time) time.Time {
	t.Helper()
	var got time.Time
	framework.WaitFor(t, 20*time.Second, "lease of "+node+" renewed", func() (bool, error) {
		got = leaseRenewTime(t, client, node)
		return got.After(since), nil
	})
	return got
}

// TestSimulatedNodes runs three simulated nodes against an in-process
// cluster: they register Ready, heartbeat, run the pods bound to them,
// finish deletions, stop heartbeating when stopped, and survive a restart
// of the simulator.
func TestSimulatedNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	cluster := framework.StartInProcess(t, framework.Options{})
	client := cluster.Client(t)
	ctx := t.Context()
	cfg := Config{Count: 3, NamePrefix: "sim-", HeartbeatInterval: time.Second}
	sim, stopSim := startSimulator(t, client, cfg)

	framework.WaitFor(t, 30*time.Second, "3 Ready simulated nodes", func() (bool, error) {
		nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: corev1.LabelInstanceTypeStable + "=" + InstanceType})
		if err != nil {
			return false, err
		}
		ready := 0
		for _, n := range nodes.Items {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready == 3, nil
	})
	node0, err := client.CoreV1().Nodes().Get(ctx, "sim-0", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("node sim-0: %v", err)
	}
	if got, want := node0.Status.NodeInfo.KubeletVersion, "v1.37.2"; got != want {
		t.Errorf("kubelet version: got %s, want %s", got, want)
	}
	if got := node0.Status.Allocatable.Cpu().String(); got != "4" {
		t.Errorf("allocatable cpu: got %s, want 4", got)
	}
	if got := node0.Spec.PodCIDR; got != "10.128.0.0/24" {
		t.Errorf("pod CIDR: got %s, want 10.128.0.0/24", got)
	}

	// Pods bound to the nodes become Running and Ready.
	var names []string
	for i := 0; i < 6; i++ {
		name := fmt.Sprintf("p%d", i)
		if _, err := client.CoreV1().Pods("default").Create(ctx, boundPod(name, sim.NodeNames()[i%3], false), metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating pod: %v", err)
		}
		names = append(names, name)
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, boundPod("host", "sim-2", true), metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating pod: %v", err)
	}
	names = append(names, "host")
	framework.WaitFor(t, 30*time.Second, "7 pods Running and Ready", func() (bool, error) {
		for _, name := range names {
			pod, err := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if pod.Status.Phase != corev1.PodRunning || !podReady(pod) {
				return false, nil
			}
		}
		return true, nil
	})
	seen := map[string]string{}
	for _, name := range names {
		pod, err := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("pod %s: %v", name, err)
		}
		node, err := client.CoreV1().Nodes().Get(ctx, pod.Spec.NodeName, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("node %s: %v", pod.Spec.NodeName, err)
		}
		nodeIP := node.Status.Addresses[0].Address
		if pod.Status.HostIP != nodeIP {
			t.Errorf("pod %s: hostIP %s, want %s", name, pod.Status.HostIP, nodeIP)
		}
		if pod.Spec.HostNetwork {
			if pod.Status.PodIP != nodeIP {
				t.Errorf("hostNetwork pod %s: podIP %s, want the node's %s", name, pod.Status.PodIP, nodeIP)
			}
		} else {
			subnet := netip.MustParsePrefix(node.Spec.PodCIDR)
			if ip, err := netip.ParseAddr(pod.Status.PodIP); err != nil || !subnet.Contains(ip) {
				t.Errorf("pod %s: podIP %q outside its node's %s", name, pod.Status.PodIP, subnet)
			}
			if other, dup := seen[pod.Status.PodIP]; dup {
				t.Errorf("pods %s and %s share %s", name, other, pod.Status.PodIP)
			}
			seen[pod.Status.PodIP] = name
		}
		if pod.Status.StartTime == nil || len(pod.Status.ContainerStatuses) != 1 ||
			!pod.Status.ContainerStatuses[0].Ready || pod.Status.ContainerStatuses[0].State.Running == nil {
			t.Errorf("pod %s: status %+v, want a start time and one running ready container", name, pod.Status)
		}
	}

	// A pod deleted with a grace period is finished by its node.
	if err := client.CoreV1().Pods("default").Delete(ctx, "p0", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("deleting p0: %v", err)
	}
	framework.WaitFor(t, 30*time.Second, "p0 gone", func() (bool, error) {
		_, err := client.CoreV1().Pods("default").Get(ctx, "p0", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})

	// Leases are renewed; a stopped node stops renewing, a resumed one
	// starts again.
	for _, n := range sim.NodeNames() {
		l, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("lease of %s: %v", n, err)
		}
		if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != n || len(l.OwnerReferences) != 1 || l.OwnerReferences[0].Kind != "Node" {
			t.Errorf("lease of %s: %+v, want held by the node and owned by it", n, l)
		}
	}
	waitLeaseRenewed(t, client, "sim-0", leaseRenewTime(t, client, "sim-0"))
	if err := sim.StopNode("sim-1"); err != nil {
		t.Fatalf("StopNode: %v", err)
	}
	r0 := waitLeaseRenewed(t, client, "sim-0", time.Now())
	stoppedAt := leaseRenewTime(t, client, "sim-1")
	r0 = waitLeaseRenewed(t, client, "sim-0", r0)
	waitLeaseRenewed(t, client, "sim-0", r0)
	if got := leaseRenewTime(t, client, "sim-1"); !got.Equal(stoppedAt) {
		t.Errorf("stopped node renewed its lease: %v after %v", got, stoppedAt)
	}
	if err := sim.ResumeNode("sim-1"); err != nil {
		t.Fatalf("ResumeNode: %v", err)
	}
	waitLeaseRenewed(t, client, "sim-1", stoppedAt)

	// A node marked Unknown by someone else (a node lifecycle controller)
	// reports Ready again at its next heartbeat, as a kubelet does.
	node2, err := client.CoreV1().Nodes().Get(ctx, "sim-2", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("node sim-2: %v", err)
	}
	for i := range node2.Status.Conditions {
		if node2.Status.Conditions[i].Type == corev1.NodeReady {
			node2.Status.Conditions[i].Status = corev1.ConditionUnknown
			node2.Status.Conditions[i].Reason = "NodeStatusUnknown"
		}
	}
	if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, node2, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("marking sim-2 Unknown: %v", err)
	}
	framework.WaitFor(t, 20*time.Second, "sim-2 Ready again", func() (bool, error) {
		n, err := client.CoreV1().Nodes().Get(ctx, "sim-2", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		c := readyCondition(n)
		return c != nil && c.Status == corev1.ConditionTrue && c.Reason == "KubeletReady", nil
	})

	// A new simulator takes the nodes over: existing pods keep their
	// addresses and new pods get free ones.
	stopSim()
	p1, err := client.CoreV1().Pods("default").Get(ctx, "p1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("p1: %v", err)
	}
	startSimulator(t, client, cfg)
	if _, err := client.CoreV1().Pods("default").Create(ctx, boundPod("late", p1.Spec.NodeName, false), metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating pod: %v", err)
	}
	var late *corev1.Pod
	framework.WaitFor(t, 30*time.Second, "late pod Running", func() (bool, error) {
		late, err = client.CoreV1().Pods("default").Get(ctx, "late", metav1.GetOptions{})
		return err == nil && late.Status.Phase == corev1.PodRunning, err
	})
	if late.Status.PodIP == p1.Status.PodIP {
		t.Errorf("pod started after the restart got %s, the address of p1", late.Status.PodIP)
	}
	if again, err := client.CoreV1().Pods("default").Get(ctx, "p1", metav1.GetOptions{}); err != nil || again.Status.PodIP != p1.Status.PodIP {
		t.Errorf("p1 after the restart: %v %v, want address %s kept", again.Status.PodIP, err, p1.Status.PodIP)
	}
}

// TestStartRejectsBadConfig checks that Start reports the config error.
func TestStartRejectsBadConfig(t *testing.T) {
	err := New(nil, Config{Count: 0}).Start(t.Context())
	if err == nil {
		t.Fatalf("Start with no nodes: got nil error")
	}
}
