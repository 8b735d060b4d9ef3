package openapi

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	openapi_v3 "github.com/google/gnostic-models/openapiv3"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/openapi3"
	"k8s.io/client-go/rest"
	"k8s.io/kube-openapi/pkg/handler3"
)

// The Accept headers client-go sends.
const (
	acceptProtobufV2 = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
	acceptProtobufV3 = "application/com.github.proto-openapi.spec.v3@v1.0+protobuf"
)

func TestNewBuildsNothing(t *testing.T) {
	s := New(generatedKinds(t))
	if s.v2 != nil || s.v3 != nil {
		t.Errorf("New built documents: got v2 %v, v3 %v, want both nil until the first request", s.v2 != nil, s.v3 != nil)
	}
}

func TestProtobufIsTheJSONDocument(t *testing.T) {
	s := New(testKinds())
	tests := []struct {
		name            string
		handler         http.HandlerFunc
		target          string
		accept          string
		wantContentType string
		parse           func([]byte) (proto.Message, error)
		decoded         func() proto.Message
	}{
		{"v2", s.ServeV2, pathV2, acceptProtobufV2, contentTypeProtobufV2,
			func(b []byte) (proto.Message, error) { return openapi_v2.ParseDocument(b) },
			func() proto.Message { return &openapi_v2.Document{} }},
		{"v2 dotted media type", s.ServeV2, pathV2, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
			contentTypeProtobufV2,
			func(b []byte) (proto.Message, error) { return openapi_v2.ParseDocument(b) },
			func() proto.Message { return &openapi_v2.Document{} }},
		{"v3 apps/v1", s.ServeV3, pathV3 + "/apis/apps/v1", acceptProtobufV3, contentTypeProtobufV3,
			func(b []byte) (proto.Message, error) { return openapi_v3.ParseDocument(b) },
			func() proto.Message { return &openapi_v3.Document{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := get(tt.handler, tt.target, map[string]string{"Accept": tt.accept})
			if w.Code != http.StatusOK {
				t.Fatalf("GET %s: got %d, want 200", tt.target, w.Code)
			}
			if got := w.Header().Get("Content-Type"); got != tt.wantContentType {
				t.Errorf("Content-Type: got %q, want %q", got, tt.wantContentType)
			}
			got := tt.decoded()
			if err := proto.Unmarshal(w.Body.Bytes(), got); err != nil {
				t.Fatalf("decoding the protobuf: %v", err)
			}
			jsonBody := get(tt.handler, tt.target, nil)
			if ct := jsonBody.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type without Accept: got %q, want application/json", ct)
			}
			want, err := tt.parse(jsonBody.Body.Bytes())
			if err != nil {
				t.Fatalf("parsing the JSON document: %v", err)
			}
			if !proto.Equal(got, want) {
				t.Errorf("the protobuf document differs from the JSON one")
			}
			if w.Header().Get("ETag") != jsonBody.Header().Get("ETag") {
				t.Errorf("ETag: protobuf %q, JSON %q, want the same (responses vary by Accept)", w.Header().Get("ETag"), jsonBody.Header().Get("ETag"))
			}
		})
	}
}

