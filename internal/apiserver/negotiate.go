package apiserver

import (
	"mime"
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/navarch/navarch/internal/api"
)

// mediaRequest is one entry of an Accept header.
type mediaRequest struct {
	Type   string // "application/json"
	Params map[string]string
}

// as returns what the entry asks the object to be transformed into:
// "Table", "PartialObjectMetadata", "PartialObjectMetadataList",
// "APIGroupDiscoveryList", or "" for the object itself.
func (m mediaRequest) as() string { return m.Params["as"] }

func (m mediaRequest) groupVersion() (string, string) { return m.Params["g"], m.Params["v"] }

// parseAccept splits an Accept header into its entries, in order, ignoring
// malformed ones. An empty header means "*/*".
func parseAccept(header string) []mediaRequest {
	if strings.TrimSpace(header) == "" {
		return []mediaRequest{{Type: "*/*"}}
	}
	var out []mediaRequest
	for _, part := range strings.Split(header, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if q, ok := params["q"]; ok && (q == "0" || q == "0.0") {
			continue
		}
		out = append(out, mediaRequest{Type: mt, Params: params})
	}
	return out
}

// serializerFor returns the serializer for a media type ("application/json",
// "*/*" and "application/*" give JSON), or false when none serves it.
func serializerFor(mediaType string) (runtime.SerializerInfo, bool) {
	switch mediaType {
	case "*/*", "application/*", "":
		mediaType = runtime.ContentTypeJSON
	}
	for _, info := range api.Codecs.SupportedMediaTypes() {
		if info.MediaType == mediaType {
			return info, true
		}
	}
	return runtime.SerializerInfo{}, false
}

// negotiated is the outcome of content negotiation for one response.
type negotiated struct {
	info runtime.SerializerInfo
	// as is the transformation asked for ("" for none); only set when the
	// server supports it for this request.
	as string
	// includeObject policy for Table rows ("None", "Metadata", "Object").
	gv string // group/version of the transformation
}

// negotiate picks the first Accept entry the server can serve. supportsAs
// says which transformations ("Table", ...) the endpoint offers. The bool
// is false when nothing acceptable exists (406).
func negotiate(r *http.Request, supportsAs func(as, group, version string) bool) (negotiated, bool) {
	for _, m := range parseAccept(r.Header.Get("Accept")) {
		info, ok := serializerFor(m.Type)
		if !ok {
			continue
		}
		if as := m.as(); as != "" {
			g, v := m.groupVersion()
			if supportsAs == nil || !supportsAs(as, g, v) {
				continue
			}
			return negotiated{info: info, as: as, gv: g + "/" + v}, true
		}
		return negotiated{info: info}, true
	}
	return negotiated{}, false
}
