package endpoints

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

var created = metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))

type serviceOption func(*corev1.Service)

func service(name string, opts ...serviceOption) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("svc-" + name), CreationTimestamp: created},
		Spec: corev1.ServiceSpec{
			Selector:   map[string]string{"app": "web"},
			ClusterIP:  "10.43.0.20",
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			Ports:      []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	for _, opt := range opts {
		opt(svc)
	}
	return svc
}

func headless(svc *corev1.Service) { svc.Spec.ClusterIP = corev1.ClusterIPNone }

func noSelector(svc *corev1.Service) { svc.Spec.Selector = nil }

func publishNotReady(svc *corev1.Service) { svc.Spec.PublishNotReadyAddresses = true }

func namedTarget(svc *corev1.Service) {
	svc.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("web")}}
}

type podOption func(*corev1.Pod)

func pod(name, ip string, opts ...podOption) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}, ResourceVersion: "7"},
		Spec:       corev1.PodSpec{NodeName: "node-a"},
		Status: corev1.PodStatus{
			Phase:  corev1.PodRunning,
			PodIP:  ip,
			PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{
				Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: created,
			}},
		},
	}
	for _, opt := range opts {
		opt(p)
	}
	return p
}

func notReady(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }

func terminating(p *corev1.Pod) {
	now := metav1.NewTime(time.Now())
	p.DeletionTimestamp = &now
}

func succeeded(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }

func noIP(p *corev1.Pod) { p.Status.PodIP, p.Status.PodIPs = "", nil }

func port(name string, number int32) podOption {
	return func(p *corev1.Pod) {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{
			Name:  "c" + name,
			Ports: []corev1.ContainerPort{{Name: name, ContainerPort: number, Protocol: corev1.ProtocolTCP}},
		})
	}
}

func hostname(host, subdomain string) podOption {
	return func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = host, subdomain }
}

func address(name, ip string) corev1.EndpointAddress {
	return corev1.EndpointAddress{
		IP: ip, NodeName: ptr.To("node-a"),
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: name, UID: types.UID("uid-" + name)},
	}
}

func withHostname(a corev1.EndpointAddress, host string) corev1.EndpointAddress {
	a.Hostname = host
	return a
}

func httpPort(number int32) []corev1.EndpointPort {
	return []corev1.EndpointPort{{Name: "http", Port: number, Protocol: corev1.ProtocolTCP}}
}

// fixture is a controller over a fake clientset whose informer caches
// hold the given objects.
type fixture struct {
	controller *Controller
	client     *fake.Clientset
	recorder   *record.FakeRecorder
}

func newFixture(t *testing.T, services []*corev1.Service, pods []*corev1.Pod, endpoints []*corev1.Endpoints) *fixture {
	t.Helper()
	var objects []runtimeObject
	for _, ep := range endpoints {
		objects = append(objects, ep)
	}
	client := fake.NewClientset(toRuntime(objects)...)
	factory := informers.NewSharedInformerFactory(client, 0)
	podInformer := factory.Core().V1().Pods()
	serviceInformer := factory.Core().V1().Services()
	endpointsInformer := factory.Core().V1().Endpoints()
	c := New(client, podInformer, serviceInformer, endpointsInformer)
	recorder := record.NewFakeRecorder(10)
	c.recorder = recorder
	for _, svc := range services {
		mustAdd(t, serviceInformer.Informer().GetIndexer(), svc)
	}
	for _, p := range pods {
		mustAdd(t, podInformer.Informer().GetIndexer(), p)
	}
	for _, ep := range endpoints {
		mustAdd(t, endpointsInformer.Informer().GetIndexer(), ep)
	}
	client.ClearActions()
	return &fixture{controller: c, client: client, recorder: recorder}
}

// written returns the Endpoints the sync created or updated, and the verb.
func (f *fixture) written(t *testing.T) (*corev1.Endpoints, string) {
	t.Helper()
	var out *corev1.Endpoints
	verb := ""
	for _, action := range f.client.Actions() {
		if a, ok := action.(clienttesting.CreateAction); ok && (a.GetVerb() == "create" || a.GetVerb() == "update") {
			out, verb = a.GetObject().(*corev1.Endpoints), a.GetVerb()
		}
	}
	return out, verb
}

