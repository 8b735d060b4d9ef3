package lease

import (
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func newLease() *coordinationv1.Lease {
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "navarch-controller-manager", Namespace: "kube-system", ResourceVersion: "1"},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To("node-a_1234"),
			LeaseDurationSeconds: ptr.To[int32](15),
			LeaseTransitions:     ptr.To[int32](0),
		},
	}
}

func summary(errs field.ErrorList) []string {
	out := []string{}
	for _, e := range errs {
		out = append(out, e.Field+" "+string(e.Type))
	}
	sort.Strings(out)
	return out
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*coordinationv1.Lease)
		want   []string
	}{
		{name: "valid", mutate: func(*coordinationv1.Lease) {}, want: []string{}},
		{name: "valid coordinated", mutate: func(l *coordinationv1.Lease) {
			l.Spec.Strategy = ptr.To(coordinationv1.OldestEmulationVersion)
			l.Spec.PreferredHolder = ptr.To("node-b")
		}, want: []string{}},
		{name: "valid custom strategy", mutate: func(l *coordinationv1.Lease) {
			l.Spec.Strategy = ptr.To(coordinationv1.CoordinatedLeaseStrategy("example.com/fair"))
		},
			want: []string{}},
		{name: "zero duration", mutate: func(l *coordinationv1.Lease) { l.Spec.LeaseDurationSeconds = ptr.To[int32](0) },
			want: []string{"spec.leaseDurationSeconds FieldValueInvalid"}},
		{name: "negative transitions", mutate: func(l *coordinationv1.Lease) { l.Spec.LeaseTransitions = ptr.To[int32](-1) },
			want: []string{"spec.leaseTransitions FieldValueInvalid"}},
		{name: "unknown strategy", mutate: func(l *coordinationv1.Lease) {
			l.Spec.Strategy = ptr.To(coordinationv1.CoordinatedLeaseStrategy("Newest"))
		},
			want: []string{"spec.strategy FieldValueNotSupported"}},
		{name: "bad custom strategy", mutate: func(l *coordinationv1.Lease) {
			l.Spec.Strategy = ptr.To(coordinationv1.CoordinatedLeaseStrategy("a/b/c"))
		},
			want: []string{"spec.strategy FieldValueInvalid"}},
		{name: "preferred holder without strategy", mutate: func(l *coordinationv1.Lease) { l.Spec.PreferredHolder = ptr.To("node-b") },
			want: []string{"spec.preferredHolder FieldValueForbidden"}},
		{name: "no namespace", mutate: func(l *coordinationv1.Lease) { l.Namespace = "" },
			want: []string{"metadata.namespace FieldValueRequired"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLease()
			tt.mutate(l)
			if diff := cmp.Diff(tt.want, summary(strategy{}.Validate(l))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	old := newLease()
	renewed := old.DeepCopy()
	renewed.Spec.HolderIdentity = ptr.To("node-b_99")
	renewed.Spec.LeaseTransitions = ptr.To[int32](1)
	if errs := (strategy{}).ValidateUpdate(renewed, old); len(errs) != 0 {
		t.Errorf("new holder: got %v, want no errors", errs)
	}
	bad := old.DeepCopy()
	bad.Spec.LeaseDurationSeconds = ptr.To[int32](-5)
	if diff := cmp.Diff([]string{"spec.leaseDurationSeconds FieldValueInvalid"}, summary(strategy{}.ValidateUpdate(bad, old))); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestTableRow(t *testing.T) {
	tests := []struct {
		name   string
		holder *string
		want   string
	}{
		{name: "held", holder: ptr.To("node-a_1234"), want: "node-a_1234"},
		{name: "free", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLease()
			l.Spec.HolderIdentity = tt.holder
			want := []interface{}{"navarch-controller-manager", tt.want, "<unknown>"}
			if diff := cmp.Diff(want, Kind().Table.Row(l)); diff != "" {
				t.Errorf("row (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKind(t *testing.T) {
	k := Kind()
	got := struct {
		GroupVersion, Resource, Singular, Kind string
		ShortNames, Categories                 []string
		Namespaced, HasStatus, HasScale        bool
	}{k.GroupVersion.String(), k.Resource, k.Singular, k.Kind, k.ShortNames, k.Categories, k.Namespaced, k.Status != nil, k.Scale != nil}
	want := struct {
		GroupVersion, Resource, Singular, Kind string
		ShortNames, Categories                 []string
		Namespaced, HasStatus, HasScale        bool
	}{"coordination.k8s.io/v1", "leases", "lease", "Lease", nil, nil, true, false, false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kind (-want +got):\n%s", diff)
	}
	if _, ok := k.New().(*coordinationv1.Lease); !ok {
		t.Errorf("New: got %T, want *coordinationv1.Lease", k.New())
	}
	if _, ok := k.NewList().(*coordinationv1.LeaseList); !ok {
		t.Errorf("NewList: got %T, want *coordinationv1.LeaseList", k.NewList())
	}
}
