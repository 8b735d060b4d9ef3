package openapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	openapi_v3 "github.com/google/gnostic-models/openapiv3"
	"google.golang.org/protobuf/proto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// format is the encoding of a document body.
type format int

const (
	formatJSON format = iota
	formatProtobuf
)

// mediaType is a media type a handler offers, the format it means, and the
// Content-Type of the answer.
type mediaType struct {
	typ, subtype string
	format       format
	contentType  string
}

// The media types of the documents. The protobuf ones are gnostic's
// openapi_v2.Document and openapi_v3.Document. Clients ask for them with
// an "@" (client-go's discovery and openapi clients), which is not a valid
// media type: Go's mime.ParseMediaType, which client-go runs on every
// Content-Type, rejects it. So the answer always names the dotted spelling,
// which upstream accepts too.
var (
	offersV2 = []mediaType{
		{"application", "json", formatJSON, "application/json"},
		{"application", "com.github.proto-openapi.spec.v2@v1.0+protobuf", formatProtobuf, contentTypeProtobufV2},
		{"application", "com.github.proto-openapi.spec.v2.v1.0+protobuf", formatProtobuf, contentTypeProtobufV2},
	}
	offersV3 = []mediaType{
		{"application", "json", formatJSON, "application/json"},
		{"application", "com.github.proto-openapi.spec.v3@v1.0+protobuf", formatProtobuf, contentTypeProtobufV3},
		{"application", "com.github.proto-openapi.spec.v3.v1.0+protobuf", formatProtobuf, contentTypeProtobufV3},
	}
	offersIndex = []mediaType{{"application", "json", formatJSON, "application/json"}}
)

const (
	contentTypeProtobufV2 = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
	contentTypeProtobufV3 = "application/com.github.proto-openapi.spec.v3.v1.0+protobuf"
)

// encodedDocument is one document in every encoding it is served in. The
// JSON form and the ETag are made with it; the protobuf and gzip forms on
// their first request. Safe for concurrent use.
type encodedDocument struct {
	json []byte
	// etag is the upper-case hex SHA-512 of json, unquoted, as upstream
	// computes it. Every encoding shares it (responses vary by Accept);
	// the v3 index uses it as the hash of a group version's URL.
	etag string
	// toProtobuf converts json to the gnostic protobuf form; nil when the
	// document has none.
	toProtobuf func(json []byte) ([]byte, error)

	protobuf, jsonGzip, protobufGzip lazyBytes
}

// lazyBytes is a byte slice made once, on first use.
type lazyBytes struct {
	once sync.Once
	data []byte
	err  error
}

func (l *lazyBytes) get(build func() ([]byte, error)) ([]byte, error) {
	l.once.Do(func() { l.data, l.err = build() })
	return l.data, l.err
}

// newEncodedDocument encodes doc as JSON.
func newEncodedDocument(doc any, toProtobuf func([]byte) ([]byte, error)) (*encodedDocument, error) {
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi: encoding a document as JSON: %w", err)
	}
	sum := sha512.Sum512(data)
	return &encodedDocument{json: data, etag: fmt.Sprintf("%X", sum), toProtobuf: toProtobuf}, nil
}

// body returns the document in format f, gzipped if asked.
func (d *encodedDocument) body(f format, gzipped bool) ([]byte, error) {
	switch {
	case f == formatJSON && !gzipped:
		return d.json, nil
	case f == formatJSON:
		return d.jsonGzip.get(func() ([]byte, error) { return gzipBytes(d.json) })
	case d.toProtobuf == nil:
		return nil, fmt.Errorf("openapi: the document has no protobuf form")
	}
	protobuf, err := d.protobuf.get(func() ([]byte, error) { return d.toProtobuf(d.json) })
	if err != nil || !gzipped {
		return protobuf, err
	}
	return d.protobufGzip.get(func() ([]byte, error) { return gzipBytes(protobuf) })
}

// protobufV2 converts a Swagger 2.0 JSON document to gnostic's protobuf.
func protobufV2(data []byte) ([]byte, error) {
	doc, err := openapi_v2.ParseDocument(data)
	if err != nil {
		return nil, fmt.Errorf("openapi: converting the v2 document to protobuf: %w", err)
	}
	return marshalProtobuf(doc)
}

// protobufV3 converts an OpenAPI 3.0 JSON document to gnostic's protobuf.
func protobufV3(data []byte) ([]byte, error) {
	doc, err := openapi_v3.ParseDocument(data)
	if err != nil {
		return nil, fmt.Errorf("openapi: converting a v3 document to protobuf: %w", err)
	}
	return marshalProtobuf(doc)
}

func marshalProtobuf(m proto.Message) ([]byte, error) {
	data, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("openapi: encoding protobuf: %w", err)
	}
	return data, nil
}

