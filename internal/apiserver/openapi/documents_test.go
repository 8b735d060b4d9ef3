package openapi

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/openapi3"
	"k8s.io/client-go/rest"
	openapiproto "k8s.io/kube-openapi/pkg/util/proto"
	kubectlopenapi "k8s.io/kubectl/pkg/util/openapi"
)

// gvkJSON is a group-version-kind as the extensions spell it.
type gvkJSON struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

// operationJSON is what the tests read of an operation, in v2 or v3.
type operationJSON struct {
	ID     string   `json:"operationId"`
	Action string   `json:"x-kubernetes-action"`
	GVK    *gvkJSON `json:"x-kubernetes-group-version-kind"`
}

// taggedJSON is what the tests read of a definition.
type taggedJSON struct {
	GVKs []gvkJSON `json:"x-kubernetes-group-version-kind"`
}

// documentJSON is what the tests read of a v2 or v3 document.
type documentJSON struct {
	Paths       map[string]map[string]json.RawMessage `json:"paths"`
	Definitions map[string]taggedJSON                 `json:"definitions"`
	Components  struct {
		Schemas map[string]taggedJSON `json:"schemas"`
	} `json:"components"`
}

// operation returns the operation of method on path, nil when the document
// has none.
func (d documentJSON) operation(t *testing.T, path, method string) *operationJSON {
	t.Helper()
	raw, ok := d.Paths[path][method]
	if !ok {
		return nil
	}
	var op operationJSON
	if err := json.Unmarshal(raw, &op); err != nil {
		t.Fatalf("decoding %s %s: %v", method, path, err)
	}
	return &op
}

func decodeDocument(t *testing.T, data []byte) documentJSON {
	t.Helper()
	var doc documentJSON
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("decoding the document: %v", err)
	}
	return doc
}

// fetch GETs target from s and fails the test on anything but 200.
func fetch(t *testing.T, s *Service, target string) []byte {
	t.Helper()
	handler := s.ServeV3
	if strings.HasPrefix(target, pathV2) {
		handler = s.ServeV2
	}
	w := get(handler, target, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s: got %d %s, want 200", target, w.Code, w.Body.String())
	}
	return w.Body.Bytes()
}

// protoField follows a dotted path of field names from s, resolving
// references and stepping into list items, as kubectl walks a schema for
// strategic merge patch.
func protoField(s openapiproto.Schema, path string) openapiproto.Schema {
	for _, name := range strings.Split(path, ".") {
		for {
			if ref, ok := s.(openapiproto.Reference); ok {
				s = ref.SubSchema()
				continue
			}
			// A field below a list is a field of its items.
			if array, ok := s.(*openapiproto.Array); ok {
				s = array.SubType
				continue
			}
			break
		}
		kind, ok := s.(*openapiproto.Kind)
		if !ok {
			return nil
		}
		s = kind.Fields[name]
		if s == nil {
			return nil
		}
	}
	return s
}

func TestV2PatchMetadataAsKubectlReadsIt(t *testing.T) {
	s := New(testKinds())
	doc, err := openapi_v2.ParseDocument(fetch(t, s, pathV2))
	if err != nil {
		t.Fatalf("gnostic ParseDocument: %v", err)
	}
	// NewOpenAPIData resolves every reference: it fails on a dangling one.
	if _, err := openapiproto.NewOpenAPIData(doc); err != nil {
		t.Fatalf("proto.NewOpenAPIData: %v", err)
	}
	resources, err := kubectlopenapi.NewOpenAPIData(doc)
	if err != nil {
		t.Fatalf("kubectl NewOpenAPIData: %v", err)
	}

	tests := []struct {
		name         string
		gvk          schema.GroupVersionKind
		field        string
		wantStrategy string
		wantKey      string
	}{
		{"pod containers", schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, "spec.containers", "merge", "name"},
		{"pod volumes", schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, "spec.volumes", "merge,retainKeys", "name"},
		{"pod owner references", schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, "metadata.ownerReferences", "merge", "uid"},
		{"node conditions", schema.GroupVersionKind{Version: "v1", Kind: "Node"}, "status.conditions", "merge", "type"},
		{"deployment template containers", schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"},
			"spec.template.spec.containers", "merge", "name"},
		{"container ports", schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"},
			"spec.template.spec.containers.ports", "merge", "containerPort"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			model := resources.LookupResource(tt.gvk)
			if model == nil {
				t.Fatalf("LookupResource(%v): no schema", tt.gvk)
			}
			field := protoField(model, tt.field)
			if field == nil {
				t.Fatalf("%v has no field %s", tt.gvk, tt.field)
			}
			ext := field.GetExtensions()
			if got := ext["x-kubernetes-patch-strategy"]; got != tt.wantStrategy {
				t.Errorf("patch strategy of %s: got %v, want %q", tt.field, got, tt.wantStrategy)
			}
			if got := ext["x-kubernetes-patch-merge-key"]; got != tt.wantKey {
				t.Errorf("patch merge key of %s: got %v, want %q", tt.field, got, tt.wantKey)
			}
			if got := ext["x-kubernetes-list-type"]; got != "map" {
				t.Errorf("list type of %s: got %v, want map", tt.field, got)
			}
		})
	}

	// kubectl patch picks the patch types a kind accepts from the paths.
	consumes := resources.GetConsumes(schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, "PATCH")
	if !contains(consumes, "application/strategic-merge-patch+json") {
		t.Errorf("GetConsumes(Pod, PATCH): got %v, want it to include application/strategic-merge-patch+json", consumes)
	}
}