func TestSyncSubsets(t *testing.T) {
	tests := []struct {
		name    string
		service *corev1.Service
		pods    []*corev1.Pod
		want    []corev1.EndpointSubset
	}{
		{
			name:    "ready pods are addresses",
			service: service("web"),
			pods:    []*corev1.Pod{pod("b", "10.0.0.2"), pod("a", "10.0.0.1")},
			want:    []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{address("a", "10.0.0.1"), address("b", "10.0.0.2")}, Ports: httpPort(8080)}},
		},
		{
			name:    "not ready pods are notReadyAddresses",
			service: service("web"),
			pods:    []*corev1.Pod{pod("a", "10.0.0.1"), pod("b", "10.0.0.2", notReady)},
			want: []corev1.EndpointSubset{{
				Addresses:         []corev1.EndpointAddress{address("a", "10.0.0.1")},
				NotReadyAddresses: []corev1.EndpointAddress{address("b", "10.0.0.2")},
				Ports:             httpPort(8080),
			}},
		},
		{
			name:    "publishNotReadyAddresses lists every pod as ready, terminating ones too",
			service: service("web", publishNotReady),
			pods:    []*corev1.Pod{pod("a", "10.0.0.1", notReady), pod("b", "10.0.0.2", terminating)},
			want:    []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{address("a", "10.0.0.1"), address("b", "10.0.0.2")}, Ports: httpPort(8080)}},
		},
		{
			name:    "terminating, finished and IP-less pods are left out",
			service: service("web"),
			pods: []*corev1.Pod{pod("a", "10.0.0.1"), pod("b", "10.0.0.2", terminating),
				pod("c", "10.0.0.3", succeeded), pod("d", "", noIP)},
			want: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{address("a", "10.0.0.1")}, Ports: httpPort(8080)}},
		},
		{
			name:    "pods the selector does not match are left out",
			service: service("web"),
			pods: []*corev1.Pod{pod("a", "10.0.0.1"), pod("b", "10.0.0.2", func(p *corev1.Pod) {
				p.Labels = map[string]string{"app": "db"}
			})},
			want: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{address("a", "10.0.0.1")}, Ports: httpPort(8080)}},
		},
		{
			name:    "named target ports resolve per pod; pods without the name are skipped",
			service: service("web", namedTarget),
			pods:    []*corev1.Pod{pod("a", "10.0.0.1", port("web", 8080)), pod("b", "10.0.0.2", port("web", 9090)), pod("c", "10.0.0.3", port("other", 7070))},
			want: []corev1.EndpointSubset{
				{Addresses: []corev1.EndpointAddress{address("a", "10.0.0.1")}, Ports: httpPort(8080)},
				{Addresses: []corev1.EndpointAddress{address("b", "10.0.0.2")}, Ports: httpPort(9090)},
			},
		},
		{
			name:    "hostname and subdomain naming the service set the hostname",
			service: service("db", headless),
			pods:    []*corev1.Pod{pod("a", "10.0.0.1", hostname("db-0", "db")), pod("b", "10.0.0.2", hostname("other-0", "other"))},
			want: []corev1.EndpointSubset{{
				Addresses: []corev1.EndpointAddress{withHostname(address("a", "10.0.0.1"), "db-0"), address("b", "10.0.0.2")},
				Ports:     httpPort(8080),
			}},
		},
		{
			name: "headless service without ports lists the pods alone",
			service: service("db", headless, func(svc *corev1.Service) {
				svc.Spec.Ports = nil
			}),
			pods: []*corev1.Pod{pod("a", "10.0.0.1")},
			want: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{address("a", "10.0.0.1")}}},
		},
		{
			name: "several ports share a subset",
			service: service("web", func(svc *corev1.Service) {
				svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: "metrics", Port: 9100, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(9100)})
			}),
			pods: []*corev1.Pod{pod("a", "10.0.0.1")},
			want: []corev1.EndpointSubset{{
				Addresses: []corev1.EndpointAddress{address("a", "10.0.0.1")},
				Ports:     []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}, {Name: "metrics", Port: 9100, Protocol: corev1.ProtocolTCP}},
			}},
		},
		{
			name:    "no pods: an Endpoints object with no subsets",
			service: service("web"),
			want:    []corev1.EndpointSubset{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, []*corev1.Service{tc.service}, tc.pods, nil)
			if err := f.controller.sync(context.Background(), "ns/"+tc.service.Name); err != nil {
				t.Fatalf("sync: %v", err)
			}
			got, verb := f.written(t)
			if verb != "create" {
				t.Fatalf("verb = %q, want create; actions %v", verb, f.client.Actions())
			}
			if diff := cmp.Diff(tc.want, got.Subsets); diff != "" {
				t.Errorf("subsets (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSyncMetadata(t *testing.T) {
	svc := service("web", func(svc *corev1.Service) { svc.Labels = map[string]string{"tier": "front"} })
	f := newFixture(t, []*corev1.Service{svc}, []*corev1.Pod{pod("a", "10.0.0.1")}, nil)
	if err := f.controller.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	got, _ := f.written(t)
	if diff := cmp.Diff(map[string]string{"tier": "front", LabelManagedBy: ControllerName}, got.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	// The first sync of a Service reports its creation.
	if got, want := got.Annotations[corev1.EndpointsLastChangeTriggerTime], created.UTC().Format(time.RFC3339Nano); got != want {
		t.Errorf("trigger time = %q, want %q", got, want)
	}

	f = newFixture(t, []*corev1.Service{service("db", headless)}, nil, nil)
	if err := f.controller.sync(context.Background(), "ns/db"); err != nil {
		t.Fatal(err)
	}
	got, _ = f.written(t)
	if _, ok := got.Labels[corev1.IsHeadlessService]; !ok {
		t.Errorf("labels = %v, want the %s label", got.Labels, corev1.IsHeadlessService)
	}
}

func TestSyncLeavesAlone(t *testing.T) {
	handMade := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "ext", Namespace: "ns", ResourceVersion: "3"},
		Subsets:    []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.168.1.1"}}}},
	}
	tests := []struct {
		name      string
		service   *corev1.Service
		endpoints []*corev1.Endpoints
	}{
		{name: "service without selector keeps its hand-made endpoints", service: service("ext", noSelector), endpoints: []*corev1.Endpoints{handMade}},
		{name: "service without selector gets none", service: service("ext", noSelector)},
		{name: "ExternalName service", service: service("ext", func(svc *corev1.Service) {
			svc.Spec.Type = corev1.ServiceTypeExternalName
			svc.Spec.ExternalName = "example.com"
		})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, []*corev1.Service{tc.service}, []*corev1.Pod{pod("a", "10.0.0.1")}, tc.endpoints)
			if err := f.controller.sync(context.Background(), "ns/ext"); err != nil {
				t.Fatal(err)
			}
			if actions := f.client.Actions(); len(actions) != 0 {
				t.Errorf("actions = %v, want none", actions)
			}
		})
	}
}

