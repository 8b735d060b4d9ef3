package apiserver

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/navarch/navarch/internal/storage"
)

var namespacesGR = schema.GroupResource{Resource: "namespaces"}

// namespacesPrefix is where namespaces are stored.
const namespacesPrefix = "/registry/namespaces/"

// checkNamespaceAcceptsContent fails with 404 when the namespace does not
// exist and with 403 while it is being deleted, as upstream's
// NamespaceLifecycle admission does. Like upstream (which reads an
// informer's cache and reads the store when the cache does not know the
// namespace), it reads the namespaces' watch cache, then etcd's local
// (serializable) state: a state a moment old, without a read of etcd for
// every create.
func (s *Server) checkNamespaceAcceptsContent(ctx context.Context, namespace string) error {
	key := namespacesPrefix + namespace
	var ns *corev1.Namespace
	if c := s.cachers[namespacesPrefix]; c != nil {
		if obj, ok := c.Cached(key); ok {
			ns, _ = obj.(*corev1.Namespace)
		}
	}
	if ns == nil {
		ns = &corev1.Namespace{}
		if err := s.store.Get(ctx, key, storage.GetOptions{ResourceVersion: "0"}, ns); err != nil {
			return storageError(err, namespacesGR, namespace)
		}
	}
	if ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating {
		err := apierrors.NewForbidden(schema.GroupResource{}, "", fmt.Errorf("unable to create new content in namespace %s because it is being terminated", namespace))
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
			Type:    corev1.NamespaceTerminatingCause,
			Message: fmt.Sprintf("namespace %s is being terminated", namespace),
			Field:   "metadata.namespace",
		})
		return err
	}
	return nil
}

// namespaceHasFinalizers reports whether obj is a namespace whose
// spec.finalizers still hold its deletion.
func namespaceHasFinalizers(obj runtime.Object) bool {
	ns, ok := obj.(*corev1.Namespace)
	return ok && len(ns.Spec.Finalizers) > 0
}

// markNamespaceTerminating sets the phase of a namespace being deleted.
func markNamespaceTerminating(obj runtime.Object) {
	if ns, ok := obj.(*corev1.Namespace); ok {
		ns.Status.Phase = corev1.NamespaceTerminating
	}
}

// gracefulDeletion returns the grace period of a deletion and whether the
// object must wait for it: only pods that a node agent runs (bound, not
// finished) wait; the agent deletes them once their containers stopped.
func (s *Server) gracefulDeletion(res *resource, obj runtime.Object, opts *metav1.DeleteOptions) (int64, bool) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return 0, false
	}
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = *pod.Spec.TerminationGracePeriodSeconds
	}
	if opts.GracePeriodSeconds != nil {
		grace = *opts.GracePeriodSeconds
	}
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return 0, false
	}
	if grace == 0 {
		return 0, false
	}
	return grace, true
}