func TestClientGoReadsTheDocuments(t *testing.T) {
	kinds := testKinds()
	srv := newTestServer(t, New(kinds))
	client, err := discovery.NewDiscoveryClientForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatalf("NewDiscoveryClientForConfig: %v", err)
	}

	t.Run("v2 as discovery reads it", func(t *testing.T) {
		doc, err := client.OpenAPISchema()
		if err != nil {
			t.Fatalf("OpenAPISchema: %v", err)
		}
		found := false
		for _, def := range doc.GetDefinitions().GetAdditionalProperties() {
			found = found || def.GetName() == "io.k8s.api.core.v1.Pod"
		}
		if !found {
			t.Errorf("OpenAPISchema: got %d definitions, want io.k8s.api.core.v1.Pod among them", len(doc.GetDefinitions().GetAdditionalProperties()))
		}
	})

	root := openapi3.NewRoot(client.OpenAPIV3())
	t.Run("v3 group versions", func(t *testing.T) {
		gvs, err := root.GroupVersions()
		if err != nil {
			t.Fatalf("GroupVersions: %v", err)
		}
		var got []string
		for _, gv := range gvs {
			got = append(got, groupVersionPath(gv)[1:])
		}
		if diff := cmp.Diff(servedGroupVersions(kinds), got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
			t.Errorf("GroupVersions (-want +got):\n%s", diff)
		}
	})

	tests := []struct {
		gv       schema.GroupVersion
		kind     string
		wantName string
	}{
		{schema.GroupVersion{Group: "apps", Version: "v1"}, "Deployment", "io.k8s.api.apps.v1.Deployment"},
		{schema.GroupVersion{Version: "v1"}, "Pod", "io.k8s.api.core.v1.Pod"},
		{schema.GroupVersion{Group: "events.k8s.io", Version: "v1"}, "Event", "io.k8s.api.events.v1.Event"},
	}
	for _, tt := range tests {
		t.Run("v3 "+tt.gv.String()+" "+tt.kind, func(t *testing.T) {
			spec, err := root.GVSpec(tt.gv)
			if err != nil {
				t.Fatalf("GVSpec(%v): %v", tt.gv, err)
			}
			s, ok := spec.Components.Schemas[tt.wantName]
			if !ok {
				t.Fatalf("GVSpec(%v): no schema %s", tt.gv, tt.wantName)
			}
			want := []interface{}{map[string]interface{}{"group": tt.gv.Group, "version": tt.gv.Version, "kind": tt.kind}}
			if diff := cmp.Diff(want, s.Extensions[extensionGVK]); diff != "" {
				t.Errorf("%s %s (-want +got):\n%s", tt.wantName, extensionGVK, diff)
			}
		})
	}
}

func TestV3Index(t *testing.T) {
	kinds := testKinds()
	s := New(kinds)
	w := get(s.ServeV3, pathV3, nil)
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: got %d %q, want 200 application/json", pathV3, w.Code, w.Header().Get("Content-Type"))
	}
	var index handler3.OpenAPIV3Discovery
	if err := json.Unmarshal(w.Body.Bytes(), &index); err != nil {
		t.Fatalf("decoding the index: %v", err)
	}
	var got []string
	for gv := range index.Paths {
		got = append(got, gv)
	}
	if diff := cmp.Diff(servedGroupVersions(kinds), got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Fatalf("index paths (-want +got):\n%s", diff)
	}

	for _, k := range kinds {
		gv := groupVersionPath(k.GroupVersion)[1:]
		t.Run(k.GroupVersionKind().String(), func(t *testing.T) {
			url := index.Paths[gv].ServerRelativeURL
			w := get(s.ServeV3, url, nil)
			if w.Code != http.StatusOK {
				t.Fatalf("GET %s: got %d, want 200", url, w.Code)
			}
			if got := w.Header().Get("Cache-Control"); got != "public, immutable" {
				t.Errorf("Cache-Control of the hashed URL: got %q, want %q", got, "public, immutable")
			}
			doc := decodeDocument(t, w.Body.Bytes())
			want := []gvkJSON{{k.GroupVersion.Group, k.GroupVersion.Version, k.Kind}}
			if got := doc.Components.Schemas[modelName(k.New())].GVKs; !cmp.Equal(got, want) {
				t.Errorf("schema %s tags: got %v, want %v", modelName(k.New()), got, want)
			}
		})
	}
}

