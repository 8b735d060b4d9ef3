package servicelb

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func node(name, ip string, ready bool) *corev1.Node {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status}},
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}},
		},
	}
}

func lbService(name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.43.0.50", Ports: []corev1.ServicePort{{Port: 80}}},
	}
}

func ingressIPs(s *corev1.Service) []string {
	var out []string
	for _, i := range s.Status.LoadBalancer.Ingress {
		out = append(out, i.IP)
	}
	return out
}

func TestIngressAssignment(t *testing.T) {
	cases := []struct {
		name string
		pool string
		want []string
	}{
		{"ready node addresses", "", []string{"192.0.2.2"}},
		{"pool", "192.0.2.100-192.0.2.101", []string{"192.0.2.100"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewSimpleClientset(node("a", "192.0.2.2", true), node("b", "192.0.2.3", false), lbService("web"))
			factory := informers.NewSharedInformerFactory(client, 0)
			c, err := New(Config{Pool: tc.pool}, client, factory)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			factory.Start(ctx.Done())
			factory.WaitForCacheSync(ctx.Done())
			if err := c.sync(ctx, "default/web"); err != nil {
				t.Fatal(err)
			}
			got, _ := client.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
			if g := ingressIPs(got); len(g) != len(tc.want) || (len(g) > 0 && g[0] != tc.want[0]) {
				t.Fatalf("ingress %v, want %v", g, tc.want)
			}
		})
	}
}

func TestTypeChangeClearsIngress(t *testing.T) {
	svc := lbService("web")
	svc.Spec.Type = corev1.ServiceTypeClusterIP
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.2"}}
	client := fake.NewSimpleClientset(node("a", "192.0.2.2", true), svc)
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := New(Config{}, client, factory)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	if err := c.sync(ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	got, _ := client.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
	if len(got.Status.LoadBalancer.Ingress) != 0 {
		t.Fatalf("ingress kept after the type changed: %v", ingressIPs(got))
	}
}

func TestParsePool(t *testing.T) {
	for _, bad := range []string{"x", "192.0.2.9-192.0.2.1", "::1-::2"} {
		if _, err := parsePool(bad); err == nil {
			t.Errorf("pool %q accepted", bad)
		}
	}
	p, err := parsePool("192.0.2.1-192.0.2.3")
	if err != nil || len(p) != 3 {
		t.Fatalf("pool: %v %v", p, err)
	}
}
