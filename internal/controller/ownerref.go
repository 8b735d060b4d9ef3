package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
)

// PatchFunc applies a strategic merge patch to one object of the kind
// being claimed.
type PatchFunc func(ctx context.Context, namespace, name string, data []byte) error

// RefManager decides, for one controller object, which objects it owns:
// it adopts orphans its selector matches and releases owned objects its
// selector no longer matches, by patching their ownerReferences. Objects
// controlled by someone else are left alone. Create one per sync: it
// checks CanAdopt at most once.
type RefManager struct {
	controller     metav1.Object
	controllerKind schema.GroupVersionKind
	selector       labels.Selector

	canAdopt     func(ctx context.Context) error
	canAdoptOnce sync.Once
	canAdoptErr  error
}

// NewRefManager returns a RefManager for controller (of kind
// controllerKind) claiming objects that selector matches. canAdopt is
// called before the first adoption; it should re-read the controller from
// the API server and fail if it is gone or being deleted (see
// RecheckDeletionTimestamp), because the informer copy may be stale and
// adopting into a deleted owner would get the object garbage collected.
func NewRefManager(controller metav1.Object, controllerKind schema.GroupVersionKind, selector labels.Selector, canAdopt func(ctx context.Context) error) *RefManager {
	return &RefManager{controller: controller, controllerKind: controllerKind, selector: selector, canAdopt: canAdopt}
}

// RecheckDeletionTimestamp returns a CanAdopt function that fetches the
// controller fresh with get and refuses adoption when it is being deleted.
func RecheckDeletionTimestamp(get func(ctx context.Context) (metav1.Object, error)) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		obj, err := get(ctx)
		if err != nil {
			return fmt.Errorf("controller: can't recheck deletionTimestamp: %w", err)
		}
		if obj.GetDeletionTimestamp() != nil {
			return fmt.Errorf("controller: %v/%v has just been deleted at %v", obj.GetNamespace(), obj.GetName(), obj.GetDeletionTimestamp())
		}
		return nil
	}
}

// ClaimPods claims pods for the controller with Claim, patching through
// podControl. filters, when given, must all pass for a pod to match.
func (m *RefManager) ClaimPods(ctx context.Context, pods []*corev1.Pod, podControl PodControl, filters ...func(*corev1.Pod) bool) ([]*corev1.Pod, error) {
	return Claim(ctx, m, pods, podControl.PatchPod, filters...)
}

// ClaimReplicaSets claims ReplicaSets for the controller with Claim.
func (m *RefManager) ClaimReplicaSets(ctx context.Context, client kubernetes.Interface, sets []*appsv1.ReplicaSet) ([]*appsv1.ReplicaSet, error) {
	patch := func(ctx context.Context, namespace, name string, data []byte) error {
		_, err := client.AppsV1().ReplicaSets(namespace).Patch(ctx, name, types.StrategicMergePatchType, data, metav1.PatchOptions{})
		return err
	}
	return Claim(ctx, m, sets, patch)
}

// ClaimControllerRevisions claims ControllerRevisions for the controller
// with Claim.
func (m *RefManager) ClaimControllerRevisions(ctx context.Context, client kubernetes.Interface, revisions []*appsv1.ControllerRevision) ([]*appsv1.ControllerRevision, error) {
	patch := func(ctx context.Context, namespace, name string, data []byte) error {
		_, err := client.AppsV1().ControllerRevisions(namespace).Patch(ctx, name, types.StrategicMergePatchType, data, metav1.PatchOptions{})
		return err
	}
	return Claim(ctx, m, revisions, patch)
}

// Claim returns the objects of objs the manager's controller owns after
// adopting and releasing as needed. An object matches when the selector
// matches its labels and every filter passes. Objects that vanish while
// being patched are skipped; other patch errors are returned together,
// with the objects claimed so far.
func Claim[T metav1.Object](ctx context.Context, m *RefManager, objs []T, patch PatchFunc, filters ...func(T) bool) ([]T, error) {
	match := func(obj T) bool {
		if !m.selector.Matches(labels.Set(obj.GetLabels())) {
			return false
		}
		for _, f := range filters {
			if !f(obj) {
				return false
			}
		}
		return true
	}
	var claimed []T
	var errs []error
	for _, obj := range objs {
		ok, err := m.claimOne(ctx, obj, match(obj), patch)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			claimed = append(claimed, obj)
		}
	}
	return claimed, utilerrors.NewAggregate(errs)
}