func TestV3ListMetadata(t *testing.T) {
	s := New(testKinds())
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(fetch(t, s, "/openapi/v3/api/v1"), &doc); err != nil {
		t.Fatalf("decoding api/v1: %v", err)
	}
	got := doc.Components.Schemas["io.k8s.api.core.v1.PodSpec"].Properties["containers"]
	want := map[string]any{
		"x-kubernetes-patch-strategy":  "merge",
		"x-kubernetes-patch-merge-key": "name",
		"x-kubernetes-list-type":       "map",
		"x-kubernetes-list-map-keys":   []any{"name"},
	}
	for key, value := range want {
		if !cmp.Equal(got[key], value) {
			t.Errorf("PodSpec.containers %s: got %v, want %v", key, got[key], value)
		}
	}
}

func TestDefinitionKindTags(t *testing.T) {
	kinds := testKinds()
	s := New(kinds)
	v2 := decodeDocument(t, fetch(t, s, pathV2))
	v3 := map[string]documentJSON{}
	for _, gv := range servedGroupVersions(kinds) {
		v3[gv] = decodeDocument(t, fetch(t, s, pathV3+"/"+gv))
	}
	// everyServedGV is the tag a meta type carries in each served group version.
	everyServedGV := func(kind string) []gvkJSON {
		return []gvkJSON{
			{"", "v1", kind}, {"apps", "v1", kind}, {"authentication.k8s.io", "v1", kind},
			{"coordination.k8s.io", "v1", kind}, {"events.k8s.io", "v1", kind},
		}
	}
	tests := []struct {
		name       string
		definition string
		inV3       string // a v3 document that holds the definition
		want       []gvkJSON
	}{
		{"core kind", "io.k8s.api.core.v1.Pod", "api/v1", []gvkJSON{{"", "v1", "Pod"}}},
		{"core list", "io.k8s.api.core.v1.PodList", "api/v1", []gvkJSON{{"", "v1", "PodList"}}},
		{"cluster kind", "io.k8s.api.core.v1.Node", "api/v1", []gvkJSON{{"", "v1", "Node"}}},
		{"group kind", "io.k8s.api.apps.v1.Deployment", "apis/apps/v1", []gvkJSON{{"apps", "v1", "Deployment"}}},
		{"group list", "io.k8s.api.apps.v1.DeploymentList", "apis/apps/v1", []gvkJSON{{"apps", "v1", "DeploymentList"}}},
		{"events.k8s.io event", "io.k8s.api.events.v1.Event", "apis/events.k8s.io/v1", []gvkJSON{{"events.k8s.io", "v1", "Event"}}},
		{"create-only review", "io.k8s.api.authentication.v1.TokenReview", "apis/authentication.k8s.io/v1",
			[]gvkJSON{{"authentication.k8s.io", "v1", "TokenReview"}}},
		{"scale subresource", "io.k8s.api.autoscaling.v1.Scale", "apis/apps/v1", []gvkJSON{{"autoscaling", "v1", "Scale"}}},
		{"delete options", "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions", "apis/apps/v1", everyServedGV("DeleteOptions")},
		{"watch event", "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent", "api/v1", everyServedGV("WatchEvent")},
		{"status", "io.k8s.apimachinery.pkg.apis.meta.v1.Status", "apis/coordination.k8s.io/v1", []gvkJSON{{"", "v1", "Status"}}},
		{"resource list", "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList", "api/v1", []gvkJSON{{"", "v1", "APIResourceList"}}},
		{"not a kind", "io.k8s.api.core.v1.PodSpec", "api/v1", nil},
		{"object meta", "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "apis/apps/v1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			def, ok := v2.Definitions[tt.definition]
			if !ok {
				t.Fatalf("v2 has no definition %s", tt.definition)
			}
			if diff := cmp.Diff(tt.want, def.GVKs); diff != "" {
				t.Errorf("v2 %s tags (-want +got):\n%s", tt.definition, diff)
			}
			def, ok = v3[tt.inV3].Components.Schemas[tt.definition]
			if !ok {
				t.Fatalf("v3 %s has no schema %s", tt.inV3, tt.definition)
			}
			if diff := cmp.Diff(tt.want, def.GVKs); diff != "" {
				t.Errorf("v3 %s %s tags (-want +got):\n%s", tt.inV3, tt.definition, diff)
			}
		})
	}
}

