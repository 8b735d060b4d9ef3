package replicaset_test

import (
	"context"
	"fmt"
	"github.com/navarch/navarch/internal/controller/replicaset"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/controller"
	"github.com/navarch/navarch/test/framework"
)

const waitTimeout = 30 * time.Second

// startCluster starts an in-process cluster and this package's controller
// against it, and returns a client and a fresh namespace.
func startCluster(t testing.TB) (kubernetes.Interface, string) {
	t.Helper()
	cluster := framework.StartInProcess(t, framework.Options{})
	client, err := kubernetes.NewForConfig(cluster.RESTConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(client, 0)
	c := replicaset.New(client, factory.Apps().V1().ReplicaSets(), factory.Core().V1().Pods())
	factory.Start(ctx.Done())
	done := make(chan error, 1)
	go func() { done <- c.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controller: %v", err)
		}
		factory.Shutdown()
	})
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "rs-test"}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return client, ns.Name
}

func activePods(t testing.TB, client kubernetes.Interface, ns string) []*corev1.Pod {
	t.Helper()
	list, err := client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	var pods []*corev1.Pod
	for i := range list.Items {
		pods = append(pods, &list.Items[i])
	}
	return controller.FilterActivePods(pods)
}

func markReady(t *testing.T, client kubernetes.Interface, pod *corev1.Pod) {
	t.Helper()
	pod = pod.DeepCopy()
	pod.Status.Phase = corev1.PodRunning
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
	if _, err := client.CoreV1().Pods(pod.Namespace).UpdateStatus(context.Background(), pod, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("marking %s ready: %v", pod.Name, err)
	}
}

func TestReplicaSetIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	client, ns := startCluster(t)
	ctx := context.Background()
	rs := replicaset.NewRSForTest("web", 3)
	rs.ObjectMeta = metav1.ObjectMeta{Name: "web", Namespace: ns}
	rs, err := client.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rsClient := client.AppsV1().ReplicaSets(ns)
	waitStatus := func(what string, ok func(s appsv1.ReplicaSetStatus) bool) {
		t.Helper()
		framework.WaitFor(t, waitTimeout, what, func() (bool, error) {
			got, err := rsClient.Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return got.Status.ObservedGeneration == got.Generation && ok(got.Status), nil
		})
	}

	t.Run("creates replicas", func(t *testing.T) {
		waitStatus("3 replicas", func(s appsv1.ReplicaSetStatus) bool { return s.Replicas == 3 && s.FullyLabeledReplicas == 3 })
		pods := activePods(t, client, ns)
		if len(pods) != 3 {
			t.Fatalf("pods = %d, want 3", len(pods))
		}
		for _, p := range pods {
			ref := metav1.GetControllerOf(p)
			if ref == nil || ref.UID != rs.UID {
				t.Errorf("pod %s controller = %v, want %s", p.Name, ref, rs.UID)
			}
			if want := "web-"; p.GenerateName != want {
				t.Errorf("pod %s generateName = %q, want %q", p.Name, p.GenerateName, want)
			}
		}
	})

	t.Run("counts ready and available", func(t *testing.T) {
		pods := activePods(t, client, ns)
		markReady(t, client, pods[0])
		markReady(t, client, pods[1])
		waitStatus("2 ready", func(s appsv1.ReplicaSetStatus) bool { return s.ReadyReplicas == 2 && s.AvailableReplicas == 2 })
	})

	t.Run("replaces a deleted pod", func(t *testing.T) {
		victim := activePods(t, client, ns)[2]
		if err := client.CoreV1().Pods(ns).Delete(ctx, victim.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		framework.WaitFor(t, waitTimeout, "a replacement pod", func() (bool, error) {
			pods := activePods(t, client, ns)
			for _, p := range pods {
				if p.Name == victim.Name {
					return false, nil
				}
			}
			return len(pods) == 3, nil
		})
	})

	t.Run("adopts an orphan and trims the surplus", func(t *testing.T) {
		orphan := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "stray", Namespace: ns, Labels: map[string]string{"app": "web", "tier": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
		}
		if _, err := client.CoreV1().Pods(ns).Create(ctx, orphan, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		framework.WaitFor(t, waitTimeout, "3 owned pods", func() (bool, error) {
			pods := activePods(t, client, ns)
			if len(pods) != 3 {
				return false, nil
			}
			for _, p := range pods {
				if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != rs.UID {
					return false, nil
				}
			}
			return true, nil
		})
	})

	t.Run("scale down keeps ready pods", func(t *testing.T) {
		// The controller may write the status between our read and our
		// write: read again on conflict, as any client must.
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			got, err := rsClient.Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return err
			}
			got.Spec.Replicas = ptr.To[int32](2)
			_, err = rsClient.Update(ctx, got, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		waitStatus("2 replicas", func(s appsv1.ReplicaSetStatus) bool { return s.Replicas == 2 })
		pods := activePods(t, client, ns)
		for _, p := range pods {
			if !controller.IsPodReady(p) {
				t.Errorf("pod %s kept but not ready; the not-ready pods should go first", p.Name)
			}
		}
	})

	t.Run("records events", func(t *testing.T) {
		framework.WaitFor(t, waitTimeout, "SuccessfulCreate and SuccessfulDelete events", func() (bool, error) {
			events, err := client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err
			}
			seen := map[string]bool{}
			for _, e := range events.Items {
				if e.InvolvedObject.Name == "web" && e.Source.Component == replicaset.EventComponentForTest {
					seen[e.Reason] = true
				}
			}
			return seen[controller.SuccessfulCreatePodReason] && seen[controller.SuccessfulDeletePodReason], nil
		})
	})

	t.Run("release a relabelled pod", func(t *testing.T) {
		pod := activePods(t, client, ns)[0]
		patch := []byte(`{"metadata":{"labels":{"app":"elsewhere"}}}`)
		if _, err := client.CoreV1().Pods(ns).Patch(ctx, pod.Name, "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		framework.WaitFor(t, waitTimeout, fmt.Sprintf("pod %s released and replaced", pod.Name), func() (bool, error) {
			released, err := client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return metav1.GetControllerOf(released) == nil && len(activePods(t, client, ns)) == 2, nil
		})
	})
}
