package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/klog/v2"

	"github.com/navarch/navarch/internal/api"
	"github.com/navarch/navarch/internal/storage"
)

// storageError turns a storage error into the API error a client of
// upstream Kubernetes would see for the same situation. Errors that are
// already API errors pass through.
func storageError(err error, gr schema.GroupResource, name string) error {
	if err == nil {
		return nil
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return err
	}
	var se *storage.Error
	if !errors.As(err, &se) {
		if errors.Is(err, context.DeadlineExceeded) {
			return apierrors.NewTimeoutError(fmt.Sprintf("request did not complete: %v", err), 0)
		}
		if errors.Is(err, context.Canceled) {
			return apierrors.NewTimeoutError("request canceled", 0)
		}
		return apierrors.NewInternalError(err)
	}
	switch se.Code {
	case storage.ErrCodeKeyNotFound:
		return apierrors.NewNotFound(gr, name)
	case storage.ErrCodeKeyExists:
		return apierrors.NewAlreadyExists(gr, name)
	case storage.ErrCodeResourceVersionConflict:
		return apierrors.NewConflict(gr, name, errors.New(objectModifiedMsg))
	case storage.ErrCodePreconditionFailed:
		return apierrors.NewConflict(gr, name, errors.New(se.Msg))
	case storage.ErrCodeExpired:
		msg := se.Msg
		if msg == "" {
			msg = "too old resource version"
		}
		return apierrors.NewResourceExpired(msg)
	case storage.ErrCodeResourceVersionTooLarge:
		return apierrors.NewTimeoutError(fmt.Sprintf("Too large resource version: %d, current: %s", se.ResourceVersion, se.Msg), 1)
	case storage.ErrCodeInvalidContinue:
		return apierrors.NewBadRequest("invalid continue token: " + se.Msg)
	case storage.ErrCodeUnreachable:
		return apierrors.NewServiceUnavailable("storage is unavailable: " + se.Msg)
	default:
		return apierrors.NewInternalError(err)
	}
}

// objectModifiedMsg is the message upstream gives when an update carries a
// stale resourceVersion.
const objectModifiedMsg = "the object has been modified; please apply your changes to the latest version and try again"

// writeError answers err as a metav1.Status in the format the client
// accepts (JSON when in doubt).
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	var status *metav1.Status
	var apiStatus apierrors.APIStatus
	if errors.As(err, &apiStatus) {
		s := apiStatus.Status()
		status = &s
	} else {
		s := apierrors.NewInternalError(err).Status()
		status = &s
	}
	if status.Code >= 500 && status.Code != http.StatusServiceUnavailable && status.Code != http.StatusGatewayTimeout {
		klog.FromContext(r.Context()).Error(err, "request failed", "method", r.Method, "path", r.URL.Path)
	}
	status.Kind = "Status"
	status.APIVersion = "v1"
	writeStatus(w, r, status)
}

func writeStatus(w http.ResponseWriter, r *http.Request, status *metav1.Status) {
	code := int(status.Code)
	if code == 0 {
		code = http.StatusInternalServerError
	}
	if status.Details != nil && status.Details.RetryAfterSeconds > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(status.Details.RetryAfterSeconds)))
	}
	n, ok := negotiate(r, nil)
	if !ok {
		n.info, _ = serializerFor(runtime.ContentTypeJSON)
	}
	writeObject(w, n.info, code, status)
}

// writeObject encodes obj with info's serializer, with the apiVersion and
// kind the scheme gives its type first.
func writeObject(w http.ResponseWriter, info runtime.SerializerInfo, code int, obj runtime.Object) {
	var gv schema.GroupVersion
	if gvks, _, err := api.Scheme.ObjectKinds(obj); err == nil && len(gvks) > 0 {
		gv = gvks[0].GroupVersion()
	}
	writeTyped(w, info, code, gv, obj)
}

// codecFor returns an encoder that sets apiVersion/kind of gv.
func codecFor(info runtime.SerializerInfo, gv schema.GroupVersion) runtime.Encoder {
	return api.Codecs.EncoderForVersion(info.Serializer, gv)
}

// writeRaw answers pre-encoded JSON bytes.
func writeRawJSON(w http.ResponseWriter, code int, contentType string, data []byte) {
	if contentType == "" {
		contentType = runtime.ContentTypeJSON
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(code)
	_, _ = w.Write(data)
}
