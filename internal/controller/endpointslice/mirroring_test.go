package endpointslice

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

type mirrorFixture struct {
	controller *MirroringController
	client     *fake.Clientset
	recorder   *record.FakeRecorder
}

func newMirrorFixture(t *testing.T, services []*corev1.Service, endpoints []*corev1.Endpoints, existing []*discoveryv1.EndpointSlice) *mirrorFixture {
	t.Helper()
	var objects []runtime.Object
	for _, s := range existing {
		objects = append(objects, s)
	}
	client := fake.NewClientset(objects...)
	nameGeneratedSlices(client)
	factory := informers.NewSharedInformerFactory(client, 0)
	epInformer, svcInformer := factory.Core().V1().Endpoints(), factory.Core().V1().Services()
	sliceInformer := factory.Discovery().V1().EndpointSlices()
	c := NewMirroring(client, epInformer, svcInformer, sliceInformer)
	recorder := record.NewFakeRecorder(10)
	c.recorder = recorder
	for _, svc := range services {
		mustAdd(t, svcInformer.Informer().GetIndexer(), svc)
	}
	for _, ep := range endpoints {
		mustAdd(t, epInformer.Informer().GetIndexer(), ep)
	}
	for _, s := range existing {
		mustAdd(t, sliceInformer.Informer().GetIndexer(), s)
	}
	client.ClearActions()
	return &mirrorFixture{controller: c, client: client, recorder: recorder}
}

func selectorless(svc *corev1.Service) { svc.Spec.Selector = nil }

func handMade(opts ...func(*corev1.Endpoints)) *corev1.Endpoints {
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{
			Name: "db", Namespace: "ns", UID: "ep-db",
			Labels: map[string]string{"team": "data"},
			Annotations: map[string]string{
				"note":                             "external",
				corev1.LastAppliedConfigAnnotation: "{}",
			},
		},
		Subsets: []corev1.EndpointSubset{{
			Addresses:         []corev1.EndpointAddress{{IP: "192.168.1.10", Hostname: "primary"}},
			NotReadyAddresses: []corev1.EndpointAddress{{IP: "192.168.1.11", NodeName: ptr.To("node-b")}},
			Ports:             []corev1.EndpointPort{{Name: "pg", Port: 5432, Protocol: corev1.ProtocolTCP}},
		}},
	}
	for _, opt := range opts {
		opt(ep)
	}
	return ep
}

func pgPorts() []discoveryv1.EndpointPort {
	return []discoveryv1.EndpointPort{{Name: ptr.To("pg"), Port: ptr.To(int32(5432)), Protocol: ptr.To(corev1.ProtocolTCP)}}
}

func TestMirrorCreatesSlice(t *testing.T) {
	f := newMirrorFixture(t, []*corev1.Service{service("db", selectorless)}, []*corev1.Endpoints{handMade()}, nil)
	if err := f.controller.sync(context.Background(), "ns/db"); err != nil {
		t.Fatal(err)
	}
	w := writesOf(f.client)
	if len(w.created) != 1 || len(w.updated)+len(w.deleted)+len(w.other) != 0 {
		t.Fatalf("writes: %v, want one create", w)
	}
	got := w.created[0]
	want := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: got.Name, UID: got.UID, GenerateName: "db-", Namespace: "ns",
			Labels: map[string]string{
				"team":                       "data",
				discoveryv1.LabelServiceName: "db",
				discoveryv1.LabelManagedBy:   MirroringControllerName,
			},
			Annotations: map[string]string{"note": "external"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Endpoints", Name: "db", UID: "ep-db",
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       pgPorts(),
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"192.168.1.10"}, Hostname: ptr.To("primary"), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}},
			{Addresses: []string{"192.168.1.11"}, NodeName: ptr.To("node-b"), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mirrored slice (-want +got):\n%s", diff)
	}
}

func TestMirrorDeletes(t *testing.T) {
	mirrored := func() *discoveryv1.EndpointSlice {
		s := newMirroredSlice(handMade(), &mirrorGroup{addressType: discoveryv1.AddressTypeIPv4, ports: pgPorts()})
		s.Name, s.GenerateName, s.UID = "db-abc", "", "slice-db-abc"
		return s
	}
	tests := []struct {
		name      string
		services  []*corev1.Service
		endpoints []*corev1.Endpoints
	}{
		{
			name:      "skip-mirror label",
			services:  []*corev1.Service{service("db", selectorless)},
			endpoints: []*corev1.Endpoints{handMade(func(ep *corev1.Endpoints) { ep.Labels[discoveryv1.LabelSkipMirror] = "true" })},
		},
		{
			name:      "the service has a selector",
			services:  []*corev1.Service{service("db")},
			endpoints: []*corev1.Endpoints{handMade()},
		},
		{
			name:      "no service",
			endpoints: []*corev1.Endpoints{handMade()},
		},
		{
			name:     "no endpoints",
			services: []*corev1.Service{service("db", selectorless)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newMirrorFixture(t, tc.services, tc.endpoints, []*discoveryv1.EndpointSlice{mirrored()})
			if err := f.controller.sync(context.Background(), "ns/db"); err != nil {
				t.Fatal(err)
			}
			w := writesOf(f.client)
			if len(w.created)+len(w.updated) != 0 || len(w.deleted) != 1 || w.deleted[0] != "db-abc" {
				t.Errorf("writes: %v, want the mirrored slice deleted and nothing else", w)
			}
		})
	}
}