func TestSyncNoWriteWhenUpToDate(t *testing.T) {
	svc := service("web")
	pods := []*corev1.Pod{pod("a", "10.0.0.1"), pod("b", "10.0.0.2", notReady)}
	// What the controller wrote before, with the pod resourceVersion an
	// older writer may have recorded: it does not count.
	first := newFixture(t, []*corev1.Service{svc}, pods, nil)
	if err := first.controller.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	existing, _ := first.written(t)
	existing.ResourceVersion = "5"
	existing.Subsets[0].Addresses[0].TargetRef.ResourceVersion = "1"

	f := newFixture(t, []*corev1.Service{svc}, pods, []*corev1.Endpoints{existing})
	if err := f.controller.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	if actions := f.client.Actions(); len(actions) != 0 {
		t.Errorf("actions = %v, want none", actions)
	}

	// A pod turning ready is an update.
	readyPods := []*corev1.Pod{pod("a", "10.0.0.1"), pod("b", "10.0.0.2")}
	f = newFixture(t, []*corev1.Service{svc}, readyPods, []*corev1.Endpoints{existing})
	if err := f.controller.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	got, verb := f.written(t)
	if verb != "update" {
		t.Fatalf("verb = %q, want update", verb)
	}
	want := []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{address("a", "10.0.0.1"), address("b", "10.0.0.2")}, Ports: httpPort(8080)}}
	if diff := cmp.Diff(want, got.Subsets); diff != "" {
		t.Errorf("subsets (-want +got):\n%s", diff)
	}
}