func TestV3StaleHashRedirects(t *testing.T) {
	s := New(testKinds())
	var index handler3.OpenAPIV3Discovery
	if err := json.Unmarshal(fetch(t, s, pathV3), &index); err != nil {
		t.Fatalf("decoding the index: %v", err)
	}
	current := index.Paths["apis/apps/v1"].ServerRelativeURL
	w := get(s.ServeV3, pathV3+"/apis/apps/v1?hash=0123", nil)
	if w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != current {
		t.Errorf("stale hash: got %d to %q, want 301 to %q", w.Code, w.Header().Get("Location"), current)
	}
	w = get(s.ServeV3, pathV3+"/apis/apps/v1", nil)
	if w.Code != http.StatusOK || w.Header().Get("Cache-Control") != "" {
		t.Errorf("no hash: got %d with Cache-Control %q, want 200 without one", w.Code, w.Header().Get("Cache-Control"))
	}
}

func TestETag(t *testing.T) {
	s := New(testKinds())
	tests := []struct {
		name    string
		handler http.HandlerFunc
		target  string
		accept  string
	}{
		{"v2 json", s.ServeV2, pathV2, ""},
		{"v2 protobuf", s.ServeV2, pathV2, acceptProtobufV2},
		{"v3 index", s.ServeV3, pathV3, ""},
		{"v3 document", s.ServeV3, pathV3 + "/api/v1", ""},
		{"v3 document protobuf", s.ServeV3, pathV3 + "/apis/apps/v1", acceptProtobufV3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := get(tt.handler, tt.target, map[string]string{"Accept": tt.accept})
			etag := first.Header().Get("ETag")
			if first.Code != http.StatusOK || etag == "" {
				t.Fatalf("first GET: got %d with ETag %q, want 200 with an ETag", first.Code, etag)
			}
			conditional := []struct {
				ifNoneMatch string
				wantCode    int
			}{
				{etag, http.StatusNotModified},
				{"W/" + etag, http.StatusNotModified},
				{`"other", ` + etag, http.StatusNotModified},
				{`"other"`, http.StatusOK},
			}
			for _, c := range conditional {
				w := get(tt.handler, tt.target, map[string]string{"Accept": tt.accept, "If-None-Match": c.ifNoneMatch})
				if w.Code != c.wantCode {
					t.Errorf("If-None-Match %s: got %d, want %d", c.ifNoneMatch, w.Code, c.wantCode)
				}
				if c.wantCode == http.StatusNotModified && w.Body.Len() != 0 {
					t.Errorf("If-None-Match %s: got a %d-byte body with 304, want none", c.ifNoneMatch, w.Body.Len())
				}
			}
		})
	}
}

func TestGzip(t *testing.T) {
	s := New(testKinds())
	tests := []struct {
		name    string
		handler http.HandlerFunc
		target  string
		accept  string
	}{
		{"v2 json", s.ServeV2, pathV2, ""},
		{"v2 protobuf", s.ServeV2, pathV2, acceptProtobufV2},
		{"v3 document", s.ServeV3, pathV3 + "/apis/apps/v1", ""},
		{"v3 document protobuf", s.ServeV3, pathV3 + "/apis/apps/v1", acceptProtobufV3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plain := get(tt.handler, tt.target, map[string]string{"Accept": tt.accept})
			zipped := get(tt.handler, tt.target, map[string]string{"Accept": tt.accept, "Accept-Encoding": "gzip, deflate"})
			if got := zipped.Header().Get("Content-Encoding"); got != "gzip" {
				t.Fatalf("Content-Encoding: got %q, want gzip", got)
			}
			if got := plain.Header().Get("Content-Encoding"); got != "" {
				t.Errorf("Content-Encoding without Accept-Encoding: got %q, want none", got)
			}
			zr, err := gzip.NewReader(zipped.Body)
			if err != nil {
				t.Fatalf("gzip.NewReader: %v", err)
			}
			unzipped, err := io.ReadAll(zr)
			if err != nil {
				t.Fatalf("gunzip: %v", err)
			}
			if !bytes.Equal(unzipped, plain.Body.Bytes()) {
				t.Errorf("gunzipped body: got %d bytes, want the %d plain ones", len(unzipped), plain.Body.Len())
			}
			if zipped.Body.Len() >= plain.Body.Len() {
				t.Errorf("gzipped body: got %d bytes, want fewer than the %d plain ones", zipped.Body.Len(), plain.Body.Len())
			}
		})
	}
}