func gzipBytes(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		return nil, fmt.Errorf("openapi: gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("openapi: gzip: %w", err)
	}
	return buf.Bytes(), nil
}

// acceptClause is one media range of an Accept header.
type acceptClause struct {
	typ, subtype string
	q            float64
}

// parseAccept returns the media ranges of an Accept header, most preferred
// first: by quality, then the more specific before wildcards. An empty
// header accepts anything. Ranges with q=0 are dropped. The media types of
// OpenAPI contain "@", which mime.ParseMediaType rejects, so this parser is
// lenient.
func parseAccept(header string) []acceptClause {
	if strings.TrimSpace(header) == "" {
		header = "*/*"
	}
	var clauses []acceptClause
	for _, part := range strings.Split(header, ",") {
		fields := strings.Split(part, ";")
		typ, subtype, ok := strings.Cut(strings.ToLower(strings.TrimSpace(fields[0])), "/")
		if !ok || typ == "" || subtype == "" {
			continue
		}
		c := acceptClause{typ: strings.TrimSpace(typ), subtype: strings.TrimSpace(subtype), q: 1}
		for _, param := range fields[1:] {
			key, value, _ := strings.Cut(param, "=")
			if strings.TrimSpace(key) == "q" {
				if q, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
					c.q = q
				}
			}
		}
		if c.q > 0 {
			clauses = append(clauses, c)
		}
	}
	specificity := func(c acceptClause) int {
		switch {
		case c.typ == "*":
			return 0
		case c.subtype == "*":
			return 1
		}
		return 2
	}
	sort.SliceStable(clauses, func(i, j int) bool {
		if clauses[i].q != clauses[j].q {
			return clauses[i].q > clauses[j].q
		}
		return specificity(clauses[i]) > specificity(clauses[j])
	})
	return clauses
}

// negotiate picks the first offer the most preferred acceptable range
// matches; ok is false when the header accepts none of them.
func negotiate(accept string, offers []mediaType) (mediaType, bool) {
	for _, c := range parseAccept(accept) {
		for _, o := range offers {
			if (c.typ == "*" || c.typ == o.typ) && (c.subtype == "*" || c.subtype == o.subtype) {
				return o, true
			}
		}
	}
	return mediaType{}, false
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		fields := strings.Split(part, ";")
		coding := strings.ToLower(strings.TrimSpace(fields[0]))
		if coding != "gzip" && coding != "*" {
			continue
		}
		q := 1.0
		for _, param := range fields[1:] {
			key, value, _ := strings.Cut(param, "=")
			if strings.TrimSpace(key) == "q" {
				if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
					q = v
				}
			}
		}
		if q > 0 {
			return true
		}
	}
	return false
}

// etagMatches reports whether an If-None-Match header names etag (quoted),
// comparing weakly as RFC 9110 asks for If-None-Match.
func etagMatches(ifNoneMatch, etag string) bool {
	for _, candidate := range strings.Split(ifNoneMatch, ",") {
		candidate = strings.TrimSpace(candidate)
		if candidate == "*" || strings.TrimPrefix(candidate, "W/") == etag {
			return true
		}
	}
	return false
}

// writeDocument answers a GET or HEAD with doc in the negotiated media
// type: 304 when the client already has it, gzipped when the client takes
// gzip.
func writeDocument(w http.ResponseWriter, r *http.Request, doc *encodedDocument, mt mediaType) {
	header := w.Header()
	header.Add("Vary", "Accept")
	header.Add("Vary", "Accept-Encoding")
	etag := strconv.Quote(doc.etag)
	header.Set("ETag", etag)
	if etagMatches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	gzipped := acceptsGzip(r.Header.Get("Accept-Encoding"))
	body, err := doc.body(mt.format, gzipped)
	if err != nil {
		header.Del("ETag")
		writeStatus(w, http.StatusInternalServerError, err.Error())
		return
	}
	header.Set("Content-Type", mt.contentType)
	if gzipped {
		header.Set("Content-Encoding", "gzip")
	}
	header.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// writeStatus answers with an error as a metav1.Status, as the API server
// answers every failed request.
func writeStatus(w http.ResponseWriter, code int, message string) {
	reasons := map[int]metav1.StatusReason{
		http.StatusNotFound:         metav1.StatusReasonNotFound,
		http.StatusMethodNotAllowed: metav1.StatusReasonMethodNotAllowed,
		http.StatusNotAcceptable:    metav1.StatusReasonNotAcceptable,
	}
	reason, ok := reasons[code]
	if !ok {
		reason = metav1.StatusReasonInternalError
	}
	status := metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure,
		Message:  message,
		Reason:   reason,
		Code:     int32(code),
	}
	data, err := json.Marshal(status)
	if err != nil {
		http.Error(w, message, code)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(code)
	_, _ = w.Write(data)
}
