package openapi

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/navarch/navarch/internal/registry"
)

// Vendor extensions the documents carry, as upstream spells them.
const (
	// extensionGVK names the kinds a definition describes (a list) or an
	// operation acts on (one). kubectl finds a kind's schema by it.
	extensionGVK = "x-kubernetes-group-version-kind"
	// extensionAction is the verb of an operation: get, list, watch,
	// watchlist, post, put, patch, delete, deletecollection.
	extensionAction = "x-kubernetes-action"
)

// Where references point in each document version.
const (
	refPrefixV2 = "#/definitions/"
	refPrefixV3 = "#/components/schemas/"
)

// definitions are the generated schemas keyed by REST-friendly name
// ("io.k8s.api.core.v1.Pod"), their references already pointing at the
// document version's definitions section.
type definitions map[string]common.OpenAPIDefinition

// loadDefinitions runs the generated GetOpenAPIDefinitions with references
// under refPrefix. Each call builds fresh schemas, so callers may change
// them in place.
func loadDefinitions(refPrefix string) definitions {
	generated := GetOpenAPIDefinitions(func(name string) spec.Ref {
		return spec.MustCreateRef(refPrefix + common.EscapeJsonPointer(restFriendlyName(name)))
	})
	defs := make(definitions, len(generated))
	for name, def := range generated {
		defs[restFriendlyName(name)] = def
	}
	return defs
}

// closure returns, sorted, the names in roots and of every definition they
// depend on, directly or not. It fails on a name with no definition, which
// would leave a dangling reference in the document.
func (d definitions) closure(roots []string) ([]string, error) {
	seen := map[string]bool{}
	pending := append([]string(nil), roots...)
	for len(pending) > 0 {
		name := pending[len(pending)-1]
		pending = pending[:len(pending)-1]
		if seen[name] {
			continue
		}
		def, ok := d[name]
		if !ok {
			return nil, fmt.Errorf("openapi: no generated definition for %q (is its package in hack/update-openapi.sh?)", name)
		}
		seen[name] = true
		for _, dep := range def.Dependencies {
			pending = append(pending, restFriendlyName(dep))
		}
	}
	names := make([]string, 0, len(seen))
	for name := range seen {
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

// restFriendlyName turns a Go type name ("k8s.io/api/core/v1.Pod") into the
// definition name upstream gives it ("io.k8s.api.core.v1.Pod"): the domain
// of the import path reversed, slashes turned into dots. Names without a
// slash are REST-friendly already (OpenAPIModelName returns such names) and
// come back unchanged.
func restFriendlyName(name string) string {
	slash := strings.IndexByte(name, '/')
	if slash < 0 {
		return name
	}
	domain := strings.Split(name[:slash], ".")
	for i, j := 0, len(domain)-1; i < j; i, j = i+1, j-1 {
		domain[i], domain[j] = domain[j], domain[i]
	}
	return strings.Join(domain, ".") + "." + strings.ReplaceAll(name[slash+1:], "/", ".")
}

// modelName is the definition name of obj's Go type.
func modelName(obj any) string {
	if namer, ok := obj.(interface{ OpenAPIModelName() string }); ok {
		return namer.OpenAPIModelName()
	}
	t := reflect.TypeOf(obj)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return restFriendlyName(t.PkgPath() + "." + t.Name())
}

// kindIndex maps a definition name to the kinds its Go type is registered
// as, sorted by group, version and kind.
type kindIndex map[string][]schema.GroupVersionKind

// generatedGroups registers the Go types of the API packages whose
// definitions zz_generated.openapi.go holds (the inputs of
// hack/update-openapi.sh).
func generatedGroups(scheme *runtime.Scheme) error {
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, networkingv1.AddToScheme,
		storagev1.AddToScheme, coordinationv1.AddToScheme, discoveryv1.AddToScheme, eventsv1.AddToScheme,
		autoscalingv1.AddToScheme, policyv1.AddToScheme, authenticationv1.AddToScheme, authorizationv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			return fmt.Errorf("openapi: registering the generated groups: %w", err)
		}
	}
	return nil
}

// newKindIndex indexes the kinds of the served group versions as upstream's
// definition namer does from its scheme: the served kinds and their lists,
// every other type the group version registers (Scale, Eviction, Binding,
// TokenRequest, ...), and the meta types every group version carries
// (WatchEvent, DeleteOptions and the other options; Status and the
// discovery types as v1).
func newKindIndex(kinds []*registry.Kind) (kindIndex, error) {
	known := runtime.NewScheme()
	if err := generatedGroups(known); err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	served := map[schema.GroupVersion]bool{}
	// The kinds go first so that their constructors decide the Go type of
	// their own names.
	for _, k := range kinds {
		served[k.GroupVersion] = true
		scheme.AddKnownTypeWithName(k.GroupVersionKind(), k.New())
		if !createOnly(k) {
			scheme.AddKnownTypeWithName(k.GroupVersion.WithKind(k.Kind+"List"), k.NewList())
		}
	}
	for gv := range served {
		for kind, t := range known.KnownTypes(gv) {
			gvk := gv.WithKind(kind)
			if scheme.Recognizes(gvk) {
				continue
			}
			if obj, ok := reflect.New(t).Interface().(runtime.Object); ok {
				scheme.AddKnownTypeWithName(gvk, obj)
			}
		}
		metav1.AddToGroupVersion(scheme, gv)
	}
	// The scale subresource answers with autoscaling/v1 Scale, served or
	// not as a group version of its own.
	scale := autoscalingv1.SchemeGroupVersion.WithKind("Scale")
	for _, k := range kinds {
		if k.Scale != nil && !scheme.Recognizes(scale) {
			scheme.AddKnownTypeWithName(scale, &autoscalingv1.Scale{})
		}
	}

	index := kindIndex{}
	for gvk := range scheme.AllKnownTypes() {
		if gvk.Version == runtime.APIVersionInternal {
			continue
		}
		name, err := scheme.ToOpenAPIDefinitionName(gvk)
		if err != nil {
			return nil, fmt.Errorf("openapi: naming the definition of %v: %w", gvk, err)
		}
		index[name] = append(index[name], gvk)
	}
	for _, gvks := range index {
		sort.Slice(gvks, func(i, j int) bool {
			a, b := gvks[i], gvks[j]
			if a.Group != b.Group {
				return a.Group < b.Group
			}
			if a.Version != b.Version {
				return a.Version < b.Version
			}
			return a.Kind < b.Kind
		})
	}
	return index, nil
}

