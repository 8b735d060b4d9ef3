package endpointslice

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
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

type podOption func(*corev1.Pod)

func pod(name, ip string, opts ...podOption) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}, ResourceVersion: "7"},
		Spec:       corev1.PodSpec{NodeName: "node-a"},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			PodIP:      ip,
			PodIPs:     []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: created}},
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

func onNode(name string) podOption { return func(p *corev1.Pod) { p.Spec.NodeName = name } }

func containerPort(name string, number int32) podOption {
	return func(p *corev1.Pod) {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{
			Name: "c-" + name, Ports: []corev1.ContainerPort{{Name: name, ContainerPort: number, Protocol: corev1.ProtocolTCP}},
		})
	}
}

func node(name, zone string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if zone != "" {
		n.Labels = map[string]string{corev1.LabelTopologyZone: zone}
	}
	return n
}

// wantEndpoint is the endpoint of pod name (on node-a in zone-a) with
// the given conditions.
func wantEndpoint(name, ip string, ready, serving, terminating bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{
		Addresses:  []string{ip},
		Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready), Serving: ptr.To(serving), Terminating: ptr.To(terminating)},
		NodeName:   ptr.To("node-a"),
		Zone:       ptr.To("zone-a"),
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: name, UID: types.UID("uid-" + name)},
	}
}

func httpPorts(number int32) []discoveryv1.EndpointPort {
	return []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(number), Protocol: ptr.To(corev1.ProtocolTCP)}}
}

// nameGeneratedSlices makes the fake clientset honour generateName on
// endpoint slice creates, as the API server does.
func nameGeneratedSlices(client *fake.Clientset) {
	n := 0
	client.PrependReactor("create", "endpointslices", func(action clienttesting.Action) (bool, runtime.Object, error) {
		slice := action.(clienttesting.CreateAction).GetObject().(*discoveryv1.EndpointSlice)
		if slice.Name == "" && slice.GenerateName != "" {
			n++
			slice.Name = fmt.Sprintf("%s%05d", slice.GenerateName, n)
			slice.UID = types.UID("slice-uid-" + slice.Name)
		}
		return false, nil, nil
	})
}

// sliceWrites sorts a fake clientset's actions on endpoint slices.
type sliceWrites struct {
	created, updated []*discoveryv1.EndpointSlice
	deleted          []string
	other            []string
}

func writesOf(client *fake.Clientset) sliceWrites {
	var w sliceWrites
	for _, action := range client.Actions() {
		switch {
		case action.Matches("create", "endpointslices"):
			w.created = append(w.created, action.(clienttesting.CreateAction).GetObject().(*discoveryv1.EndpointSlice))
		case action.Matches("update", "endpointslices"):
			w.updated = append(w.updated, action.(clienttesting.UpdateAction).GetObject().(*discoveryv1.EndpointSlice))
		case action.Matches("delete", "endpointslices"):
			w.deleted = append(w.deleted, action.(clienttesting.DeleteAction).GetName())
		default:
			w.other = append(w.other, action.GetVerb()+" "+action.GetResource().Resource)
		}
	}
	return w
}

func (w sliceWrites) String() string {
	names := func(list []*discoveryv1.EndpointSlice) string {
		var out []string
		for _, s := range list {
			out = append(out, fmt.Sprintf("%s(%d endpoints)", s.Name+s.GenerateName, len(s.Endpoints)))
		}
		return strings.Join(out, ",")
	}
	return fmt.Sprintf("created [%s] updated [%s] deleted %v other %v", names(w.created), names(w.updated), w.deleted, w.other)
}

func mustAdd(t testing.TB, indexer cache.Indexer, obj interface{}) {
	t.Helper()
	if err := indexer.Add(obj); err != nil {
		t.Fatalf("adding to the cache: %v", err)
	}
}

func endpointNames(slice *discoveryv1.EndpointSlice) []string {
	var out []string
	for _, ep := range slice.Endpoints {
		out = append(out, ep.TargetRef.Name)
	}
	slices.Sort(out)
	return out
}
