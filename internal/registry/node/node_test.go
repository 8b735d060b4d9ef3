package node

import (
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func newNode(mutate ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", ResourceVersion: "1"},
		Status: corev1.NodeStatus{
			Capacity:  corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourcePods: resource.MustParse("110")},
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.1.10"}},
		},
	}
	for _, m := range mutate {
		m(n)
	}
	strategy{}.Default(n)
	return n
}

func errorKeys(errs field.ErrorList) []string {
	keys := []string{}
	for _, e := range errs {
		keys = append(keys, string(e.Type)+" "+e.Field)
	}
	sort.Strings(keys)
	return keys
}

func TestDefaultAllocatable(t *testing.T) {
	n := newNode()
	if d := cmp.Diff(n.Status.Capacity, n.Status.Allocatable); d != "" {
		t.Errorf("allocatable differs from capacity (-capacity +allocatable):\n%s", d)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.Node)
		want   []string
	}{
		{name: "valid", mutate: func(*corev1.Node) {}},
		{
			name: "taint without effect",
			mutate: func(n *corev1.Node) {
				n.Spec.Taints = []corev1.Taint{{Key: "gpu"}}
			},
			want: []string{"FieldValueRequired metadata.taints[0].effect"},
		},
		{
			name: "duplicate taint",
			mutate: func(n *corev1.Node) {
				n.Spec.Taints = []corev1.Taint{{Key: "gpu", Effect: corev1.TaintEffectNoSchedule}, {Key: "gpu", Value: "x", Effect: corev1.TaintEffectNoSchedule}}
			},
			want: []string{"FieldValueDuplicate metadata.taints[1]"},
		},
		{
			name:   "fractional pods",
			mutate: func(n *corev1.Node) { n.Status.Capacity[corev1.ResourcePods] = resource.MustParse("1500m") },
			want:   []string{"FieldValueInvalid status.allocatable.pods", "FieldValueInvalid status.capacity.pods"},
		},
		{
			name:   "two IPv4 pod CIDRs",
			mutate: func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.42.0.0/24", "10.42.1.0/24"} },
			want:   []string{"FieldValueInvalid spec.podCIDRs"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == nil {
				tt.want = []string{}
			}
			if d := cmp.Diff(tt.want, errorKeys(strategy{}.Validate(newNode(tt.mutate)))); d != "" {
				t.Errorf("errors (-want +got):\n%s", d)
			}
		})
	}
}

func TestUpdate(t *testing.T) {
	tests := []struct {
		name   string
		old    func(*corev1.Node)
		mutate func(*corev1.Node)
		want   []string
	}{
		{name: "cordon", mutate: func(n *corev1.Node) { n.Spec.Unschedulable = true }},
		{name: "assign pod CIDR", mutate: func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.42.0.0/24"} }},
		{
			name:   "change pod CIDR",
			old:    func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.42.0.0/24"} },
			mutate: func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.42.1.0/24"} },
			want:   []string{"FieldValueForbidden spec.podCIDRs"},
		},
		{
			name:   "change provider ID",
			old:    func(n *corev1.Node) { n.Spec.ProviderID = "navarch://n1" },
			mutate: func(n *corev1.Node) { n.Spec.ProviderID = "navarch://n2" },
			want:   []string{"FieldValueForbidden spec.providerID"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var muts []func(*corev1.Node)
			if tt.old != nil {
				muts = append(muts, tt.old)
			}
			old := newNode(muts...)
			n := old.DeepCopy()
			tt.mutate(n)
			n.Status = corev1.NodeStatus{}
			strategy{}.PrepareForUpdate(n, old)
			if n.Status.Capacity == nil {
				t.Errorf("status not kept from old")
			}
			if tt.want == nil {
				tt.want = []string{}
			}
			if d := cmp.Diff(tt.want, errorKeys(strategy{}.ValidateUpdate(n, old))); d != "" {
				t.Errorf("errors (-want +got):\n%s", d)
			}
		})
	}
}

func TestStatusUpdateKeepsSpec(t *testing.T) {
	old := newNode()
	n := old.DeepCopy()
	n.Spec.Unschedulable = true
	n.Status.Addresses = append(n.Status.Addresses, n.Status.Addresses[0])
	s := statusStrategy{}
	s.PrepareForStatusUpdate(n, old)
	if n.Spec.Unschedulable {
		t.Errorf("unschedulable changed through status")
	}
	if d := cmp.Diff([]string{"FieldValueDuplicate status.addresses[1]"}, errorKeys(s.ValidateStatusUpdate(n, old))); d != "" {
		t.Errorf("errors (-want +got):\n%s", d)
	}
}

func TestTable(t *testing.T) {
	created := metav1.NewTime(time.Now().Add(-5 * 24 * time.Hour))
	tests := []struct {
		name string
		node corev1.Node
		want []interface{}
	}{
		{
			name: "ready control plane",
			node: corev1.Node{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/master": ""}},
				Status: corev1.NodeStatus{
					Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
					Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.1.10"}},
					NodeInfo:   corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", OSImage: "Debian GNU/Linux 13", KernelVersion: "6.12.0", ContainerRuntimeVersion: "containerd://2.1.0"},
				},
			},
			want: []interface{}{"n1", "Ready", "control-plane,master", "5d", "v1.37.2", "192.168.1.10", "<none>", "Debian GNU/Linux 13", "6.12.0", "containerd://2.1.0"},
		},
		{
			name: "cordoned and not ready",
			node: corev1.Node{
				Spec:   corev1.NodeSpec{Unschedulable: true},
				Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}}},
			},
			want: []interface{}{"n1", "NotReady,SchedulingDisabled", "<none>", "5d", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"},
		},
		{
			name: "no conditions",
			node: corev1.Node{},
			want: []interface{}{"n1", "Unknown", "<none>", "5d", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.node
			n.Name, n.CreationTimestamp = "n1", created
			if d := cmp.Diff(tt.want, table.Row(&n)); d != "" {
				t.Errorf("row (-want +got):\n%s", d)
			}
		})
	}
}

func TestFieldsAndKind(t *testing.T) {
	k := Kind()
	n := newNode(func(n *corev1.Node) { n.Spec.Unschedulable = true })
	if got := k.Fields(n)["spec.unschedulable"]; got != "true" {
		t.Errorf("spec.unschedulable = %q, want true", got)
	}
	if k.Namespaced || k.ShortNames[0] != "no" || k.Status == nil {
		t.Errorf("Kind() = %+v", k)
	}
}
