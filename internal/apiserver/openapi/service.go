package openapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/navarch/navarch/internal/registry"
)

// Paths the service answers.
const (
	pathV2 = "/openapi/v2"
	pathV3 = "/openapi/v3"
)

// Service serves the OpenAPI documents of a fixed set of kinds. New does no
// work; each document is built on its first request (concurrent first
// requests wait for the one build) and kept only as encoded bytes. The
// methods are safe for concurrent use.
type Service struct {
	kinds []*registry.Kind

	v2Once sync.Once
	v2     *encodedDocument // set by v2Once
	v2Err  error            // set by v2Once

	v3Once sync.Once
	v3     *v3Documents // set by v3Once
	v3Err  error        // set by v3Once
}

// v3Documents are the encoded v3 documents.
type v3Documents struct {
	// index is /openapi/v3: the URL of every group version's document.
	index *encodedDocument
	// byPath holds the document of each group version by its path below
	// /openapi/v3/ ("api/v1", "apis/apps/v1").
	byPath map[string]*encodedDocument
}

// v3Index is the JSON of /openapi/v3, as client-go's openapi client reads
// it (k8s.io/kube-openapi/pkg/handler3.OpenAPIV3Discovery).
type v3Index struct {
	Paths map[string]v3IndexEntry `json:"paths"`
}

type v3IndexEntry struct {
	ServerRelativeURL string `json:"serverRelativeURL"`
}

// New returns a Service for kinds. Every kind needs GroupVersion, Resource,
// Kind, Namespaced, New and NewList (but for the create-only *Review
// kinds, which get only a create operation); Status and Scale add those
// subresources. The Go types of New and NewList (and of everything they
// reference) must have generated definitions (hack/update-openapi.sh), or
// the documents fail to build and the handlers answer 500.
func New(kinds []*registry.Kind) *Service {
	return &Service{kinds: append([]*registry.Kind(nil), kinds...)}
}

