package endpointslice

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

type fixture struct {
	controller *Controller
	client     *fake.Clientset
	recorder   *record.FakeRecorder
}

func newFixture(t testing.TB, services []*corev1.Service, pods []*corev1.Pod, nodes []*corev1.Node, existing []*discoveryv1.EndpointSlice) *fixture {
	t.Helper()
	var objects []runtime.Object
	for _, s := range existing {
		objects = append(objects, s)
	}
	client := fake.NewClientset(objects...)
	nameGeneratedSlices(client)
	factory := informers.NewSharedInformerFactory(client, 0)
	podInformer, serviceInformer := factory.Core().V1().Pods(), factory.Core().V1().Services()
	nodeInformer, sliceInformer := factory.Core().V1().Nodes(), factory.Discovery().V1().EndpointSlices()
	c := New(client, podInformer, serviceInformer, nodeInformer, sliceInformer)
	recorder := record.NewFakeRecorder(10)
	c.recorder = recorder
	for _, svc := range services {
		mustAdd(t, serviceInformer.Informer().GetIndexer(), svc)
	}
	for _, p := range pods {
		mustAdd(t, podInformer.Informer().GetIndexer(), p)
	}
	for _, n := range nodes {
		mustAdd(t, nodeInformer.Informer().GetIndexer(), n)
	}
	for _, s := range existing {
		mustAdd(t, sliceInformer.Informer().GetIndexer(), s)
	}
	client.ClearActions()
	return &fixture{controller: c, client: client, recorder: recorder}
}

var zoneA = []*corev1.Node{node("node-a", "zone-a")}

func TestSyncCreatesSlice(t *testing.T) {
	svc := service("web", func(svc *corev1.Service) { svc.Labels = map[string]string{"tier": "front"} })
	pods := []*corev1.Pod{
		pod("a", "10.0.0.1"),
		pod("b", "10.0.0.2", notReady),
		pod("c", "10.0.0.3", terminating),
		pod("d", "10.0.0.4", func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }),
	}
	f := newFixture(t, []*corev1.Service{svc}, pods, zoneA, nil)
	if err := f.controller.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	w := writesOf(f.client)
	if len(w.created) != 1 || len(w.updated)+len(w.deleted)+len(w.other) != 0 {
		t.Fatalf("writes: %v, want one create", w)
	}
	got := w.created[0]
	want := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: got.Name, GenerateName: "web-", Namespace: "ns", UID: got.UID,
			Labels: map[string]string{
				"tier":                       "front",
				discoveryv1.LabelServiceName: "web",
				discoveryv1.LabelManagedBy:   ControllerName,
			},
			Annotations: map[string]string{corev1.EndpointsLastChangeTriggerTime: "2026-01-02T03:04:05Z"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Service", Name: "web", UID: "svc-web",
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       httpPorts(8080),
		Endpoints: []discoveryv1.Endpoint{
			wantEndpoint("a", "10.0.0.1", true, true, false),
			wantEndpoint("b", "10.0.0.2", false, false, false),
			wantEndpoint("c", "10.0.0.3", false, true, true),
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("slice (-want +got):\n%s", diff)
	}
}

func TestSyncEndpointDetails(t *testing.T) {
	tests := []struct {
		name    string
		service *corev1.Service
		pod     *corev1.Pod
		nodes   []*corev1.Node
		check   func(t *testing.T, slice *discoveryv1.EndpointSlice)
	}{
		{
			name:    "publishNotReadyAddresses makes every endpoint ready",
			service: service("web", func(svc *corev1.Service) { svc.Spec.PublishNotReadyAddresses = true }),
			pod:     pod("a", "10.0.0.1", notReady, terminating),
			nodes:   zoneA,
			check: func(t *testing.T, slice *discoveryv1.EndpointSlice) {
				if diff := cmp.Diff([]discoveryv1.Endpoint{wantEndpoint("a", "10.0.0.1", true, false, true)}, slice.Endpoints); diff != "" {
					t.Errorf("endpoints (-want +got):\n%s", diff)
				}
			},
		},
		{
			name:    "no zone label, no zone",
			service: service("web"),
			pod:     pod("a", "10.0.0.1"),
			nodes:   []*corev1.Node{node("node-a", "")},
			check: func(t *testing.T, slice *discoveryv1.EndpointSlice) {
				if z := slice.Endpoints[0].Zone; z != nil {
					t.Errorf("zone = %q, want none", *z)
				}
			},
		},
		{
			name:    "hostname for a pod whose subdomain names the headless service",
			service: service("db", func(svc *corev1.Service) { svc.Spec.ClusterIP = corev1.ClusterIPNone }),
			pod:     pod("a", "10.0.0.1", func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "db-0", "db" }),
			nodes:   zoneA,
			check: func(t *testing.T, slice *discoveryv1.EndpointSlice) {
				if h := slice.Endpoints[0].Hostname; h == nil || *h != "db-0" {
					t.Errorf("hostname = %v, want db-0", h)
				}
				if _, ok := slice.Labels[corev1.IsHeadlessService]; !ok {
					t.Errorf("labels = %v, want the headless label", slice.Labels)
				}
			},
		},
		{
			name: "named target port resolved on the pod",
			service: service("web", func(svc *corev1.Service) {
				svc.Spec.Ports[0].TargetPort = intstr.FromString("http")
			}),
			pod:   pod("a", "10.0.0.1", containerPort("http", 9376)),
			nodes: zoneA,
			check: func(t *testing.T, slice *discoveryv1.EndpointSlice) {
				if diff := cmp.Diff(httpPorts(9376), slice.Ports); diff != "" {
					t.Errorf("ports (-want +got):\n%s", diff)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, []*corev1.Service{tc.service}, []*corev1.Pod{tc.pod}, tc.nodes, nil)
			if err := f.controller.sync(context.Background(), "ns/"+tc.service.Name); err != nil {
				t.Fatal(err)
			}
			w := writesOf(f.client)
			if len(w.created) != 1 {
				t.Fatalf("writes: %v, want one create", w)
			}
			tc.check(t, w.created[0])
		})
	}
}

