package garbagecollector

import (
	"context"
	"errors"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
)

// attemptToOrphan removes the references to an owner with the orphan
// finalizer from all its dependents, then the finalizer, letting the API
// server remove the owner while the dependents stay.
func (c *Controller) attemptToOrphan(ctx context.Context, item objectRef) error {
	latest, err := c.metadata.Resource(item.resource).Namespace(item.namespace).Get(ctx, item.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || (err == nil && latest.UID != item.uid) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("garbagecollector: reading %s %s: %w", item.resource.Resource, klog.KRef(item.namespace, item.name), err)
	}
	if !orphaning(latest) {
		return nil
	}
	var errs []error
	for _, dep := range c.cachedDependents(item.uid) {
		err := c.patchOwnerReferences(ctx, dep.ref, func(refs []metav1.OwnerReference) []metav1.OwnerReference {
			return slices.DeleteFunc(refs, func(r metav1.OwnerReference) bool { return r.UID == item.uid })
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	klog.FromContext(ctx).V(2).Info("Garbage collector: orphaned dependents", "resource", item.resource.String(), "object", klog.KRef(item.namespace, item.name))
	return c.removeFinalizer(ctx, item, metav1.FinalizerOrphanDependents)
}