func TestHead(t *testing.T) {
	s := New(testKinds())
	r := httptest.NewRequest(http.MethodHead, pathV2, nil)
	w := httptest.NewRecorder()
	s.ServeV2(w, r)
	if w.Code != http.StatusOK || w.Body.Len() != 0 || w.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD %s: got %d, %d-byte body, Content-Length %q; want 200, no body, a Content-Length",
			pathV2, w.Code, w.Body.Len(), w.Header().Get("Content-Length"))
	}
}

func TestErrors(t *testing.T) {
	s := New(testKinds())
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		method   string
		target   string
		accept   string
		wantCode int
	}{
		{"unknown group version", s.ServeV3, http.MethodGet, pathV3 + "/apis/nope.example.com/v1", "", http.StatusNotFound},
		{"unserved version", s.ServeV3, http.MethodGet, pathV3 + "/apis/apps/v2", "", http.StatusNotFound},
		{"group without version", s.ServeV3, http.MethodGet, pathV3 + "/apis/apps", "", http.StatusNotFound},
		{"v3 prefix lookalike", s.ServeV3, http.MethodGet, "/openapi/v3x", "", http.StatusNotFound},
		{"below v2", s.ServeV2, http.MethodGet, pathV2 + "/apis", "", http.StatusNotFound},
		{"post v2", s.ServeV2, http.MethodPost, pathV2, "", http.StatusMethodNotAllowed},
		{"delete v3", s.ServeV3, http.MethodDelete, pathV3 + "/api/v1", "", http.StatusMethodNotAllowed},
		{"v2 as html", s.ServeV2, http.MethodGet, pathV2, "text/html", http.StatusNotAcceptable},
		{"v3 index as protobuf", s.ServeV3, http.MethodGet, pathV3, acceptProtobufV3, http.StatusNotAcceptable},
		{"v3 document as v2 protobuf", s.ServeV3, http.MethodGet, pathV3 + "/api/v1", acceptProtobufV2, http.StatusNotAcceptable},
		{"v2 trailing slash", s.ServeV2, http.MethodGet, pathV2 + "/", "", http.StatusOK},
		{"v3 index trailing slash", s.ServeV3, http.MethodGet, pathV3 + "/", "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, nil)
			if tt.accept != "" {
				r.Header.Set("Accept", tt.accept)
			}
			w := httptest.NewRecorder()
			tt.handler(w, r)
			if w.Code != tt.wantCode {
				t.Fatalf("%s %s: got %d %s, want %d", tt.method, tt.target, w.Code, w.Body.String(), tt.wantCode)
			}
			if tt.wantCode < 400 {
				return
			}
			var status struct {
				Kind string `json:"kind"`
				Code int    `json:"code"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &status); err != nil || status.Kind != "Status" || status.Code != tt.wantCode {
				t.Errorf("error body: got %s (%v), want a Status with code %d", w.Body.String(), err, tt.wantCode)
			}
		})
	}
}

// TestConcurrentFirstRequests checks that requests racing to build a
// document all get the one document (run with -race to check the build).
func TestConcurrentFirstRequests(t *testing.T) {
	s := New(testKinds())
	const clients = 8
	etags := make([]string, clients*2)
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			etags[2*i] = get(s.ServeV2, pathV2, nil).Header().Get("ETag")
		}()
		go func() {
			defer wg.Done()
			etags[2*i+1] = get(s.ServeV3, pathV3+"/api/v1", nil).Header().Get("ETag")
		}()
	}
	wg.Wait()
	for i := 2; i < len(etags); i++ {
		if etags[i] == "" || etags[i] != etags[i%2] {
			t.Errorf("request %d: got ETag %q, want %q like the first of its kind", i, etags[i], etags[i%2])
		}
	}
}
