package controllerrevision

import (
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func newRevision() *appsv1.ControllerRevision {
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Name: "web-7d9c", Namespace: "default", ResourceVersion: "1"},
		Data:       runtime.RawExtension{Raw: []byte(`{"spec":{}}`)},
		Revision:   2,
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
		mutate func(*appsv1.ControllerRevision)
		want   []string
	}{
		{name: "valid", mutate: func(*appsv1.ControllerRevision) {}, want: []string{}},
		{name: "no data", mutate: func(r *appsv1.ControllerRevision) { r.Data = runtime.RawExtension{} },
			want: []string{"data FieldValueRequired"}},
		{name: "negative revision", mutate: func(r *appsv1.ControllerRevision) { r.Revision = -1 },
			want: []string{"revision FieldValueInvalid"}},
		{name: "no namespace", mutate: func(r *appsv1.ControllerRevision) { r.Namespace = "" },
			want: []string{"metadata.namespace FieldValueRequired"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRevision()
			tt.mutate(r)
			if diff := cmp.Diff(tt.want, summary(strategy{}.Validate(r))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*appsv1.ControllerRevision)
		want   []string
	}{
		{name: "relabel", mutate: func(r *appsv1.ControllerRevision) { r.Labels = map[string]string{"a": "b"} }, want: []string{}},
		{name: "revision bump", mutate: func(r *appsv1.ControllerRevision) { r.Revision = 3 }, want: []string{}},
		{name: "data change", mutate: func(r *appsv1.ControllerRevision) { r.Data.Raw = []byte(`{"spec":{"x":1}}`) },
			want: []string{"data FieldValueInvalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newRevision()
			r := old.DeepCopy()
			tt.mutate(r)
			if diff := cmp.Diff(tt.want, summary(strategy{}.ValidateUpdate(r, old))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTableRow(t *testing.T) {
	tests := []struct {
		name   string
		owners []metav1.OwnerReference
		want   string
	}{
		{name: "no controller", want: "<none>"},
		{name: "statefulset", owners: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", Controller: ptr.To(true)}},
			want: "statefulset.apps/web"},
		{name: "owner that is not the controller", owners: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "agent"}},
			want: "<none>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRevision()
			r.OwnerReferences = tt.owners
			want := []interface{}{"web-7d9c", tt.want, int64(2), "<unknown>"}
			if diff := cmp.Diff(want, Kind().Table.Row(r)); diff != "" {
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
	}{"apps/v1", "controllerrevisions", "controllerrevision", "ControllerRevision", nil, nil, true, false, false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kind (-want +got):\n%s", diff)
	}
	if _, ok := k.New().(*appsv1.ControllerRevision); !ok {
		t.Errorf("New: got %T, want *appsv1.ControllerRevision", k.New())
	}
	if _, ok := k.NewList().(*appsv1.ControllerRevisionList); !ok {
		t.Errorf("NewList: got %T, want *appsv1.ControllerRevisionList", k.NewList())
	}
}
