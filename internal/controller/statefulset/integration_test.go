package statefulset

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

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
	c := New(client, factory.Core().V1().Pods(), factory.Apps().V1().StatefulSets(),
		factory.Core().V1().PersistentVolumeClaims(), factory.Apps().V1().ControllerRevisions())
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

// runPods plays the node agent, which does not exist yet: every pending
// pod in namespace turns Running and Ready, until ctx ends.
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

func TestIntegrationStatefulSet(t *testing.T) {
	ctx, client := startController(t)
	set := newSet(3)
	set.UID, set.Generation = "", 0
	set.Spec.VolumeClaimTemplates[0].Spec.StorageClassName = ptr.To("manual")
	sets := client.AppsV1().StatefulSets("default")
	if _, err := sets.Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create: %v", err)
	}
	framework.WaitFor(t, waitTimeout, "web-0", func() (bool, error) {
		_, err := client.CoreV1().Pods("default").Get(ctx, "web-0", metav1.GetOptions{})
		return err == nil, nil
	})
	// OrderedReady: nothing more until web-0 is ready.
	if pods, _ := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); len(pods.Items) != 1 {
		t.Fatalf("%d pods before web-0 is ready, want 1", len(pods.Items))
	}
	runPods(ctx, t, client, "default")

	framework.WaitFor(t, waitTimeout, "3 ready replicas", func() (bool, error) {
		got, err := sets.Get(ctx, "web", metav1.GetOptions{})
		return err == nil && got.Status.ReadyReplicas == 3 && got.Status.AvailableReplicas == 3, err
	})
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("web-%d", i)
		pod, err := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get %s: %v", name, err)
		}
		if pod.Spec.Hostname != name || pod.Spec.Subdomain != "nginx" || pod.Labels[appsv1.StatefulSetPodNameLabel] != name {
			t.Errorf("%s: hostname %q subdomain %q labels %v", name, pod.Spec.Hostname, pod.Spec.Subdomain, pod.Labels)
		}
		if _, err := client.CoreV1().PersistentVolumeClaims("default").Get(ctx, "data-"+name, metav1.GetOptions{}); err != nil {
			t.Errorf("claim of %s: %v", name, err)
		}
	}

	// Rolling update to a new image.
	patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:2"}]}}}}`)
	if _, err := sets.Patch(ctx, "web", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("patch image: %v", err)
	}
	framework.WaitFor(t, waitTimeout, "rolling update done", func() (bool, error) {
		got, err := sets.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s := got.Status
		return s.ObservedGeneration == got.Generation && s.UpdateRevision != "" && s.CurrentRevision == s.UpdateRevision &&
			s.UpdatedReplicas == 3 && s.ReadyReplicas == 3, nil
	})
	pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, pod := range pods.Items {
		if pod.Spec.Containers[0].Image != "nginx:2" {
			t.Errorf("%s runs %s, want nginx:2", pod.Name, pod.Spec.Containers[0].Image)
		}
	}
	revs, err := client.AppsV1().ControllerRevisions("default").List(ctx, metav1.ListOptions{})
	if err != nil || len(revs.Items) != 2 {
		t.Errorf("revisions = %d (err %v), want 2", len(revs.Items), err)
	}

	// Scale down: pods go, claims stay.
	if _, err := sets.Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":1}}`), metav1.PatchOptions{}); err != nil {
		t.Fatalf("scale: %v", err)
	}
	framework.WaitFor(t, waitTimeout, "one pod left", func() (bool, error) {
		pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) == 1 && pods.Items[0].Name == "web-0", err
	})
	claims, err := client.CoreV1().PersistentVolumeClaims("default").List(ctx, metav1.ListOptions{})
	if err != nil || len(claims.Items) != 3 {
		t.Errorf("claims = %d (err %v), want 3 kept", len(claims.Items), err)
	}
	framework.WaitFor(t, waitTimeout, "status replicas 1", func() (bool, error) {
		got, err := sets.Get(ctx, "web", metav1.GetOptions{})
		return err == nil && got.Status.Replicas == 1, err
	})
}
