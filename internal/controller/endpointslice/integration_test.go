package endpointslice

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/navarch/navarch/test/framework"
)

// startControllers runs both controllers against the cluster until the
// test ends.
func startControllers(t *testing.T, client kubernetes.Interface) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(client, 0)
	slices := New(client, factory.Core().V1().Pods(), factory.Core().V1().Services(),
		factory.Core().V1().Nodes(), factory.Discovery().V1().EndpointSlices())
	mirroring := NewMirroring(client, factory.Core().V1().Endpoints(), factory.Core().V1().Services(),
		factory.Discovery().V1().EndpointSlices())
	factory.Start(ctx.Done())
	done := make(chan error, 2)
	go func() { done <- slices.Start(ctx) }()
	go func() { done <- mirroring.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("Start returned %v", err)
			}
		}
		factory.Shutdown()
	})
}

func listSlices(t *testing.T, client kubernetes.Interface, service, managedBy string) []discoveryv1.EndpointSlice {
	t.Helper()
	list, err := client.DiscoveryV1().EndpointSlices("default").List(context.Background(), metav1.ListOptions{
		LabelSelector: labels.Set{discoveryv1.LabelServiceName: service, discoveryv1.LabelManagedBy: managedBy}.String(),
	})
	if err != nil {
		t.Fatalf("listing slices: %v", err)
	}
	return list.Items
}

func runPod(t *testing.T, client kubernetes.Interface, name, ip string) {
	t.Helper()
	ctx := context.Background()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{
			Name: "web", Image: "web:1", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
		}}},
	}
	p, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod: %v", err)
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP = ip
	p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
	if _, err := client.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("pod status: %v", err)
	}
}

func TestEndpointSlicesThroughTheAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	cluster := framework.StartInProcess(t, framework.Options{})
	client := cluster.Client(t)
	ctx := context.Background()
	startControllers(t, client)

	zoneNode := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: map[string]string{corev1.LabelTopologyZone: "zone-1"}}}
	if _, err := client.CoreV1().Nodes().Create(ctx, zoneNode, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
	svc, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	framework.WaitFor(t, 10*time.Second, "the placeholder slice", func() (bool, error) {
		return len(listSlices(t, client, "web", ControllerName)) == 1, nil
	})
	runPod(t, client, "web-1", "10.42.0.11")
	runPod(t, client, "web-2", "10.42.0.12")
	framework.WaitFor(t, 10*time.Second, "a slice with both pods", func() (bool, error) {
		items := listSlices(t, client, "web", ControllerName)
		return len(items) == 1 && len(items[0].Endpoints) == 2, nil
	})
	slice := listSlices(t, client, "web", ControllerName)[0]
	if len(slice.OwnerReferences) != 1 || slice.OwnerReferences[0].UID != svc.UID {
		t.Errorf("owner references = %+v, want the service", slice.OwnerReferences)
	}
	if len(slice.Ports) != 1 || *slice.Ports[0].Port != 8080 {
		t.Errorf("ports = %+v, want the named target port 8080", slice.Ports)
	}
	for _, ep := range slice.Endpoints {
		if ep.Zone == nil || *ep.Zone != "zone-1" || ep.NodeName == nil || *ep.NodeName != "node-a" ||
			ep.Conditions.Ready == nil || !*ep.Conditions.Ready {
			t.Errorf("endpoint %+v, want ready on node-a in zone-1", ep)
		}
	}

	// Deleting a pod with a node marks it terminating (its agent would
	// confirm): it stays in the slice, not ready, terminating.
	if err := client.CoreV1().Pods("default").Delete(ctx, "web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.WaitFor(t, 10*time.Second, "web-1 terminating in the slice", func() (bool, error) {
		for _, ep := range listSlices(t, client, "web", ControllerName)[0].Endpoints {
			if ep.TargetRef.Name == "web-1" {
				return *ep.Conditions.Terminating && !*ep.Conditions.Ready && *ep.Conditions.Serving, nil
			}
		}
		return false, nil
	})

	// The kubernetes Service has no selector: no slice from us.
	if items := listSlices(t, client, "kubernetes", ControllerName); len(items) != 0 {
		t.Errorf("slices of the selector-less kubernetes service: %d, want 0", len(items))
	}
}

func TestMirroringThroughTheAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	cluster := framework.StartInProcess(t, framework.Options{})
	client := cluster.Client(t)
	ctx := context.Background()
	startControllers(t, client)

	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "pg", Port: 5432}}},
	}
	if _, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "192.168.10.5"}, {IP: "192.168.10.6"}},
			Ports:     []corev1.EndpointPort{{Name: "pg", Port: 5432}},
		}},
	}
	ep, err := client.CoreV1().Endpoints("default").Create(ctx, ep, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	framework.WaitFor(t, 10*time.Second, "a mirrored slice with two endpoints", func() (bool, error) {
		items := listSlices(t, client, "db", MirroringControllerName)
		return len(items) == 1 && len(items[0].Endpoints) == 2, nil
	})
	if owners := listSlices(t, client, "db", MirroringControllerName)[0].OwnerReferences; len(owners) != 1 || owners[0].UID != ep.UID {
		t.Errorf("owner references = %+v, want the Endpoints", owners)
	}

	ep.Labels = map[string]string{discoveryv1.LabelSkipMirror: "true"}
	if _, err := client.CoreV1().Endpoints("default").Update(ctx, ep, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.WaitFor(t, 10*time.Second, "the mirrored slice gone after skip-mirror", func() (bool, error) {
		return len(listSlices(t, client, "db", MirroringControllerName)) == 0, nil
	})
}
