package openapi

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

func TestRestFriendlyName(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"k8s.io/api/core/v1.Pod", "io.k8s.api.core.v1.Pod"},
		{"k8s.io/apimachinery/pkg/apis/meta/v1.ObjectMeta", "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
		{"github.com/navarch/navarch/internal/x.T", "com.github.navarch.navarch.internal.x.T"},
		{"io.k8s.api.core.v1.Pod", "io.k8s.api.core.v1.Pod"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := restFriendlyName(tt.in); got != tt.want {
				t.Errorf("restFriendlyName(%q): got %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestModelName(t *testing.T) {
	type local struct{}
	tests := []struct {
		name string
		obj  any
		want string
	}{
		{"model namer", &corev1.Pod{}, "io.k8s.api.core.v1.Pod"},
		{"model namer value", corev1.PodList{}, "io.k8s.api.core.v1.PodList"},
		{"go type", &local{}, "com.github.navarch.navarch.internal.apiserver.openapi.local"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := modelName(tt.obj); got != tt.want {
				t.Errorf("modelName(%T): got %q, want %q", tt.obj, got, tt.want)
			}
		})
	}
}

func TestGroupVersionNames(t *testing.T) {
	tests := []struct {
		gv      schema.GroupVersion
		wantID  string
		wantTag string
	}{
		{schema.GroupVersion{Version: "v1"}, "CoreV1", "core_v1"},
		{schema.GroupVersion{Group: "apps", Version: "v1"}, "AppsV1", "apps_v1"},
		{schema.GroupVersion{Group: "networking.k8s.io", Version: "v1"}, "NetworkingV1", "networking_v1"},
		{schema.GroupVersion{Group: "rbac.authorization.k8s.io", Version: "v1"}, "RbacAuthorizationV1", "rbacAuthorization_v1"},
		{schema.GroupVersion{Group: "flowcontrol.apiserver.k8s.io", Version: "v1beta3"}, "FlowcontrolApiserverV1beta3", "flowcontrolApiserver_v1beta3"},
		{schema.GroupVersion{Group: "stable.example.com", Version: "v1"}, "StableExampleComV1", "stableExampleCom_v1"},
	}
	for _, tt := range tests {
		t.Run(tt.gv.String(), func(t *testing.T) {
			id, tag := groupVersionNames(tt.gv)
			if id != tt.wantID || tag != tt.wantTag {
				t.Errorf("groupVersionNames(%v): got %q, %q; want %q, %q", tt.gv, id, tag, tt.wantID, tt.wantTag)
			}
		})
	}
}

func TestSchemaConversions(t *testing.T) {
	ref := spec.MustCreateRef("#/components/schemas/io.k8s.X")
	tests := []struct {
		name    string
		in      spec.Schema
		convert func(spec.Schema) spec.Schema
		want    spec.Schema
	}{
		{
			name:    "v3 wraps a reference with siblings",
			in:      spec.Schema{SchemaProps: spec.SchemaProps{Ref: ref, Description: "d", Default: map[string]any{}}},
			convert: func(s spec.Schema) spec.Schema { walkSchema(&s, wrapRef); return s },
			want: spec.Schema{SchemaProps: spec.SchemaProps{Description: "d", Default: map[string]any{},
				AllOf: []spec.Schema{{SchemaProps: spec.SchemaProps{Ref: ref}}}}},
		},
		{
			name:    "v3 leaves a bare reference",
			in:      spec.Schema{SchemaProps: spec.SchemaProps{Ref: ref}},
			convert: func(s spec.Schema) spec.Schema { walkSchema(&s, wrapRef); return s },
			want:    spec.Schema{SchemaProps: spec.SchemaProps{Ref: ref}},
		},
		{
			name: "v3 wraps nested references",
			in: spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"array"}, Items: &spec.SchemaOrArray{
				Schema: &spec.Schema{SchemaProps: spec.SchemaProps{Ref: ref, Default: map[string]any{}}}}}},
			convert: func(s spec.Schema) spec.Schema { walkSchema(&s, wrapRef); return s },
			want: spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"array"}, Items: &spec.SchemaOrArray{
				Schema: &spec.Schema{SchemaProps: spec.SchemaProps{Default: map[string]any{},
					AllOf: []spec.Schema{{SchemaProps: spec.SchemaProps{Ref: ref}}}}}}}},
		},
		{
			name: "v2 drops defaults at every depth",
			in: spec.Schema{SchemaProps: spec.SchemaProps{Default: "x", Properties: map[string]spec.Schema{
				"a": {SchemaProps: spec.SchemaProps{Type: []string{"integer"}, Default: 0}},
				"m": {SchemaProps: spec.SchemaProps{AdditionalProperties: &spec.SchemaOrBool{Allows: true,
					Schema: &spec.Schema{SchemaProps: spec.SchemaProps{Default: ""}}}}},
			}}},
			convert: func(s spec.Schema) spec.Schema { return schemaV2(commonDefinition(s), nil) },
			want: spec.Schema{SchemaProps: spec.SchemaProps{Properties: map[string]spec.Schema{
				"a": {SchemaProps: spec.SchemaProps{Type: []string{"integer"}}},
				"m": {SchemaProps: spec.SchemaProps{AdditionalProperties: &spec.SchemaOrBool{Allows: true,
					Schema: &spec.Schema{}}}},
			}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.convert(tt.in)
			if diff := cmp.Diff(tt.want, got, compareRefs); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// compareRefs compares references by what they point at.
var compareRefs = cmp.Comparer(func(a, b spec.Ref) bool { return a.String() == b.String() })

func commonDefinition(s spec.Schema) common.OpenAPIDefinition {
	return common.OpenAPIDefinition{Schema: s}
}
