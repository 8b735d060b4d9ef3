package apiserver

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	"github.com/navarch/navarch/internal/api"
)

const (
	// maxRequestBodyBytes caps request bodies, as upstream's 3 MiB limit.
	maxRequestBodyBytes = 3 * 1024 * 1024
	// maxObjectBytes is the largest object etcd accepts by default
	// (--max-request-bytes 1.5 MiB); larger objects get 413.
	maxObjectBytes = 1536 * 1024
)

// strictCodecs decode like api.Codecs but report unknown and duplicate
// fields (the object is decoded all the same).
var strictCodecs = serializer.NewCodecFactory(api.Scheme, serializer.EnableStrict)

// readBody reads the whole request body, refusing bodies over the limit
// with 413.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	if n := r.ContentLength; n >= 0 && n <= maxRequestBodyBytes {
		// The declared length (every client-go request has one): one
		// buffer of that size instead of ReadAll's doublings. net/http
		// ends the body at that length.
		data := make([]byte, n)
		if _, err := io.ReadFull(r.Body, data); err != nil {
			return nil, apierrors.NewBadRequest("reading request body: " + err.Error())
		}
		return data, nil
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBodyBytes+1))
	if err != nil {
		return nil, apierrors.NewBadRequest("reading request body: " + err.Error())
	}
	if len(data) > maxRequestBodyBytes {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", maxRequestBodyBytes))
	}
	return data, nil
}

// fieldValidation is the fieldValidation query parameter's directive.
type fieldValidation string

const (
	fieldValidationStrict fieldValidation = "Strict"
	fieldValidationWarn   fieldValidation = "Warn"
	fieldValidationIgnore fieldValidation = "Ignore"
)

func parseFieldValidation(r *http.Request) (fieldValidation, error) {
	switch v := r.URL.Query().Get("fieldValidation"); v {
	case "":
		return fieldValidationWarn, nil
	case string(fieldValidationStrict), string(fieldValidationWarn), string(fieldValidationIgnore):
		return fieldValidation(v), nil
	default:
		return "", apierrors.NewBadRequest(fmt.Sprintf("fieldValidation must be one of Ignore, Warn, Strict, got %q", v))
	}
}

// decodeBody decodes a request body into a new object of the served kind,
// applying the fieldValidation directive: unknown or duplicate fields fail
// the request (Strict), become Warning headers (Warn), or pass (Ignore).
func decodeBody(w http.ResponseWriter, r *http.Request, res *resource, body []byte, want schema.GroupVersionKind, into runtime.Object) (runtime.Object, error) {
	validation, err := parseFieldValidation(r)
	if err != nil {
		return nil, err
	}
	if len(body) == 0 {
		return nil, apierrors.NewBadRequest("the request body is empty")
	}
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType == "" {
		mediaType = runtime.ContentTypeJSON
	}
	var info runtime.SerializerInfo
	found := false
	for _, i := range strictCodecs.SupportedMediaTypes() {
		if i.MediaType == mediaType {
			info, found = i, true
		}
	}
	if !found {
		return nil, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "", schema.GroupResource{}, "",
			fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %s", strings.Join(acceptedBodyTypes(), ", ")), 0, false)
	}
	decoder := info.Serializer
	if info.StrictSerializer != nil {
		decoder = info.StrictSerializer
	}
	obj, gvk, err := decoder.Decode(body, &want, into)
	var strictErrs []error
	if err != nil {
		if !runtime.IsStrictDecodingError(err) || obj == nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the object provided is unrecognized (must be of type %s): %v", want.Kind, err))
		}
		if sde, ok := runtime.AsStrictDecodingError(err); ok {
			strictErrs = sde.Errors()
		} else {
			strictErrs = []error{err}
		}
	}
	if gvk != nil && (gvk.Kind != want.Kind || gvk.GroupVersion() != want.GroupVersion()) {
		if gvk.GroupVersion() != want.GroupVersion() {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", gvk.GroupVersion(), want.GroupVersion()))
		}
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the kind in the data (%s) does not match the expected kind (%s)", gvk.Kind, want.Kind))
	}
	if len(strictErrs) > 0 {
		switch validation {
		case fieldValidationStrict:
			msgs := make([]string, 0, len(strictErrs))
			for _, e := range strictErrs {
				msgs = append(msgs, e.Error())
			}
			return nil, apierrors.NewBadRequest("strict decoding error: " + strings.Join(msgs, ", "))
		case fieldValidationWarn:
			for _, e := range strictErrs {
				addWarning(w, e.Error())
			}
		}
	}
	if sized, ok := obj.(interface{ Size() int }); ok && sized.Size() > maxObjectBytes {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", maxObjectBytes))
	}
	return obj, nil
}

func acceptedBodyTypes() []string {
	var out []string
	for _, i := range api.Codecs.SupportedMediaTypes() {
		out = append(out, i.MediaType)
	}
	sort.Strings(out)
	return out
}

// addWarning adds a Warning header as upstream formats them.
func addWarning(w http.ResponseWriter, text string) {
	w.Header().Add("Warning", "299 - "+strconv.Quote(text))
}

// dryRun reports whether the request asks for dryRun=All; other values
// are refused with 400 as upstream does.
func dryRun(r *http.Request) (bool, error) {
	values := r.URL.Query()["dryRun"]
	for _, v := range values {
		if v != metav1.DryRunAll {
			return false, apierrors.NewBadRequest(fmt.Sprintf("Invalid dryRun value %q: only %q is supported", v, metav1.DryRunAll))
		}
	}
	return len(values) > 0, nil
}

// decodeQuery decodes the query parameters into an options struct
// (metav1.ListOptions, GetOptions, DeleteOptions...).
func decodeQuery(r *http.Request, into runtime.Object) error {
	if err := api.ParameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, into); err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	return nil
}

func jsonMarshal(v interface{}) ([]byte, error) { return json.Marshal(v) }

// encodeJSON encodes a scheme object as JSON with apiVersion and kind of gv.
func encodeJSON(obj runtime.Object, gv schema.GroupVersion) ([]byte, error) {
	info, _ := serializerFor(runtime.ContentTypeJSON)
	return runtime.Encode(api.Codecs.EncoderForVersion(info.Serializer, gv), obj)
}

func sortedUnique(in []string) []string {
	sort.Strings(in)
	out := in[:0]
	for i, s := range in {
		if i == 0 || s != in[i-1] {
			out = append(out, s)
		}
	}
	return out
}
