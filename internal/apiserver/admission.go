package apiserver

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/navarch/navarch/internal/registry/storageclass"
	"github.com/navarch/navarch/internal/storage"
)

// mutateCreate runs the mutating admission of a new object, before
// validation: the ServiceAccount admission of pods
// (Config.ServiceAccountAdmission).
func (s *Server) mutateCreate(ctx context.Context, obj runtime.Object) error {
	if pod, ok := obj.(*corev1.Pod); ok && s.cfg.ServiceAccountAdmission {
		return s.admitServiceAccount(ctx, pod)
	}
	return nil
}

// admitCreate runs the storage-backed rules of creating obj that no
// registry strategy can apply: allocating a Service's cluster IP and node
// ports, and giving a claim without a class the default StorageClass. It
// runs after validation. In dry-run mode the values are allocated and
// given back at once, so the answer shows real values. releaseCreate
// undoes it when the create fails.
func (s *Server) admitCreate(ctx context.Context, res *resource, obj runtime.Object, isDryRun bool) error {
	if claim, ok := obj.(*corev1.PersistentVolumeClaim); ok {
		return s.defaultStorageClass(ctx, claim)
	}
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

// storageClassesGVR names the StorageClasses the default is looked up in.
var storageClassesGVR = storagev1.SchemeGroupVersion.WithResource("storageclasses")

// defaultStorageClass gives a new claim that names no class (nil, not "")
// the default StorageClass, as upstream's DefaultStorageClass admission
// plugin does: of several default classes the newest wins (then the
// first by name). Without a default class the claim keeps none, and the
// volume controller gives it one if a default appears later.
func (s *Server) defaultStorageClass(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	if claim.Spec.StorageClassName != nil {
		return nil
	}
	classRes := s.resources[storageClassesGVR]
	if classRes == nil {
		return nil
	}
	var classes storagev1.StorageClassList
	if err := classRes.store.List(ctx, classRes.prefix, storage.ListOptions{ResourceVersion: "0"}, &classes); err != nil {
		return fmt.Errorf("apiserver: listing storage classes for the default one: %w", err)
	}
	var def *storagev1.StorageClass
	for i := range classes.Items {
		class := &classes.Items[i]
		if !storageclass.IsDefault(class.ObjectMeta) {
			continue
		}
		if def == nil || class.CreationTimestamp.After(def.CreationTimestamp.Time) ||
			(class.CreationTimestamp.Equal(&def.CreationTimestamp) && class.Name < def.Name) {
			def = class
		}
	}
	if def != nil {
		claim.Spec.StorageClassName = &def.Name
	}
	return nil
}