func TestOperations(t *testing.T) {
	kinds := testKinds()
	s := New(kinds)
	v2 := decodeDocument(t, fetch(t, s, pathV2))
	v3 := map[string]documentJSON{}
	for _, gv := range servedGroupVersions(kinds) {
		v3[gv] = decodeDocument(t, fetch(t, s, pathV3+"/"+gv))
	}
	pod := &gvkJSON{"", "v1", "Pod"}
	tests := []struct {
		name   string
		v3     string // the group version document of the path
		path   string
		method string
		want   *operationJSON // nil: no such operation
	}{
		{"list", "api/v1", "/api/v1/namespaces/{namespace}/pods", "get", &operationJSON{"listCoreV1NamespacedPod", "list", pod}},
		{"create", "api/v1", "/api/v1/namespaces/{namespace}/pods", "post", &operationJSON{"createCoreV1NamespacedPod", "post", pod}},
		{"delete collection", "api/v1", "/api/v1/namespaces/{namespace}/pods", "delete",
			&operationJSON{"deleteCoreV1CollectionNamespacedPod", "deletecollection", pod}},
		{"read", "api/v1", "/api/v1/namespaces/{namespace}/pods/{name}", "get", &operationJSON{"readCoreV1NamespacedPod", "get", pod}},
		{"replace", "api/v1", "/api/v1/namespaces/{namespace}/pods/{name}", "put", &operationJSON{"replaceCoreV1NamespacedPod", "put", pod}},
		{"patch", "api/v1", "/api/v1/namespaces/{namespace}/pods/{name}", "patch", &operationJSON{"patchCoreV1NamespacedPod", "patch", pod}},
		{"delete", "api/v1", "/api/v1/namespaces/{namespace}/pods/{name}", "delete", &operationJSON{"deleteCoreV1NamespacedPod", "delete", pod}},
		{"list all namespaces", "api/v1", "/api/v1/pods", "get", &operationJSON{"listCoreV1PodForAllNamespaces", "list", pod}},
		{"watch list", "api/v1", "/api/v1/watch/namespaces/{namespace}/pods", "get",
			&operationJSON{"watchCoreV1NamespacedPodList", "watchlist", pod}},
		{"watch one", "api/v1", "/api/v1/watch/namespaces/{namespace}/pods/{name}", "get",
			&operationJSON{"watchCoreV1NamespacedPod", "watch", pod}},
		{"watch all namespaces", "api/v1", "/api/v1/watch/pods", "get",
			&operationJSON{"watchCoreV1PodListForAllNamespaces", "watchlist", pod}},
		{"status", "api/v1", "/api/v1/namespaces/{namespace}/pods/{name}/status", "patch",
			&operationJSON{"patchCoreV1NamespacedPodStatus", "patch", pod}},
		{"cluster kind", "api/v1", "/api/v1/nodes/{name}", "get", &operationJSON{"readCoreV1Node", "get", &gvkJSON{"", "v1", "Node"}}},
		{"cluster watch", "api/v1", "/api/v1/watch/nodes", "get", &operationJSON{"watchCoreV1NodeList", "watchlist", &gvkJSON{"", "v1", "Node"}}},
		{"cluster kind has no all-namespaces list", "api/v1", "/api/v1/namespaces/{namespace}/nodes", "get", nil},
		{"scale", "apis/apps/v1", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", "put",
			&operationJSON{"replaceAppsV1NamespacedDeploymentScale", "put", &gvkJSON{"autoscaling", "v1", "Scale"}}},
		{"no scale without the subresource", "api/v1", "/api/v1/namespaces/{namespace}/pods/{name}/scale", "get", nil},
		{"group list all namespaces", "apis/coordination.k8s.io/v1", "/apis/coordination.k8s.io/v1/leases", "get",
			&operationJSON{"listCoordinationV1LeaseForAllNamespaces", "list", &gvkJSON{"coordination.k8s.io", "v1", "Lease"}}},
		{"events.k8s.io", "apis/events.k8s.io/v1", "/apis/events.k8s.io/v1/namespaces/{namespace}/events", "get",
			&operationJSON{"listEventsV1NamespacedEvent", "list", &gvkJSON{"events.k8s.io", "v1", "Event"}}},
		{"review create", "apis/authentication.k8s.io/v1", "/apis/authentication.k8s.io/v1/tokenreviews", "post",
			&operationJSON{"createAuthenticationV1TokenReview", "post", &gvkJSON{"authentication.k8s.io", "v1", "TokenReview"}}},
		{"review has no list", "apis/authentication.k8s.io/v1", "/apis/authentication.k8s.io/v1/tokenreviews", "get", nil},
		{"review has no items", "apis/authentication.k8s.io/v1", "/apis/authentication.k8s.io/v1/tokenreviews/{name}", "get", nil},
		{"discovery", "apis/apps/v1", "/apis/apps/v1/", "get", &operationJSON{ID: "getAppsV1APIResources"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for version, doc := range map[string]documentJSON{"v2": v2, "v3 " + tt.v3: v3[tt.v3]} {
				got := doc.operation(t, tt.path, tt.method)
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("%s %s %s (-want +got):\n%s", version, tt.method, tt.path, diff)
				}
			}
		})
	}
}

