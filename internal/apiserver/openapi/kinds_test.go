package openapi

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/navarch/navarch/internal/registry"
)

// testKinds is a small served set, built by hand: namespaced and cluster
// kinds, status and scale subresources, a create-only review, and a group
// whose kind shares its name with a core kind.
func testKinds() []*registry.Kind {
	return []*registry.Kind{
		{GroupVersion: corev1.SchemeGroupVersion, Resource: "pods", Kind: "Pod", Namespaced: true,
			New: func() runtime.Object { return &corev1.Pod{} }, NewList: func() runtime.Object { return &corev1.PodList{} },
			Status: fakeStatus{}},
		{GroupVersion: corev1.SchemeGroupVersion, Resource: "nodes", Kind: "Node",
			New: func() runtime.Object { return &corev1.Node{} }, NewList: func() runtime.Object { return &corev1.NodeList{} },
			Status: fakeStatus{}},
		{GroupVersion: appsv1.SchemeGroupVersion, Resource: "deployments", Kind: "Deployment", Namespaced: true,
			New: func() runtime.Object { return &appsv1.Deployment{} }, NewList: func() runtime.Object { return &appsv1.DeploymentList{} },
			Status: fakeStatus{}, Scale: &registry.Scale{}},
		{GroupVersion: coordinationv1.SchemeGroupVersion, Resource: "leases", Kind: "Lease", Namespaced: true,
			New: func() runtime.Object { return &coordinationv1.Lease{} }, NewList: func() runtime.Object { return &coordinationv1.LeaseList{} }},
		{GroupVersion: authenticationv1.SchemeGroupVersion, Resource: "tokenreviews", Kind: "TokenReview",
			New: func() runtime.Object { return &authenticationv1.TokenReview{} }},
		{GroupVersion: eventsv1.SchemeGroupVersion, Resource: "events", Kind: "Event", Namespaced: true,
			New: func() runtime.Object { return &eventsv1.Event{} }, NewList: func() runtime.Object { return &eventsv1.EventList{} }},
	}
}

// fakeStatus marks a kind as having a status subresource; the documents
// never call it.
type fakeStatus struct{}

func (fakeStatus) PrepareForStatusUpdate(obj, old runtime.Object) {}
func (fakeStatus) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	return nil
}

// generatedKinds returns a kind for every top-level type of the generated
// groups: each type T with a TList beside it, and the create-only reviews. It stands for the full served
// set in the tests that every kind has its definitions, and in the
// benchmarks.
func generatedKinds(t testing.TB) []*registry.Kind {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := generatedGroups(scheme); err != nil {
		t.Fatalf("generatedGroups: %v", err)
	}
	var kinds []*registry.Kind
	for gvk, typ := range scheme.AllKnownTypes() {
		if gvk.Version == runtime.APIVersionInternal || strings.HasSuffix(gvk.Kind, "List") {
			continue
		}
		k := &registry.Kind{
			GroupVersion: gvk.GroupVersion(),
			Resource:     strings.ToLower(gvk.Kind) + "s",
			Kind:         gvk.Kind,
			Namespaced:   true,
			New:          newOf(typ),
		}
		listType, hasList := scheme.AllKnownTypes()[gvk.GroupVersion().WithKind(gvk.Kind+"List")]
		switch {
		case hasList:
			k.NewList = newOf(listType)
		case !createOnly(k):
			continue
		}
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		return kinds[i].GroupVersionKind().String() < kinds[j].GroupVersionKind().String()
	})
	return kinds
}

func newOf(t reflect.Type) func() runtime.Object {
	return func() runtime.Object { return reflect.New(t).Interface().(runtime.Object) }
}

// servedGroupVersions are the group versions of kinds, as v3 paths.
func servedGroupVersions(kinds []*registry.Kind) []string {
	seen := map[schema.GroupVersion]bool{}
	var paths []string
	for _, k := range kinds {
		if !seen[k.GroupVersion] {
			seen[k.GroupVersion] = true
			paths = append(paths, strings.TrimPrefix(groupVersionPath(k.GroupVersion), "/"))
		}
	}
	sort.Strings(paths)
	return paths
}

// newTestServer serves s as the API server routes it.
func newTestServer(t testing.TB, s *Service) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/openapi/v2", s.ServeV2)
	mux.HandleFunc("/openapi/v3", s.ServeV3)
	mux.HandleFunc("/openapi/v3/", s.ServeV3)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// get serves one request through handler and returns the response.
func get(handler http.HandlerFunc, target string, header map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	handler(w, r)
	return w
}
