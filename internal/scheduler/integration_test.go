package scheduler

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/navarch/navarch/test/framework"
)

// startScheduler runs a scheduler with its own informer factory until the
// test ends.
func startScheduler(t *testing.T, client kubernetes.Interface) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	factory := informers.NewSharedInformerFactory(client, 0)
	s := New(client, factory)
	factory.Start(ctx.Done())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Start: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Start did not return within 30s of its context ending")
		}
		factory.Shutdown()
	})
}

// apiNode is a Ready node as an agent would register it.
func apiNode(name, cpu string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{
			Capacity: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("8Gi"),
				corev1.ResourcePods: resource.MustParse("110"),
			},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
				Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
		},
	}
}

func apiPod(name, cpu string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "localhost/web:1",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}},
		}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func podCondition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// eventsOf lists the events about one pod as "reason: message".
func eventsOf(ctx context.Context, client kubernetes.Interface, pod string) ([]string, error) {
	list, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("involvedObject.name", pod).String(),
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range list.Items {
		if e.Source.Component == SchedulerName {
			out = append(out, e.Reason+": "+e.Message)
		}
	}
	return out, nil
}

func waitBound(t *testing.T, client kubernetes.Interface, name string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	framework.WaitFor(t, 30*time.Second, "pod "+name+" bound", func() (bool, error) {
		var err error
		pod, err = client.CoreV1().Pods("default").Get(t.Context(), name, metav1.GetOptions{})
		return err == nil && pod.Spec.NodeName != "", err
	})
	return pod
}

// TestSchedulerOnCluster runs the scheduler against an in-process
// cluster with Node objects made by the test: it binds pods, reports an
// unschedulable one with upstream's message, retries it when a node
// arrives, and keeps anti-affine pods apart.
func TestSchedulerOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	cluster := framework.StartInProcess(t, framework.Options{})
	client := cluster.Client(t)
	ctx := t.Context()
	for _, n := range []*corev1.Node{
		apiNode("a", "2"), apiNode("b", "2"),
		apiNode("gpu", "8", corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}),
	} {
		if _, err := client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating node %s: %v", n.Name, err)
		}
	}
	startScheduler(t, client)

	// A pod that fits is bound, with a Scheduled event.
	if _, err := client.CoreV1().Pods("default").Create(ctx, apiPod("small", "500m"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating pod: %v", err)
	}
	small := waitBound(t, client, "small")
	if small.Spec.NodeName != "a" && small.Spec.NodeName != "b" {
		t.Errorf("small landed on %s, want a or b (gpu is tainted)", small.Spec.NodeName)
	}
	if c := podCondition(small, corev1.PodScheduled); c == nil || c.Status != corev1.ConditionTrue {
		t.Errorf("PodScheduled of small: got %+v, want True", c)
	}
	wantScheduled := "Scheduled: Successfully assigned default/small to " + small.Spec.NodeName
	framework.WaitFor(t, 30*time.Second, "Scheduled event", func() (bool, error) {
		events, err := eventsOf(ctx, client, "small")
		return len(events) == 1 && events[0] == wantScheduled, err
	})

	// A pod no node fits stays Pending with upstream's message.
	if _, err := client.CoreV1().Pods("default").Create(ctx, apiPod("big", "3"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating pod: %v", err)
	}
	wantMsg := "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu. " +
		"preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."
	framework.WaitFor(t, 30*time.Second, "FailedScheduling event and condition of big", func() (bool, error) {
		events, err := eventsOf(ctx, client, "big")
		if err != nil || len(events) == 0 {
			return false, err
		}
		if events[0] != "FailedScheduling: "+wantMsg {
			t.Fatalf("event: got %q\nwant %q", events[0], "FailedScheduling: "+wantMsg)
		}
		pod, err := client.CoreV1().Pods("default").Get(ctx, "big", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		c := podCondition(pod, corev1.PodScheduled)
		if c == nil {
			return false, nil
		}
		if c.Status != corev1.ConditionFalse || c.Reason != corev1.PodReasonUnschedulable || c.Message != wantMsg {
			t.Fatalf("PodScheduled of big: got %s %s %q, want False Unschedulable %q", c.Status, c.Reason, c.Message, wantMsg)
		}
		return pod.Spec.NodeName == "" && pod.Status.Phase == corev1.PodPending, nil
	})

	// A node that fits arrives: the pending pod is retried and bound there.
	if _, err := client.CoreV1().Nodes().Create(ctx, apiNode("large", "4"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating node: %v", err)
	}
	if big := waitBound(t, client, "big"); big.Spec.NodeName != "large" {
		t.Errorf("big landed on %s, want large", big.Spec.NodeName)
	}

	// Required anti-affinity by hostname keeps replicas apart.
	anti := requiredAntiAffinity(podAffinityTerm("app", "web", corev1.LabelHostname))
	nodes := map[string]string{}
	for _, name := range []string{"web-1", "web-2", "web-3"} {
		if _, err := client.CoreV1().Pods("default").Create(ctx, apiPod(name, "100m", podLabels("app", "web"), anti), metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating pod: %v", err)
		}
		pod := waitBound(t, client, name)
		if other, taken := nodes[pod.Spec.NodeName]; taken {
			t.Errorf("%s and %s share node %s despite anti-affinity", name, other, pod.Spec.NodeName)
		}
		nodes[pod.Spec.NodeName] = name
	}
}