// extension is the x-kubernetes-group-version-kind value of the
// definition name, nil when no kind is registered with its type.
func (x kindIndex) extension(name string) []interface{} {
	gvks := x[name]
	if len(gvks) == 0 {
		return nil
	}
	list := make([]interface{}, len(gvks))
	for i, gvk := range gvks {
		list[i] = gvkValue(gvk)
	}
	return list
}

// gvkValue is a group-version-kind as the extensions spell it.
func gvkValue(gvk schema.GroupVersionKind) map[string]interface{} {
	return map[string]interface{}{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind}
}

// schemaV2 returns def's schema as the v2 document shows it: the v2 variant
// where the type has one (Quantity, IntOrString: a oneOf v2 cannot express),
// tagged with its kinds, without defaults (upstream prunes them from v2).
func schemaV2(def common.OpenAPIDefinition, gvks []interface{}) spec.Schema {
	s := def.Schema
	if v2, ok := s.Extensions[common.ExtensionV2Schema].(spec.Schema); ok {
		s = v2
	}
	s.Extensions = withExtension(s.Extensions, extensionGVK, gvks)
	walkSchema(&s, func(s *spec.Schema) { s.Default = nil })
	return s
}

// schemaV3 returns def's schema as the v3 documents show it: tagged with
// its kinds, without the embedded v2 variant, and with every reference
// that has siblings (a description, a default) wrapped in allOf, because
// OpenAPI 3.0 ignores the siblings of $ref.
func schemaV3(def common.OpenAPIDefinition, gvks []interface{}) *spec.Schema {
	s := def.Schema
	s.Extensions = withExtension(s.Extensions, extensionGVK, gvks)
	delete(s.Extensions, common.ExtensionV2Schema)
	if len(s.Extensions) == 0 {
		s.Extensions = nil
	}
	walkSchema(&s, wrapRef)
	return &s
}

// withExtension returns a copy of ext with key set to value; a nil value
// leaves ext as it was (copied).
func withExtension(ext spec.Extensions, key string, value []interface{}) spec.Extensions {
	out := make(spec.Extensions, len(ext)+1)
	for k, v := range ext {
		out[k] = v
	}
	if value != nil {
		out[key] = value
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// wrapRef moves a reference that has siblings into allOf.
func wrapRef(s *spec.Schema) {
	if s.Ref.String() == "" {
		return
	}
	if reflect.DeepEqual(*s, spec.Schema{SchemaProps: spec.SchemaProps{Ref: s.Ref}}) {
		return
	}
	ref := spec.Schema{SchemaProps: spec.SchemaProps{Ref: s.Ref}}
	s.Ref = spec.Ref{}
	s.AllOf = append([]spec.Schema{ref}, s.AllOf...)
}

// walkSchema calls visit on s and then on every schema nested in it,
// letting visit change each in place.
func walkSchema(s *spec.Schema, visit func(*spec.Schema)) {
	visit(s)
	walkMap := func(m map[string]spec.Schema) {
		for name, sub := range m {
			walkSchema(&sub, visit)
			m[name] = sub
		}
	}
	walkMap(s.Properties)
	walkMap(s.PatternProperties)
	walkMap(s.Definitions)
	for _, list := range [][]spec.Schema{s.AllOf, s.AnyOf, s.OneOf} {
		for i := range list {
			walkSchema(&list[i], visit)
		}
	}
	if s.Not != nil {
		walkSchema(s.Not, visit)
	}
	if s.Items != nil {
		if s.Items.Schema != nil {
			walkSchema(s.Items.Schema, visit)
		}
		for i := range s.Items.Schemas {
			walkSchema(&s.Items.Schemas[i], visit)
		}
	}
	for _, sb := range []*spec.SchemaOrBool{s.AdditionalProperties, s.AdditionalItems} {
		if sb != nil && sb.Schema != nil {
			walkSchema(sb.Schema, visit)
		}
	}
	for name, dep := range s.Dependencies {
		if dep.Schema != nil {
			walkSchema(dep.Schema, visit)
			s.Dependencies[name] = dep
		}
	}
}
