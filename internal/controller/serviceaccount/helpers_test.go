package serviceaccount

import (
	"errors"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

var errTest = errors.New("test failure")

// terminatingError is what the API server answers to a create in a
// namespace being deleted.
func terminatingError() error {
	err := apierrors.NewForbidden(corev1.Resource("serviceaccounts"), "default", errors.New("namespace is being terminated"))
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{Type: corev1.NamespaceTerminatingCause})
	return err
}

func tombstone(obj interface{}) interface{} {
	return cache.DeletedFinalStateUnknown{Key: "team/default", Obj: obj}
}