func TestMirrorUpToDate(t *testing.T) {
	f := newMirrorFixture(t, []*corev1.Service{service("db", selectorless)}, []*corev1.Endpoints{handMade()}, nil)
	if err := f.controller.sync(context.Background(), "ns/db"); err != nil {
		t.Fatal(err)
	}
	slice := writesOf(f.client).created[0].DeepCopy()
	slice.Name, slice.GenerateName, slice.UID = "db-abc", "", "slice-db-abc"

	f = newMirrorFixture(t, []*corev1.Service{service("db", selectorless)}, []*corev1.Endpoints{handMade()}, []*discoveryv1.EndpointSlice{slice})
	if err := f.controller.sync(context.Background(), "ns/db"); err != nil {
		t.Fatal(err)
	}
	if actions := f.client.Actions(); len(actions) != 0 {
		t.Errorf("actions = %v, want none", actions)
	}

	changed := handMade(func(ep *corev1.Endpoints) { ep.Subsets[0].Addresses[0].IP = "192.168.1.20" })
	f = newMirrorFixture(t, []*corev1.Service{service("db", selectorless)}, []*corev1.Endpoints{changed}, []*discoveryv1.EndpointSlice{slice})
	if err := f.controller.sync(context.Background(), "ns/db"); err != nil {
		t.Fatal(err)
	}
	w := writesOf(f.client)
	if len(w.updated) != 1 || w.updated[0].Name != "db-abc" || len(w.created)+len(w.deleted) != 0 {
		t.Fatalf("writes: %v, want db-abc updated in place", w)
	}
	var addresses []string
	for _, ep := range w.updated[0].Endpoints {
		addresses = append(addresses, ep.Addresses...)
	}
	if diff := cmp.Diff([]string{"192.168.1.11", "192.168.1.20"}, addresses); diff != "" {
		t.Errorf("addresses (-want +got):\n%s", diff)
	}
}

func TestMirrorAddressTypesAndInvalidIPs(t *testing.T) {
	ep := handMade(func(ep *corev1.Endpoints) {
		ep.Subsets[0].Addresses = append(ep.Subsets[0].Addresses,
			corev1.EndpointAddress{IP: "fd00::10"}, corev1.EndpointAddress{IP: "not-an-ip"})
	})
	f := newMirrorFixture(t, []*corev1.Service{service("db", selectorless)}, []*corev1.Endpoints{ep}, nil)
	if err := f.controller.sync(context.Background(), "ns/db"); err != nil {
		t.Fatal(err)
	}
	got := map[discoveryv1.AddressType]int{}
	for _, s := range writesOf(f.client).created {
		got[s.AddressType] = len(s.Endpoints)
	}
	want := map[discoveryv1.AddressType]int{discoveryv1.AddressTypeIPv4: 2, discoveryv1.AddressTypeIPv6: 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("endpoints per address type (-want +got):\n%s", diff)
	}
	select {
	case event := <-f.recorder.Events:
		if want := "Warning InvalidIPAddress Skipped 1 invalid IP addresses when mirroring to EndpointSlices"; event != want {
			t.Errorf("event = %q, want %q", event, want)
		}
	default:
		t.Error("no event for the invalid address")
	}
}

func TestMirrorTooManyAddresses(t *testing.T) {
	ep := handMade(func(ep *corev1.Endpoints) {
		ep.Subsets[0].NotReadyAddresses = nil
		ep.Subsets[0].Addresses = []corev1.EndpointAddress{{IP: "10.0.0.1"}, {IP: "10.0.0.2"}, {IP: "10.0.0.3"}}
	})
	f := newMirrorFixture(t, []*corev1.Service{service("db", selectorless)}, []*corev1.Endpoints{ep}, nil)
	f.controller.maxEndpointsPerSubset = 2
	if err := f.controller.sync(context.Background(), "ns/db"); err != nil {
		t.Fatal(err)
	}
	w := writesOf(f.client)
	if len(w.created) != 1 || len(w.created[0].Endpoints) != 2 {
		t.Fatalf("writes: %v, want one slice of 2 endpoints", w)
	}
	select {
	case event := <-f.recorder.Events:
		want := "Warning TooManyAddressesToMirror A max of 2 addresses can be mirrored to EndpointSlices per Endpoints subset. 1 addresses were skipped"
		if event != want {
			t.Errorf("event = %q, want %q", event, want)
		}
	default:
		t.Error("no event for the skipped address")
	}
}