// ServeV2 answers GET and HEAD /openapi/v2 with the Swagger 2.0 document:
// JSON, or gnostic protobuf when the Accept header asks for
// "application/com.github.proto-openapi.spec.v2@v1.0+protobuf" as
// client-go's discovery does (answered, as upstream answers, with the
// Content-Type "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"). It honours If-None-Match with the document's
// ETag and gzips when the client accepts it. Other paths get 404.
func (s *Service) ServeV2(w http.ResponseWriter, r *http.Request) {
	if !allowRead(w, r) {
		return
	}
	if strings.TrimSuffix(r.URL.Path, "/") != pathV2 {
		writeStatus(w, http.StatusNotFound, "the server could not find the requested resource")
		return
	}
	mt, ok := negotiate(r.Header.Get("Accept"), offersV2)
	if !ok {
		writeStatus(w, http.StatusNotAcceptable, notAcceptableMessage(offersV2))
		return
	}
	doc, err := s.documentV2()
	if err != nil {
		writeStatus(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeDocument(w, r, doc, mt)
}

// ServeV3 answers GET and HEAD below /openapi/v3. /openapi/v3 itself is
// the index, {"paths": {"apis/apps/v1": {"serverRelativeURL":
// "/openapi/v3/apis/apps/v1?hash=<HASH>"}, ...}}, with one entry per served
// group version. /openapi/v3/api/v1 and /openapi/v3/apis/<group>/<version>
// are the OpenAPI 3.0 documents, JSON or gnostic protobuf as client-go's
// openapi client asks. Given the current hash, a document is cacheable for
// good (Cache-Control: public, immutable); given a stale one, the answer
// redirects (301) to the current URL, as upstream does. ETag and gzip work
// as in ServeV2; an unknown group version gets 404.
func (s *Service) ServeV3(w http.ResponseWriter, r *http.Request) {
	if !allowRead(w, r) {
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, pathV3)
	if !ok || (rest != "" && !strings.HasPrefix(rest, "/")) {
		writeStatus(w, http.StatusNotFound, "the server could not find the requested resource")
		return
	}
	gvPath := strings.Trim(rest, "/")
	docs, err := s.documentsV3()
	if err != nil {
		writeStatus(w, http.StatusInternalServerError, err.Error())
		return
	}
	if gvPath == "" {
		mt, ok := negotiate(r.Header.Get("Accept"), offersIndex)
		if !ok {
			writeStatus(w, http.StatusNotAcceptable, notAcceptableMessage(offersIndex))
			return
		}
		writeDocument(w, r, docs.index, mt)
		return
	}
	doc, ok := docs.byPath[gvPath]
	if !ok {
		writeStatus(w, http.StatusNotFound, fmt.Sprintf("no OpenAPI v3 document for %q", gvPath))
		return
	}
	mt, ok := negotiate(r.Header.Get("Accept"), offersV3)
	if !ok {
		writeStatus(w, http.StatusNotAcceptable, notAcceptableMessage(offersV3))
		return
	}
	if hash := r.URL.Query().Get("hash"); hash != "" {
		if hash != doc.etag {
			w.Header().Add("Vary", "Accept")
			http.Redirect(w, r, v3URL(gvPath, doc.etag), http.StatusMovedPermanently)
			return
		}
		// The URL names this exact content: caches may keep it for good.
		w.Header().Set("Cache-Control", "public, immutable")
		w.Header().Set("Expires", time.Now().AddDate(1, 0, 0).UTC().Format(http.TimeFormat))
	}
	writeDocument(w, r, doc, mt)
}

// documentV2 builds the v2 document on first use.
func (s *Service) documentV2() (*encodedDocument, error) {
	s.v2Once.Do(func() {
		index, err := newKindIndex(s.kinds)
		if err != nil {
			s.v2Err = err
			return
		}
		swagger, err := buildV2(s.kinds, index)
		if err != nil {
			s.v2Err = err
			return
		}
		s.v2, s.v2Err = newEncodedDocument(swagger, protobufV2)
	})
	return s.v2, s.v2Err
}

// documentsV3 builds the v3 documents and their index on first use.
func (s *Service) documentsV3() (*v3Documents, error) {
	s.v3Once.Do(func() { s.v3, s.v3Err = buildV3Documents(s.kinds) })
	return s.v3, s.v3Err
}

func buildV3Documents(kinds []*registry.Kind) (*v3Documents, error) {
	index, err := newKindIndex(kinds)
	if err != nil {
		return nil, err
	}
	specs, err := buildV3(kinds, index)
	if err != nil {
		return nil, err
	}
	docs := &v3Documents{byPath: make(map[string]*encodedDocument, len(specs))}
	entries := v3Index{Paths: make(map[string]v3IndexEntry, len(specs))}
	for gvPath, spec := range specs {
		doc, err := newEncodedDocument(spec, protobufV3)
		if err != nil {
			return nil, err
		}
		docs.byPath[gvPath] = doc
		entries.Paths[gvPath] = v3IndexEntry{ServerRelativeURL: v3URL(gvPath, doc.etag)}
	}
	if docs.index, err = newEncodedDocument(entries, nil); err != nil {
		return nil, err
	}
	return docs, nil
}

// v3URL is the server-relative URL of a group version's v3 document.
func v3URL(gvPath, hash string) string {
	return pathV3 + "/" + gvPath + "?" + url.Values{"hash": {hash}}.Encode()
}

// allowRead answers 405 to anything but GET and HEAD; it reports whether
// the request may go on.
func allowRead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	writeStatus(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not supported on %s", r.Method, r.URL.Path))
	return false
}

func notAcceptableMessage(offers []mediaType) string {
	types := make([]string, len(offers))
	for i, o := range offers {
		types[i] = o.typ + "/" + o.subtype
	}
	return "only the following media types are accepted: " + strings.Join(types, ", ")
}