func TestSyncPacking(t *testing.T) {
	svc := service("web")
	pods := func(names ...string) []*corev1.Pod {
		var out []*corev1.Pod
		for i, n := range names {
			out = append(out, pod(n, fmt.Sprintf("10.0.0.%d", i+1)))
		}
		return out
	}
	existingSlice := func(name string, endpoints ...string) *discoveryv1.EndpointSlice {
		s := newServiceSlice(svc, httpPorts(8080), discoveryv1.AddressTypeIPv4)
		s.Name, s.GenerateName, s.UID, s.ResourceVersion = name, "", types.UID("uid-"+name), "3"
		for _, n := range endpoints {
			p := pod(n, "10.0.1.1")
			for _, candidate := range pods("a", "b", "c", "d", "e", "f", "g") {
				if candidate.Name == n {
					p = candidate
				}
			}
			s.Endpoints = append(s.Endpoints, podEndpoint(p, zoneA[0], svc, discoveryv1.AddressTypeIPv4))
		}
		return s
	}
	tests := []struct {
		name     string
		pods     []*corev1.Pod
		existing []*discoveryv1.EndpointSlice
		// want lists each written slice as "verb name: endpoints".
		want []string
	}{
		{
			name: "at most max endpoints per slice",
			pods: pods("a", "b", "c", "d", "e", "f", "g"),
			want: []string{"create web-: a,b,c", "create web-: d,e,f", "create web-: g"},
		},
		{
			name:     "an up-to-date slice is not written",
			pods:     pods("a", "b"),
			existing: []*discoveryv1.EndpointSlice{existingSlice("web-x", "a", "b")},
		},
		{
			name:     "a changed slice is updated in place and takes new endpoints",
			pods:     pods("a", "c"),
			existing: []*discoveryv1.EndpointSlice{existingSlice("web-x", "a", "b")},
			want:     []string{"update web-x: a,c"},
		},
		{
			name:     "new endpoints fill the unchanged slice they fit best",
			pods:     pods("a", "b", "c", "d", "e"),
			existing: []*discoveryv1.EndpointSlice{existingSlice("web-x", "a", "b", "c"), existingSlice("web-y", "d")},
			want:     []string{"update web-y: d,e"},
		},
		{
			name:     "an emptied slice becomes the placeholder",
			existing: []*discoveryv1.EndpointSlice{existingSlice("web-x", "a", "b")},
			want:     []string{"update web-x: "},
		},
		{
			name:     "the placeholder stays as it is",
			existing: []*discoveryv1.EndpointSlice{func() *discoveryv1.EndpointSlice { s := existingSlice("web-x"); s.Ports = nil; return s }()},
		},
		{
			name: "a slice of an older service of the same name is replaced",
			pods: pods("a"),
			existing: []*discoveryv1.EndpointSlice{func() *discoveryv1.EndpointSlice {
				s := existingSlice("web-old", "a")
				s.OwnerReferences[0].UID = "old"
				return s
			}()},
			want: []string{"create web-: a", "delete web-old"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, []*corev1.Service{svc}, tc.pods, zoneA, tc.existing)
			f.controller.maxEndpointsPerSlice = 3
			if err := f.controller.sync(context.Background(), "ns/web"); err != nil {
				t.Fatal(err)
			}
			w := writesOf(f.client)
			var got []string
			for _, s := range w.created {
				got = append(got, "create "+s.GenerateName+": "+strings.Join(endpointNames(s), ","))
			}
			for _, s := range w.updated {
				got = append(got, "update "+s.Name+": "+strings.Join(endpointNames(s), ","))
			}
			for _, name := range w.deleted {
				got = append(got, "delete "+name)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("writes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSyncPlaceholderForNoPods(t *testing.T) {
	f := newFixture(t, []*corev1.Service{service("web")}, nil, zoneA, nil)
	if err := f.controller.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	w := writesOf(f.client)
	if len(w.created) != 1 || len(w.created[0].Endpoints) != 0 || len(w.created[0].Ports) != 0 {
		t.Fatalf("writes: %v, want one empty placeholder slice", w)
	}
}

func TestSyncPortGroups(t *testing.T) {
	svc := service("web", func(svc *corev1.Service) { svc.Spec.Ports[0].TargetPort = intstr.FromString("http") })
	pods := []*corev1.Pod{
		pod("a", "10.0.0.1", containerPort("http", 8080)),
		pod("b", "10.0.0.2", containerPort("http", 9090)),
		pod("c", "10.0.0.3", containerPort("other", 7070)),
	}
	f := newFixture(t, []*corev1.Service{svc}, pods, zoneA, nil)
	if err := f.controller.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, s := range writesOf(f.client).created {
		got[portsKey(s.Ports)] = endpointNames(s)
	}
	want := map[string][]string{
		portsKey(httpPorts(8080)):              {"a"},
		portsKey(httpPorts(9090)):              {"b"},
		portsKey([]discoveryv1.EndpointPort{}): {"c"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("endpoints by ports (-want +got):\n%s", diff)
	}
}

func TestSyncPodOnUnknownNode(t *testing.T) {
	pods := []*corev1.Pod{pod("a", "10.0.0.1"), pod("b", "10.0.0.2", onNode("lost"))}
	f := newFixture(t, []*corev1.Service{service("web")}, pods, zoneA, nil)
	err := f.controller.sync(context.Background(), "ns/web")
	if err == nil || !strings.Contains(err.Error(), `node "lost" not found`) {
		t.Fatalf("sync error = %v, want the missing node reported", err)
	}
	w := writesOf(f.client)
	if len(w.created) != 1 || len(w.created[0].Endpoints) != 1 || w.created[0].Endpoints[0].TargetRef.Name != "a" {
		t.Fatalf("writes: %v, want a slice with pod a only", w)
	}
	select {
	case event := <-f.recorder.Events:
		if !strings.HasPrefix(event, "Warning FailedToUpdateEndpointSlices Error updating Endpoint Slices for Service ns/web:") {
			t.Errorf("event = %q, want FailedToUpdateEndpointSlices", event)
		}
	default:
		t.Error("no event recorded")
	}
}

func TestSyncLeavesAlone(t *testing.T) {
	tests := []struct {
		name string
		svc  *corev1.Service
	}{
		{name: "service without selector", svc: service("web", func(svc *corev1.Service) { svc.Spec.Selector = nil })},
		{name: "ExternalName service", svc: service("web", func(svc *corev1.Service) { svc.Spec.Type = corev1.ServiceTypeExternalName })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, []*corev1.Service{tc.svc}, []*corev1.Pod{pod("a", "10.0.0.1")}, zoneA, nil)
			if err := f.controller.sync(context.Background(), "ns/web"); err != nil {
				t.Fatal(err)
			}
			if actions := f.client.Actions(); len(actions) != 0 {
				t.Errorf("actions = %v, want none", actions)
			}
		})
	}
	// A deleted Service's slices are the garbage collector's.
	f := newFixture(t, nil, nil, zoneA, nil)
	if err := f.controller.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	if actions := f.client.Actions(); len(actions) != 0 {
		t.Errorf("actions for a deleted service = %v, want none", actions)
	}
}

func TestSyncStaleCache(t *testing.T) {
	svc := service("web")
	f := newFixture(t, []*corev1.Service{svc}, []*corev1.Pod{pod("a", "10.0.0.1")}, zoneA, nil)
	if err := f.controller.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	// The cache has not seen the slice just created: a second sync must
	// not create another.
	f.client.ClearActions()
	err := f.controller.sync(context.Background(), "ns/web")
	if !errors.Is(err, errStaleCache) {
		t.Fatalf("second sync error = %v, want errStaleCache", err)
	}
	if actions := f.client.Actions(); len(actions) != 0 {
		t.Errorf("actions = %v, want none", actions)
	}
}
