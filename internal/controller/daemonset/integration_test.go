package daemonset

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/navarch/navarch/test/framework"
)

const waitTimeout = 60 * time.Second

func startController(t *testing.T) (context.Context, kubernetes.Interface) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts a cluster")
	}
	cluster := framework.StartInProcess(t, framework.Options{})
	client := cluster.Client(t)
	ctx := t.Context()
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory.Core().V1().Pods(), factory.Core().V1().Nodes(),
		factory.Apps().V1().DaemonSets(), factory.Apps().V1().ControllerRevisions())
	factory.Start(ctx.Done())
	done := make(chan error, 1)
	go func() { done <- c.Start(ctx) }()
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("controller: %v", err)
		}
		factory.Shutdown()
	})
	return ctx, client
}

// runPods plays scheduler and node agent, which this test does not run:
// every pending pod in namespace turns Running and Ready, until ctx ends.
func runPods(ctx context.Context, t *testing.T, client kubernetes.Interface, namespace string) {
	go func() {
		ticker := time.NewTicker(50 * time.Millisecond)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
			pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
			if err != nil {
				continue
			}
			for i := range pods.Items {
				pod := &pods.Items[i]
				if pod.Status.Phase == corev1.PodRunning || pod.DeletionTimestamp != nil {
					continue
				}
				pod.Status.Phase = corev1.PodRunning
				pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
				if _, err := client.CoreV1().Pods(namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
					t.Logf("marking %s ready: %v", pod.Name, err)
				}
			}
		}
	}()
}

// podsByNode maps node name to the DaemonSet's pods pinned there.
func podsByNode(ctx context.Context, client kubernetes.Interface) (map[string][]corev1.Pod, error) {
	pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=agent"})
	if err != nil {
		return nil, err
	}
	out := map[string][]corev1.Pod{}
	for _, pod := range pods.Items {
		out[targetNode(&pod)] = append(out[targetNode(&pod)], pod)
	}
	return out, nil
}

func TestIntegrationDaemonSet(t *testing.T) {
	ctx, client := startController(t)
	for _, node := range []*corev1.Node{newNode("a"), newNode("b"), newNode("tainted", taint("dedicated", corev1.TaintEffectNoSchedule))} {
		if _, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create node: %v", err)
		}
	}
	ds := newDaemonSet()
	ds.Namespace, ds.UID, ds.Generation = "default", "", 0
	sets := client.AppsV1().DaemonSets("default")
	if _, err := sets.Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create: %v", err)
	}
	runPods(ctx, t, client, "default")
	framework.WaitFor(t, waitTimeout, "a ready pod on each eligible node", func() (bool, error) {
		got, err := sets.Get(ctx, "agent", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s := got.Status
		return s.DesiredNumberScheduled == 2 && s.CurrentNumberScheduled == 2 && s.NumberReady == 2 && s.NumberAvailable == 2 &&
			s.UpdatedNumberScheduled == 2 && s.NumberMisscheduled == 0, nil
	})
	byNode, err := podsByNode(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	if len(byNode["a"]) != 1 || len(byNode["b"]) != 1 || len(byNode["tainted"]) != 0 {
		t.Fatalf("pods per node = a:%d b:%d tainted:%d, want 1 1 0", len(byNode["a"]), len(byNode["b"]), len(byNode["tainted"]))
	}

	// A new node gets its pod.
	if _, err := client.CoreV1().Nodes().Create(ctx, newNode("c"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create node: %v", err)
	}
	framework.WaitFor(t, waitTimeout, "a pod on the new node", func() (bool, error) {
		byNode, err := podsByNode(ctx, client)
		return err == nil && len(byNode["c"]) == 1, err
	})

	// Rolling update: every pod replaced, one node at a time.
	patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"agent:2"}]}}}}`)
	if _, err := sets.Patch(ctx, "agent", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("patch: %v", err)
	}
	framework.WaitFor(t, waitTimeout, "rolling update done", func() (bool, error) {
		got, err := sets.Get(ctx, "agent", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s := got.Status
		if s.ObservedGeneration != got.Generation || s.UpdatedNumberScheduled != 3 || s.NumberAvailable != 3 {
			return false, nil
		}
		byNode, err := podsByNode(ctx, client)
		if err != nil {
			return false, err
		}
		for _, node := range []string{"a", "b", "c"} {
			if len(byNode[node]) != 1 || byNode[node][0].Spec.Containers[0].Image != "agent:2" {
				return false, nil
			}
		}
		return true, nil
	})
	revs, err := client.AppsV1().ControllerRevisions("default").List(ctx, metav1.ListOptions{})
	if err != nil || len(revs.Items) != 2 {
		t.Errorf("revisions = %d (err %v), want 2", len(revs.Items), err)
	}

	// A node that stops matching loses its pod.
	if _, err := client.CoreV1().Nodes().Patch(ctx, "c", types.MergePatchType,
		[]byte(`{"spec":{"taints":[{"key":"dedicated","effect":"NoExecute"}]}}`), metav1.PatchOptions{}); err != nil {
		t.Fatalf("taint node: %v", err)
	}
	framework.WaitFor(t, waitTimeout, "pod evicted from the NoExecute node", func() (bool, error) {
		byNode, err := podsByNode(ctx, client)
		if err != nil {
			return false, err
		}
		got, err := sets.Get(ctx, "agent", metav1.GetOptions{})
		return err == nil && len(byNode["c"]) == 0 && got.Status.DesiredNumberScheduled == 2, err
	})
}
