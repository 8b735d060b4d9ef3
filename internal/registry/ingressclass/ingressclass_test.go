package ingressclass

import (
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func newClass() *networkingv1.IngressClass {
	return &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: "navarch", ResourceVersion: "1"},
		Spec:       networkingv1.IngressClassSpec{Controller: "navarch.dev/ingress"},
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

func TestDefault(t *testing.T) {
	class := newClass()
	class.Spec.Parameters = &networkingv1.IngressClassParametersReference{Kind: "Config", Name: "default"}
	strategy{}.Default(class)
	if got := ptr.Deref(class.Spec.Parameters.Scope, ""); got != "Cluster" {
		t.Errorf("parameters scope: got %q, want Cluster", got)
	}
}

func TestValidate(t *testing.T) {
	params := func(scope string, namespace *string) *networkingv1.IngressClassParametersReference {
		return &networkingv1.IngressClassParametersReference{APIGroup: ptr.To("navarch.dev"), Kind: "Config", Name: "default", Scope: &scope, Namespace: namespace}
	}
	tests := []struct {
		name   string
		mutate func(*networkingv1.IngressClass)
		want   []string
	}{
		{name: "valid", mutate: func(*networkingv1.IngressClass) {}, want: []string{}},
		{name: "valid namespaced parameters", mutate: func(c *networkingv1.IngressClass) { c.Spec.Parameters = params("Namespace", ptr.To("ingress")) },
			want: []string{}},
		{name: "no controller", mutate: func(c *networkingv1.IngressClass) { c.Spec.Controller = "" }, want: []string{"spec.controller FieldValueRequired"}},
		{name: "controller without domain", mutate: func(c *networkingv1.IngressClass) { c.Spec.Controller = "ingress" },
			want: []string{"spec.controller FieldValueInvalid"}},
		{name: "controller too long", mutate: func(c *networkingv1.IngressClass) { c.Spec.Controller = "navarch.dev/" + strings.Repeat("a", 250) },
			want: []string{"spec.controller FieldValueTooLong"}},
		{name: "namespace scope without namespace", mutate: func(c *networkingv1.IngressClass) { c.Spec.Parameters = params("Namespace", nil) },
			want: []string{"spec.parameters.namespace FieldValueRequired"}},
		{name: "cluster scope with namespace", mutate: func(c *networkingv1.IngressClass) { c.Spec.Parameters = params("Cluster", ptr.To("ingress")) },
			want: []string{"spec.parameters.namespace FieldValueForbidden"}},
		{name: "unknown scope", mutate: func(c *networkingv1.IngressClass) { c.Spec.Parameters = params("Node", nil) },
			want: []string{"spec.parameters.scope FieldValueNotSupported"}},
		{name: "parameters without name", mutate: func(c *networkingv1.IngressClass) {
			c.Spec.Parameters = params("Cluster", nil)
			c.Spec.Parameters.Name = ""
		}, want: []string{"spec.parameters.name FieldValueRequired"}},
		{name: "namespace set on a cluster-scoped kind", mutate: func(c *networkingv1.IngressClass) { c.Namespace = "default" },
			want: []string{"metadata.namespace FieldValueForbidden"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClass()
			tt.mutate(c)
			if diff := cmp.Diff(tt.want, summary(strategy{}.Validate(c))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	old := newClass()
	c := old.DeepCopy()
	c.Spec.Controller = "example.com/other"
	if diff := cmp.Diff([]string{"spec.controller FieldValueInvalid"}, summary(strategy{}.ValidateUpdate(c, old))); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	c = old.DeepCopy()
	c.Spec.Parameters = &networkingv1.IngressClassParametersReference{Kind: "Config", Name: "x", Scope: ptr.To("Cluster")}
	if errs := (strategy{}).ValidateUpdate(c, old); len(errs) != 0 {
		t.Errorf("changing parameters: got %v, want no errors", errs)
	}
}

func TestTableRow(t *testing.T) {
	tests := []struct {
		name   string
		params *networkingv1.IngressClassParametersReference
		want   string
	}{
		{name: "no parameters", want: "<none>"},
		{name: "core kind", params: &networkingv1.IngressClassParametersReference{Kind: "ConfigMap", Name: "cfg"}, want: "ConfigMap/cfg"},
		{name: "grouped kind", params: &networkingv1.IngressClassParametersReference{APIGroup: ptr.To("navarch.dev"), Kind: "Config", Name: "cfg"},
			want: "Config.navarch.dev/cfg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClass()
			c.Spec.Parameters = tt.params
			want := []interface{}{"navarch", "navarch.dev/ingress", tt.want, "<unknown>"}
			if diff := cmp.Diff(want, Kind().Table.Row(c)); diff != "" {
				t.Errorf("row (-want +got):\n%s", diff)
			}
		})
	}
	if Kind().Namespaced {
		t.Errorf("IngressClass must be cluster-scoped")
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
	}{"networking.k8s.io/v1", "ingressclasses", "ingressclass", "IngressClass", nil, nil, false, false, false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kind (-want +got):\n%s", diff)
	}
	if _, ok := k.New().(*networkingv1.IngressClass); !ok {
		t.Errorf("New: got %T, want *networkingv1.IngressClass", k.New())
	}
	if _, ok := k.NewList().(*networkingv1.IngressClassList); !ok {
		t.Errorf("NewList: got %T, want *networkingv1.IngressClassList", k.NewList())
	}
}