func TestV3DocumentsHoldOnlyTheirGroupVersion(t *testing.T) {
	kinds := testKinds()
	s := New(kinds)
	for _, gv := range servedGroupVersions(kinds) {
		t.Run(gv, func(t *testing.T) {
			doc := decodeDocument(t, fetch(t, s, pathV3+"/"+gv))
			for path := range doc.Paths {
				if !strings.HasPrefix(path, "/"+gv+"/") {
					t.Errorf("document %s has path %s of another group version", gv, path)
				}
			}
		})
	}
}

// TestReferencesResolve checks that every $ref of every document names a
// definition of the same document, and that v3 references have no
// siblings (OpenAPI 3.0 would ignore them).
func TestReferencesResolve(t *testing.T) {
	kinds := generatedKinds(t)
	s := New(kinds)
	targets := []string{pathV2}
	for _, gv := range servedGroupVersions(kinds) {
		targets = append(targets, pathV3+"/"+gv)
	}
	for _, target := range targets {
		t.Run(target, func(t *testing.T) {
			var doc map[string]any
			if err := json.Unmarshal(fetch(t, s, target), &doc); err != nil {
				t.Fatalf("decoding: %v", err)
			}
			prefix, section := refPrefixV2, doc["definitions"]
			if target != pathV2 {
				prefix, section = refPrefixV3, doc["components"].(map[string]any)["schemas"]
			}
			defined, _ := section.(map[string]any)
			var problems []string
			walkJSON(doc, func(obj map[string]any) {
				ref, ok := obj["$ref"].(string)
				if !ok {
					return
				}
				if name, ok := strings.CutPrefix(ref, prefix); !ok || defined[name] == nil {
					problems = append(problems, "dangling "+ref)
				}
				if prefix == refPrefixV3 && len(obj) > 1 {
					problems = append(problems, "siblings beside "+ref)
				}
			})
			sort.Strings(problems)
			if len(problems) > 0 {
				t.Errorf("got %d bad references, want none; first: %v", len(problems), problems[:min(5, len(problems))])
			}
		})
	}
}

// TestEveryGeneratedKindHasItsDefinition builds the documents of every
// top-level type of the generated groups: a served kind whose type lacks
// a generated definition would fail here.
func TestEveryGeneratedKindHasItsDefinition(t *testing.T) {
	kinds := generatedKinds(t)
	s := New(kinds)
	v2 := decodeDocument(t, fetch(t, s, pathV2))
	for _, k := range kinds {
		t.Run(k.GroupVersionKind().String(), func(t *testing.T) {
			name := modelName(k.New())
			want := []gvkJSON{{k.GroupVersion.Group, k.GroupVersion.Version, k.Kind}}
			if got := v2.Definitions[name].GVKs; !containsAll(got, want) {
				t.Errorf("v2 %s tags: got %v, want them to include %v", name, got, want)
			}
		})
	}
}

func walkJSON(v any, visit func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		visit(v)
		for _, child := range v {
			walkJSON(child, visit)
		}
	case []any:
		for _, child := range v {
			walkJSON(child, visit)
		}
	}
}

func contains(list []string, s string) bool {
	for _, item := range list {
		if item == s {
			return true
		}
	}
	return false
}

func containsAll(got, want []gvkJSON) bool {
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			return false
		}
	}
	return true
}