func TestSyncDeletedService(t *testing.T) {
	existing := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"}}
	f := newFixture(t, nil, nil, []*corev1.Endpoints{existing})
	if err := f.controller.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	actions := f.client.Actions()
	if len(actions) != 1 || !actions[0].Matches("delete", "endpoints") {
		t.Fatalf("actions = %v, want one delete of endpoints", actions)
	}
	if name := actions[0].(clienttesting.DeleteAction).GetName(); name != "web" {
		t.Errorf("deleted %q, want web", name)
	}
}

func TestSyncFailureRecordsEvent(t *testing.T) {
	f := newFixture(t, []*corev1.Service{service("web")}, []*corev1.Pod{pod("a", "10.0.0.1")}, nil)
	f.client.PrependReactor("create", "endpoints", func(clienttesting.Action) (bool, runtimeObject, error) {
		return true, nil, fmt.Errorf("quota exceeded")
	})
	if err := f.controller.sync(context.Background(), "ns/web"); err == nil {
		t.Fatal("sync succeeded, want the create error")
	}
	select {
	case event := <-f.recorder.Events:
		want := "Warning FailedToCreateEndpoint Failed to create endpoint for service ns/web: quota exceeded"
		if event != want {
			t.Errorf("event = %q, want %q", event, want)
		}
	default:
		t.Error("no event recorded")
	}
}

func TestPodEventsQueueServices(t *testing.T) {
	other := service("other", func(svc *corev1.Service) { svc.Spec.Selector = map[string]string{"app": "db"} })
	tests := []struct {
		name     string
		old, cur *corev1.Pod
		want     []string
	}{
		{
			name: "readiness change queues the services selecting the pod",
			old:  pod("a", "10.0.0.1", notReady), cur: withVersion(pod("a", "10.0.0.1"), "8"),
			want: []string{"ns/web"},
		},
		{
			name: "resync queues nothing",
			old:  pod("a", "10.0.0.1"), cur: pod("a", "10.0.0.1"),
		},
		{
			name: "an unrelated change queues nothing",
			old:  pod("a", "10.0.0.1"), cur: withVersion(pod("a", "10.0.0.1", func(p *corev1.Pod) { p.Annotations = map[string]string{"x": "y"} }), "8"),
		},
		{
			name: "a label move queues the services left and joined",
			old:  pod("a", "10.0.0.1"),
			cur:  withVersion(pod("a", "10.0.0.1", func(p *corev1.Pod) { p.Labels = map[string]string{"app": "db"} }), "8"),
			want: []string{"ns/other", "ns/web"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, []*corev1.Service{service("web"), other}, nil, nil)
			f.controller.podUpdated(tc.old, tc.cur)
			var got []string
			for f.controller.queue.Len() > 0 {
				key, _ := f.controller.queue.Get()
				got = append(got, key)
				f.controller.queue.Done(key)
			}
			if diff := cmp.Diff(tc.want, sorted(got)); diff != "" {
				t.Errorf("queued (-want +got):\n%s", diff)
			}
		})
	}
}

func withVersion(p *corev1.Pod, rv string) *corev1.Pod {
	p.ResourceVersion = rv
	return p
}

func TestQueueLeftoversOnlyOwnEndpoints(t *testing.T) {
	own := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "gone", Namespace: "ns", Labels: map[string]string{LabelManagedBy: ControllerName}}}
	handMade := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "external", Namespace: "ns"}}
	f := newFixture(t, nil, nil, []*corev1.Endpoints{own, handMade})
	f.controller.queueLeftovers(context.Background())
	var got []string
	for f.controller.queue.Len() > 0 {
		key, _ := f.controller.queue.Get()
		got = append(got, key)
		f.controller.queue.Done(key)
	}
	if diff := cmp.Diff([]string{"ns/gone"}, got); diff != "" {
		t.Errorf("queued (-want +got):\n%s", diff)
	}
}
