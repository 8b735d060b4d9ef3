package nodelifecycle

import (
	"context"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/test/framework"
)

// fakeAgent plays a node agent: it registers a ready node and renews its
// Lease until stopped.
type fakeAgent struct {
	t      *testing.T
	client kubernetes.Interface
	node   string
	stop   chan struct{}
	wg     sync.WaitGroup
}

func startAgent(t *testing.T, client kubernetes.Interface, node string) *fakeAgent {
	t.Helper()
	ctx := context.Background()
	n, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("registering node: %v", err)
	}
	a := &fakeAgent{t: t, client: client, node: node}
	a.postReady(n)
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: node, Namespace: corev1.NamespaceNodeLease},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(node), LeaseDurationSeconds: ptr.To[int32](40),
			RenewTime: &metav1.MicroTime{Time: time.Now()}},
	}
	if _, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, l, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating lease: %v", err)
	}
	a.resume()
	t.Cleanup(a.pause)
	return a
}

// postReady reports the node Ready now.
func (a *fakeAgent) postReady(n *corev1.Node) {
	a.t.Helper()
	now := metav1.Now()
	n = n.DeepCopy()
	n.Status.Conditions = []corev1.NodeCondition{{
		Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status",
		LastHeartbeatTime: now, LastTransitionTime: now,
	}}
	if _, err := a.client.CoreV1().Nodes().UpdateStatus(context.Background(), n, metav1.UpdateOptions{}); err != nil {
		a.t.Fatalf("posting node status: %v", err)
	}
}

// resume starts renewing the Lease every 200 ms.
func (a *fakeAgent) resume() {
	a.stop = make(chan struct{})
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		ticker := time.NewTicker(200 * time.Millisecond)
		defer ticker.Stop()
		for {
			select {
			case <-a.stop:
				return
			case <-ticker.C:
			}
			leases := a.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
			l, err := leases.Get(context.Background(), a.node, metav1.GetOptions{})
			if err != nil {
				continue
			}
			l.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
			_, _ = leases.Update(context.Background(), l, metav1.UpdateOptions{})
		}
	}()
}

// pause stops the renewals (idempotent).
func (a *fakeAgent) pause() {
	if a.stop != nil {
		close(a.stop)
		a.wg.Wait()
		a.stop = nil
	}
}

func TestUnreachableNodeThroughTheAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	cluster := framework.StartInProcess(t, framework.Options{})
	client := cluster.Client(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory.Core().V1().Nodes(), factory.Coordination().V1().Leases(), factory.Core().V1().Pods(), Config{
		MonitorPeriod: 100 * time.Millisecond, GracePeriod: 1500 * time.Millisecond, StartupGracePeriod: 3 * time.Second,
	})
	factory.Start(ctx.Done())
	done := make(chan error, 1)
	go func() { done <- c.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Start returned %v", err)
		}
		factory.Shutdown()
	}()

	agent := startAgent(t, client, "node-a")
	createPod := func(name string, tolerations ...corev1.Toleration) {
		t.Helper()
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: corev1.PodSpec{NodeName: "node-a", Tolerations: tolerations,
				Containers: []corev1.Container{{Name: "c", Image: "app:1"}}},
		}
		p, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("creating pod %s: %v", name, err)
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
		if _, err := client.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("pod %s status: %v", name, err)
		}
	}
	createPod("short", corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
		Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](1)})
	createPod("forever", corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
		Effect: corev1.TaintEffectNoExecute})
	createPod("default") // the API server gives it 300 s

	getNode := func() *corev1.Node {
		n, err := client.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("reading node: %v", err)
		}
		return n
	}
	getPod := func(name string) *corev1.Pod {
		p, err := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("reading pod %s: %v", name, err)
		}
		return p
	}

	agent.pause()
	framework.WaitFor(t, 15*time.Second, "node-a Ready=Unknown and tainted unreachable", func() (bool, error) {
		n := getNode()
		ready := condition(n, corev1.NodeReady)
		if ready == nil || ready.Status != corev1.ConditionUnknown {
			return false, nil
		}
		if ready.Message != "Kubelet stopped posting node status." {
			t.Errorf("Ready message = %q", ready.Message)
		}
		var noSchedule, noExec bool
		for _, taint := range n.Spec.Taints {
			if taint.Key == corev1.TaintNodeUnreachable {
				noSchedule = noSchedule || taint.Effect == corev1.TaintEffectNoSchedule
				noExec = noExec || taint.Effect == corev1.TaintEffectNoExecute
			}
		}
		return noSchedule && noExec, nil
	})
	framework.WaitFor(t, 15*time.Second, "pod short evicted after its 1 s toleration", func() (bool, error) {
		return getPod("short").DeletionTimestamp != nil, nil
	})
	short := getPod("short")
	hasDisruption := false
	for _, c := range short.Status.Conditions {
		hasDisruption = hasDisruption || (c.Type == corev1.DisruptionTarget && c.Reason == "DeletionByTaintManager")
	}
	if !hasDisruption {
		t.Errorf("evicted pod conditions = %+v, want DisruptionTarget", short.Status.Conditions)
	}
	for _, name := range []string{"forever", "default"} {
		p := getPod(name)
		if p.DeletionTimestamp != nil {
			t.Errorf("pod %s was evicted; its toleration has not run out", name)
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status != corev1.ConditionFalse {
				t.Errorf("pod %s Ready = %s on an unreachable node, want False", name, c.Status)
			}
		}
	}

	// The agent comes back: Lease renewed, Ready posted. The taints go.
	agent.resume()
	agent.postReady(getNode())
	framework.WaitFor(t, 15*time.Second, "node-a untainted", func() (bool, error) {
		for _, taint := range getNode().Spec.Taints {
			if taint.Key == corev1.TaintNodeUnreachable || taint.Key == corev1.TaintNodeNotReady {
				return false, nil
			}
		}
		return true, nil
	})
	if getPod("default").DeletionTimestamp != nil {
		t.Error("pod default was evicted")
	}
}
