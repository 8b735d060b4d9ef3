package apiserver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/navarch/navarch/internal/registry/builtin"
)

// TestDiscoveryConcurrentRequests checks that concurrent requests for the
// shared discovery documents each get the document with its own kind and
// apiVersion. The encoder sets the kind on what it encodes: on the shared
// document itself that was a data race (seen with -race in
// test/integration, the controllers' discovery clients asking at once).
func TestDiscoveryConcurrentRequests(t *testing.T) {
	s, err := New(Config{Storage: etcdStore(t), Kinds: builtin.Kinds()})
	if err != nil {
		t.Fatal(err)
	}
	s.SetReady()
	h := s.Handler()
	type want struct{ path, accept, apiVersion, kind string }
	docs := []want{
		{"/api", "application/json", "v1", "APIVersions"},
		{"/apis", "application/json", "v1", "APIGroupList"},
		{"/api/v1", "application/json", "v1", "APIResourceList"},
		{"/apis/apps", "application/json", "v1", "APIGroup"},
		{"/apis/apps/v1", "application/json", "v1", "APIResourceList"},
		{"/api", aggregatedMediaType, "apidiscovery.k8s.io/v2", "APIGroupDiscoveryList"},
		{"/apis", aggregatedMediaType, "apidiscovery.k8s.io/v2", "APIGroupDiscoveryList"},
	}
	var wg sync.WaitGroup
	for range 8 {
		for _, d := range docs {
			wg.Go(func() {
				for range 20 {
					r := httptest.NewRequest(http.MethodGet, d.path, nil)
					r.Header.Set("Accept", d.accept)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, r)
					var got struct{ APIVersion, Kind string }
					if err := json.Unmarshal(w.Body.Bytes(), &got); w.Code != http.StatusOK || err != nil {
						t.Errorf("GET %s (%s): %d %v: %s", d.path, d.accept, w.Code, err, w.Body.String())
						return
					}
					if got.APIVersion != d.apiVersion || got.Kind != d.kind {
						t.Errorf("GET %s (%s): apiVersion %q kind %q, want %q %q", d.path, d.accept, got.APIVersion, got.Kind, d.apiVersion, d.kind)
						return
					}
				}
			})
		}
	}
	wg.Wait()
}