// TestClientSideApplyPatch computes kubectl apply's three-way strategic
// merge patch from the documents, as kubectl does from v3 (and from v2
// when v3 fails), and wants the patch the Go types' own tags give.
func TestClientSideApplyPatch(t *testing.T) {
	s := New(testKinds())
	srv := newTestServer(t, s)
	client, err := discovery.NewDiscoveryClientForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatalf("NewDiscoveryClientForConfig: %v", err)
	}
	deployment := schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}

	fromV3 := func(t *testing.T) strategicpatch.LookupPatchMeta {
		spec, err := openapi3.NewRoot(client.OpenAPIV3()).GVSpec(deployment.GroupVersion())
		if err != nil {
			t.Fatalf("GVSpec: %v", err)
		}
		for _, s := range spec.Components.Schemas {
			var gvks []map[string]string
			if err := s.Extensions.GetObject(extensionGVK, &gvks); err == nil && len(gvks) == 1 &&
				gvks[0]["group"] == deployment.Group && gvks[0]["kind"] == deployment.Kind {
				return strategicpatch.PatchMetaFromOpenAPIV3{Schema: s, SchemaList: spec.Components.Schemas}
			}
		}
		t.Fatalf("no v3 schema tagged %v", deployment)
		return nil
	}
	fromV2 := func(t *testing.T) strategicpatch.LookupPatchMeta {
		doc, err := client.OpenAPISchema()
		if err != nil {
			t.Fatalf("OpenAPISchema: %v", err)
		}
		resources, err := kubectlopenapi.NewOpenAPIData(doc)
		if err != nil {
			t.Fatalf("NewOpenAPIData: %v", err)
		}
		return strategicpatch.NewPatchMetaFromOpenAPI(resources.LookupResource(deployment))
	}
	fromStruct, err := strategicpatch.NewPatchMetaFromStruct(&appsv1.Deployment{})
	if err != nil {
		t.Fatalf("NewPatchMetaFromStruct: %v", err)
	}

	manifest := func(containers string) []byte {
		return []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"template":{"spec":{"containers":` + containers + `}}}}`)
	}
	original := manifest(`[{"name":"app","image":"app:1"},{"name":"log","image":"log:1"}]`)
	modified := manifest(`[{"name":"app","image":"app:2"},{"name":"log","image":"log:1"},{"name":"cache","image":"cache:1"}]`)
	current := manifest(`[{"name":"app","image":"app:1"},{"name":"log","image":"log:1"},{"name":"sidecar","image":"mesh:1"}]`)
	want, err := strategicpatch.CreateThreeWayMergePatch(original, modified, current, fromStruct, false)
	if err != nil {
		t.Fatalf("patch from the Go types: %v", err)
	}
	if !strings.Contains(string(want), "$setElementOrder/containers") {
		t.Fatalf("patch from the Go types %s does not merge containers by name; the test is wrong", want)
	}

	for name, meta := range map[string]func(*testing.T) strategicpatch.LookupPatchMeta{"v3": fromV3, "v2": fromV2} {
		t.Run(name, func(t *testing.T) {
			got, err := strategicpatch.CreateThreeWayMergePatch(original, modified, current, meta(t), false)
			if err != nil {
				t.Fatalf("CreateThreeWayMergePatch: %v", err)
			}
			if string(got) != string(want) {
				t.Errorf("patch: got %s, want %s", got, want)
			}
		})
	}
}

// TestFieldValidationSupportDetected runs the check kubectl and helm make
// before they rely on server-side field validation: the PATCH operation of
// the kind must take the fieldValidation query parameter.
func TestFieldValidationSupportDetected(t *testing.T) {
	srv := newTestServer(t, New(testKinds()))
	client, err := discovery.NewDiscoveryClientForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatalf("NewDiscoveryClientForConfig: %v", err)
	}
	// The dynamic client only serves the lookup of custom resources, which
	// these kinds are not.
	verifier := resource.NewQueryParamVerifierV3(nil, client.OpenAPIV3(), resource.QueryParamFieldValidation)
	for _, gvk := range []schema.GroupVersionKind{
		{Version: "v1", Kind: "Pod"},
		{Version: "v1", Kind: "Node"},
		{Group: "apps", Version: "v1", Kind: "Deployment"},
		{Group: "coordination.k8s.io", Version: "v1", Kind: "Lease"},
	} {
		t.Run(gvk.String(), func(t *testing.T) {
			if err := verifier.HasSupport(gvk); err != nil {
				t.Errorf("HasSupport(%v): got %v, want nil", gvk, err)
			}
		})
	}
}
