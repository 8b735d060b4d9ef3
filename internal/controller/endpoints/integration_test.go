package endpoints

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/navarch/navarch/test/framework"
)

// startController runs the controller against the cluster until the test
// ends.
func startController(t *testing.T, client kubernetes.Interface) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory.Core().V1().Pods(), factory.Core().V1().Services(), factory.Core().V1().Endpoints())
	factory.Start(ctx.Done())
	done := make(chan error, 1)
	go func() { done <- c.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Start returned %v", err)
		}
		factory.Shutdown()
	})
}

// runPod creates a pod on node-a and reports it running with ip, ready or
// not, as a node agent would.
func runPod(t *testing.T, client kubernetes.Interface, name, ip string, ready bool) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{
			Name: "web", Image: "web:1",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
		}}},
	}
	created, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s: %v", name, err)
	}
	return setPodStatus(t, client, created, ip, ready)
}

func setPodStatus(t *testing.T, client kubernetes.Interface, p *corev1.Pod, ip string, ready bool) *corev1.Pod {
	t.Helper()
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p = p.DeepCopy()
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP = ip
	p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.Now()}}
	updated, err := client.CoreV1().Pods(p.Namespace).UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("pod %s status: %v", p.Name, err)
	}
	return updated
}

func TestEndpointsThroughTheAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	cluster := framework.StartInProcess(t, framework.Options{})
	client := cluster.Client(t)
	ctx := context.Background()
	startController(t, client)

	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
	if _, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	runPod(t, client, "web-1", "10.42.0.11", true)
	slow := runPod(t, client, "web-2", "10.42.0.12", false)

	endpoints := func() (*corev1.Endpoints, error) {
		return client.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
	}
	framework.WaitFor(t, 10*time.Second, "one ready and one not-ready address", func() (bool, error) {
		ep, err := endpoints()
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return len(ep.Subsets) == 1 && len(ep.Subsets[0].Addresses) == 1 && len(ep.Subsets[0].NotReadyAddresses) == 1, nil
	})
	ep, err := endpoints()
	if err != nil {
		t.Fatal(err)
	}
	subset := ep.Subsets[0]
	if got := subset.Addresses[0]; got.IP != "10.42.0.11" || got.TargetRef == nil || got.TargetRef.Name != "web-1" || got.NodeName == nil || *got.NodeName != "node-a" {
		t.Errorf("ready address = %+v, want 10.42.0.11 of pod web-1 on node-a", got)
	}
	if len(subset.Ports) != 1 || subset.Ports[0].Port != 8080 || subset.Ports[0].Name != "http" {
		t.Errorf("ports = %+v, want http 8080 (the named target port)", subset.Ports)
	}
	if ep.Annotations[corev1.EndpointsLastChangeTriggerTime] == "" {
		t.Errorf("annotations = %v, want %s", ep.Annotations, corev1.EndpointsLastChangeTriggerTime)
	}

	setPodStatus(t, client, slow, "10.42.0.12", true)
	framework.WaitFor(t, 10*time.Second, "both addresses ready", func() (bool, error) {
		ep, err := endpoints()
		if err != nil {
			return false, err
		}
		return len(ep.Subsets) == 1 && len(ep.Subsets[0].Addresses) == 2 && len(ep.Subsets[0].NotReadyAddresses) == 0, nil
	})

	if err := client.CoreV1().Pods("default").Delete(ctx, "web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.WaitFor(t, 10*time.Second, "the deleted pod's address gone", func() (bool, error) {
		ep, err := endpoints()
		if err != nil {
			return false, err
		}
		return len(ep.Subsets) == 1 && len(ep.Subsets[0].Addresses) == 1 && ep.Subsets[0].Addresses[0].IP == "10.42.0.12", nil
	})

	if err := client.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.WaitFor(t, 10*time.Second, "endpoints deleted with the service", func() (bool, error) {
		_, err := endpoints()
		return apierrors.IsNotFound(err), nil
	})
}

func TestHandMadeEndpointsThroughTheAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	cluster := framework.StartInProcess(t, framework.Options{})
	client := cluster.Client(t)
	ctx := context.Background()
	startController(t, client)

	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "external", Namespace: "default"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 5432}}},
	}
	if _, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	handMade := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "external", Namespace: "default"},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "192.168.10.5"}},
			Ports:     []corev1.EndpointPort{{Port: 5432}},
		}},
	}
	written, err := client.CoreV1().Endpoints("default").Create(ctx, handMade, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A pod and a label change give the controller every chance to
	// touch the object.
	runPod(t, client, "web-1", "10.42.0.11", true)
	svc, err = client.CoreV1().Services("default").Get(ctx, "external", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Labels = map[string]string{"touched": "yes"}
	if _, err := client.CoreV1().Services("default").Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The kubernetes Service (also selector-less) is synced at start too;
	// once a Service with a selector has its Endpoints, the queue has
	// passed the hand-made one.
	probe := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: "default"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}},
	}
	if _, err := client.CoreV1().Services("default").Create(ctx, probe, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.WaitFor(t, 10*time.Second, "endpoints of the probe service", func() (bool, error) {
		_, err := client.CoreV1().Endpoints("default").Get(ctx, "probe", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	got, err := client.CoreV1().Endpoints("default").Get(ctx, "external", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.ResourceVersion != written.ResourceVersion {
		t.Errorf("hand-made endpoints were rewritten: resourceVersion %s, want %s; subsets %+v", got.ResourceVersion, written.ResourceVersion, got.Subsets)
	}
}
