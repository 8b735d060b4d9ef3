package apiserver

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// admitCreate runs the storage-backed side effects of creating obj that no
// registry strategy can do: allocating a Service's cluster IP and node
// ports. It runs after validation. In dry-run mode the values are
// allocated and given back at once, so the answer shows real values.
// releaseCreate undoes it when the create fails.
func (s *Server) admitCreate(ctx context.Context, res *resource, obj runtime.Object, isDryRun bool) error {
	svc, ok := obj.(*corev1.Service)
	if !ok || s.services == nil {
		return nil
	}
	took, err := s.services.allocate(ctx, svc, nil)
	if err != nil {
		return err
	}
	if isDryRun {
		s.services.giveBack(ctx, took)
	}
	return nil
}

// hasCreateSideEffects reports whether admitCreate would take something
// for obj.
func (s *Server) hasCreateSideEffects(obj runtime.Object) bool {
	_, isService := obj.(*corev1.Service)
	return isService && s.services != nil
}

// releaseCreate undoes admitCreate after a failed create.
func (s *Server) releaseCreate(ctx context.Context, res *resource, obj runtime.Object) {
	if svc, ok := obj.(*corev1.Service); ok && s.services != nil {
		s.services.releaseDropped(ctx, svc, nil)
	}
}

// afterDelete releases what a deleted object held.
func (s *Server) afterDelete(ctx context.Context, res *resource, obj runtime.Object) {
	if svc, ok := obj.(*corev1.Service); ok && s.services != nil {
		s.services.releaseDropped(ctx, svc, nil)
	}
}

// serviceUpdate carries the allocations of one service update across the
// retries of its read-modify-write loop.
type serviceUpdate struct {
	alloc *serviceAllocator
	took  *allocation
	old   *corev1.Service
}

// admit fills what the updated service lacks, keeping old's values where
// the client left them out, and allocating what a type change needs.
// A retry gives back what the previous attempt took first.
func (u *serviceUpdate) admit(ctx context.Context, svc, old *corev1.Service) error {
	u.alloc.giveBack(ctx, u.took)
	u.took = nil
	u.old = old
	took, err := u.alloc.allocate(ctx, svc, old)
	if err != nil {
		return err
	}
	u.took = took
	return nil
}

// finish settles the update: on success it releases what the old service
// held and the new one does not; on failure it gives back what was taken.
func (u *serviceUpdate) finish(ctx context.Context, svc *corev1.Service, failed bool) {
	if failed || svc == nil {
		u.alloc.giveBack(ctx, u.took)
		return
	}
	if u.old != nil {
		u.alloc.releaseDropped(ctx, u.old, svc)
	}
}