func (m *RefManager) claimOne(ctx context.Context, obj metav1.Object, matches bool, patch PatchFunc) (bool, error) {
	logger := klog.FromContext(ctx)
	ref := metav1.GetControllerOfNoCopy(obj)
	if ref != nil {
		if ref.UID != m.controller.GetUID() {
			return false, nil
		}
		if matches {
			return true, nil
		}
		// Ours but no longer selected: let it go, unless we are being
		// deleted (the garbage collector takes it with us).
		if m.controller.GetDeletionTimestamp() != nil {
			return false, nil
		}
		data, err := ReleasePatch(m.controller.GetUID(), obj.GetUID())
		if err != nil {
			return false, err
		}
		logger.V(2).Info("releasing object", "object", klog.KObj(obj), "controller", klog.KObj(m.controller))
		err = patch(ctx, obj.GetNamespace(), obj.GetName(), data)
		// NotFound: gone. Invalid: its UID changed (deleted and
		// recreated), so it is not ours anyway.
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
			return false, fmt.Errorf("controller: releasing %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
		}
		return false, nil
	}
	if !matches || m.controller.GetDeletionTimestamp() != nil || obj.GetDeletionTimestamp() != nil {
		return false, nil
	}
	if ns := m.controller.GetNamespace(); ns != "" && ns != obj.GetNamespace() {
		return false, nil
	}
	if err := m.checkCanAdopt(ctx); err != nil {
		return false, fmt.Errorf("controller: can't adopt %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	data, err := AdoptPatch(m.controller, m.controllerKind, obj.GetUID())
	if err != nil {
		return false, err
	}
	logger.V(2).Info("adopting object", "object", klog.KObj(obj), "controller", klog.KObj(m.controller))
	if err := patch(ctx, obj.GetNamespace(), obj.GetName(), data); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("controller: adopting %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	return true, nil
}

func (m *RefManager) checkCanAdopt(ctx context.Context) error {
	if m.canAdopt == nil {
		return nil
	}
	m.canAdoptOnce.Do(func() { m.canAdoptErr = m.canAdopt(ctx) })
	return m.canAdoptErr
}

type patchMeta struct {
	OwnerReferences []map[string]interface{} `json:"ownerReferences"`
	UID             types.UID                `json:"uid"`
}

type patchObject struct {
	Metadata patchMeta `json:"metadata"`
}

// AdoptPatch is the strategic merge patch that makes owner the controller
// of the object with objUID. The object's UID in the patch makes it fail
// (422) if the object was replaced by another of the same name.
func AdoptPatch(owner metav1.Object, ownerKind schema.GroupVersionKind, objUID types.UID) ([]byte, error) {
	data, err := json.Marshal(patchObject{Metadata: patchMeta{
		OwnerReferences: []map[string]interface{}{{
			"apiVersion":         ownerKind.GroupVersion().String(),
			"kind":               ownerKind.Kind,
			"name":               owner.GetName(),
			"uid":                owner.GetUID(),
			"controller":         true,
			"blockOwnerDeletion": true,
		}},
		UID: objUID,
	}})
	if err != nil {
		return nil, fmt.Errorf("controller: adopt patch: %w", err)
	}
	return data, nil
}

// ReleasePatch is the strategic merge patch that removes the owner
// reference with ownerUID from the object with objUID.
func ReleasePatch(ownerUID, objUID types.UID) ([]byte, error) {
	data, err := json.Marshal(patchObject{Metadata: patchMeta{
		OwnerReferences: []map[string]interface{}{{"$patch": "delete", "uid": ownerUID}},
		UID:             objUID,
	}})
	if err != nil {
		return nil, fmt.Errorf("controller: release patch: %w", err)
	}
	return data, nil
}
