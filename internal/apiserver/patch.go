package apiserver

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/yaml"
)

// patch answers PATCH of an object or of its status.
func (s *Server) patch(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo, target updateTarget) {
	patchType, patchBody, err := readPatch(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	isDryRun, err := dryRun(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	validation, err := parseFieldValidation(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var warnings []string
	out, err := s.updateObject(writeContext(r), res, info.Namespace, info.Name, target, isDryRun, func(existing runtime.Object) (runtime.Object, error) {
		obj, strictErrs, err := applyPatch(res.kind.GroupVersionKind(), res.kind.New, existing, patchType, patchBody)
		if err != nil {
			return nil, err
		}
		warnings = warnings[:0]
		if len(strictErrs) > 0 {
			switch validation {
			case fieldValidationStrict:
				msg := "strict decoding error: "
				for i, e := range strictErrs {
					if i > 0 {
						msg += ", "
					}
					msg += e.Error()
				}
				return nil, apierrors.NewBadRequest(msg)
			case fieldValidationWarn:
				for _, e := range strictErrs {
					warnings = append(warnings, e.Error())
				}
			}
		}
		return obj, nil
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	for _, warning := range warnings {
		addWarning(w, warning)
	}
	s.respond(w, r, res, http.StatusOK, out)
}

// readPatch reads a PATCH body and its type. Server-side apply is not
// served yet and answers 415 like any other unsupported patch type.
func readPatch(r *http.Request) (types.PatchType, []byte, error) {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		mediaType = ""
	}
	patchType := types.PatchType(mediaType)
	switch patchType {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType:
	default:
		return "", nil, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "patch", schema.GroupResource{}, "",
			fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %s, %s, %s",
				types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType), 0, false)
	}
	body, err := readBody(r)
	if err != nil {
		return "", nil, err
	}
	if len(body) == 0 {
		return "", nil, apierrors.NewBadRequest("the request body is empty")
	}
	// Patches may come as YAML (kubectl patch --type merge -p 'a: b').
	if body[0] != '{' && body[0] != '[' {
		if j, err := yaml.YAMLToJSON(body); err == nil {
			body = j
		}
	}
	return patchType, body, nil
}

// applyPatch applies a patch to existing (a served object) and decodes the
// result into a new object of the same kind. Unknown fields are reported
// in strictErrs, for the caller's field validation directive.
func applyPatch(gvk schema.GroupVersionKind, newObj func() runtime.Object, existing runtime.Object, patchType types.PatchType, patch []byte) (runtime.Object, []error, error) {
	original, err := encodeJSON(existing, gvk.GroupVersion())
	if err != nil {
		return nil, nil, apierrors.NewInternalError(err)
	}
	var patched []byte
	switch patchType {
	case types.JSONPatchType:
		if err := checkJSONPatch(patch); err != nil {
			return nil, nil, apierrors.NewBadRequest(err.Error())
		}
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, nil, apierrors.NewBadRequest(err.Error())
		}
		if patched, err = applyJSONPatch(p, original); err != nil {
			return nil, nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", schema.GroupResource{}, "", err.Error(), 0, false)
		}
	case types.MergePatchType:
		if patched, err = jsonpatch.MergePatch(original, patch); err != nil {
			return nil, nil, apierrors.NewBadRequest(err.Error())
		}
	case types.StrategicMergePatchType:
		if patched, err = strategicpatch.StrategicMergePatch(original, patch, newObj()); err != nil {
			return nil, nil, apierrors.NewBadRequest(err.Error())
		}
	}
	info, _ := serializerFor(runtimeJSON)
	decoder := info.Serializer
	for _, i := range strictCodecs.SupportedMediaTypes() {
		if i.MediaType == runtimeJSON && i.StrictSerializer != nil {
			decoder = i.StrictSerializer
		}
	}
	obj, gotGVK, err := decoder.Decode(patched, &gvk, newObj())
	var strictErrs []error
	if err != nil {
		sde, ok := runtime.AsStrictDecodingError(err)
		if !ok || obj == nil {
			return nil, nil, apierrors.NewBadRequest(err.Error())
		}
		strictErrs = sde.Errors()
	}
	if gotGVK != nil && *gotGVK != gvk {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("the patch changed apiVersion/kind to %s, expected %s", gotGVK, gvk))
	}
	return obj, strictErrs, nil
}

const runtimeJSON = runtime.ContentTypeJSON

// checkJSONPatch refuses operations the patch library would trip over:
// every operation needs a known op and a path, add/replace/test a value,
// move/copy a from.
func checkJSONPatch(patch []byte) error {
	var ops []map[string]json.RawMessage
	if err := json.Unmarshal(patch, &ops); err != nil {
		return fmt.Errorf("invalid JSON patch: %v", err)
	}
	for i, op := range ops {
		var name string
		if err := json.Unmarshal(op["op"], &name); err != nil {
			return fmt.Errorf("invalid JSON patch: operation %d has no op", i)
		}
		var path string
		if err := json.Unmarshal(op["path"], &path); err != nil {
			return fmt.Errorf("invalid JSON patch: operation %d (%s) has no path", i, name)
		}
		switch name {
		case "add", "replace", "test":
			if _, ok := op["value"]; !ok {
				return fmt.Errorf("invalid JSON patch: operation %d (%s) has no value", i, name)
			}
		case "move", "copy":
			var from string
			if err := json.Unmarshal(op["from"], &from); err != nil {
				return fmt.Errorf("invalid JSON patch: operation %d (%s) has no from", i, name)
			}
		case "remove":
		default:
			return fmt.Errorf("invalid JSON patch: operation %d has unknown op %q", i, name)
		}
	}
	return nil
}

// applyJSONPatch applies p, turning a panic of the patch library on input
// it does not expect into an error: bad input must never crash a request.
func applyJSONPatch(p jsonpatch.Patch, original []byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the patch could not be applied: %v", r)
		}
	}()
	return p.Apply(original)
}
