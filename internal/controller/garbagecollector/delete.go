package garbagecollector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
)

// errNamespacedOwnerOfClusterObject marks an owner reference that cannot
// be valid: a cluster-scoped object owned by a namespaced kind. Retrying
// does not help; the object is left alone, as upstream does.
var errNamespacedOwnerOfClusterObject = errors.New("garbagecollector: a cluster-scoped object cannot have a namespaced owner")

// ownerState is what a check found of one owner.
type ownerState int

const (
	ownerSolid   ownerState = iota // exists and is not going away in the foreground
	ownerAbsent                    // gone (not found, or a new object of that name)
	ownerWaiting                   // in foreground deletion, waiting for its dependents
)

// classified sorts an object's owner references by their owners' state.
type classified struct {
	solid, absent, waiting []metav1.OwnerReference
}

// attemptToDelete checks one object: it finishes its foreground deletion
// when nothing blocks it any more, deletes it when all its owners are
// gone (or all but those waiting for it), and drops references to
// missing owners when another owner remains.
func (c *Controller) attemptToDelete(ctx context.Context, item objectRef) error {
	logger := klog.FromContext(ctx)
	if c.cachedAndSettled(item) {
		return nil
	}
	latest, err := c.metadata.Resource(item.resource).Namespace(item.namespace).Get(ctx, item.name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) || (err == nil && latest.UID != item.uid):
		// Gone (maybe the delete event was missed): its dependents may be
		// garbage now.
		for _, dep := range c.cachedDependents(item.uid) {
			c.deleteQueue.Add(dep.ref)
		}
		return nil
	case err != nil:
		return fmt.Errorf("garbagecollector: reading %s %s: %w", item.resource.Resource, klog.KRef(item.namespace, item.name), err)
	}
	if latest.DeletionTimestamp != nil {
		if deletingDependents(latest) {
			return c.finishForeground(ctx, item, latest)
		}
		// Already going, and not waiting for us.
		return nil
	}
	if len(latest.OwnerReferences) == 0 {
		return nil
	}
	owners, err := c.classify(ctx, item, latest.OwnerReferences)
	if errors.Is(err, errNamespacedOwnerOfClusterObject) {
		logger.Info("Garbage collector: ignoring invalid owner reference", "resource", item.resource.String(), "object", klog.KRef("", item.name), "err", err)
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case len(owners.solid) > 0:
		if len(owners.absent)+len(owners.waiting) == 0 {
			return nil
		}
		// Another owner keeps it: only the references to owners that
		// are gone (or leaving) go.
		drop := map[types.UID]bool{}
		for _, ref := range append(owners.absent, owners.waiting...) {
			drop[ref.UID] = true
		}
		logger.V(2).Info("Garbage collector: removing references to missing owners", "resource", item.resource.String(), "object", klog.KRef(item.namespace, item.name))
		return c.patchOwnerReferences(ctx, item, func(refs []metav1.OwnerReference) []metav1.OwnerReference {
			return slices.DeleteFunc(refs, func(r metav1.OwnerReference) bool { return drop[r.UID] })
		})
	case len(owners.waiting) > 0 && len(c.cachedDependents(item.uid)) > 0:
		// An owner waits for this object, which has dependents of its
		// own: delete it in the foreground too. If one of those is itself
		// waiting (a cycle), stop blocking the owners first, or nothing
		// would ever finish.
		for _, dep := range c.cachedDependents(item.uid) {
			if deletingDependents(dep.meta) {
				waiting := map[types.UID]bool{}
				for _, ref := range owners.waiting {
					waiting[ref.UID] = true
				}
				err := c.patchOwnerReferences(ctx, item, func(refs []metav1.OwnerReference) []metav1.OwnerReference {
					for i := range refs {
						if waiting[refs[i].UID] {
							unblock := false
							refs[i].BlockOwnerDeletion = &unblock
						}
					}
					return refs
				})
				if err != nil {
					return err
				}
				break
			}
		}
		return c.deleteObject(ctx, item, metav1.DeletePropagationForeground)
	default:
		// No owner keeps it. Its own finalizers say how its dependents go.
		policy := metav1.DeletePropagationBackground
		switch {
		case slices.Contains(latest.Finalizers, metav1.FinalizerOrphanDependents):
			policy = metav1.DeletePropagationOrphan
		case slices.Contains(latest.Finalizers, metav1.FinalizerDeleteDependents):
			policy = metav1.DeletePropagationForeground
		}
		return c.deleteObject(ctx, item, policy)
	}
}

// cachedAndSettled reports whether the cache shows nothing to do for an
// object: no foreground deletion of its own, and every owner cached and
// not waiting for its dependents. Trusting the cache is safe here: any
// change that would give work (an owner deleted, a deletion started)
// comes as an event that queues the object again. It spares a live read
// per object when every object is queued at start.
func (c *Controller) cachedAndSettled(item objectRef) bool {
	cached, _, ok := c.cachedByUID(item.uid)
	if !ok || deletingDependents(cached) {
		return false
	}
	for _, owner := range cached.OwnerReferences {
		ownerMeta, _, ok := c.cachedByUID(owner.UID)
		if !ok || deletingDependents(ownerMeta) {
			return false
		}
	}
	return true
}

// finishForeground removes the foregroundDeletion finalizer of an owner
// once no dependent blocks it, and meanwhile makes sure the blocking
// dependents are on their way.
func (c *Controller) finishForeground(ctx context.Context, item objectRef, latest *metav1.PartialObjectMetadata) error {
	blocking := 0
	for _, dep := range c.cachedDependents(item.uid) {
		if dep.owner.BlockOwnerDeletion == nil || !*dep.owner.BlockOwnerDeletion {
			continue
		}
		blocking++
		if !deletingDependents(dep.meta) {
			c.deleteQueue.Add(dep.ref)
		}
	}
	if blocking > 0 {
		klog.FromContext(ctx).V(4).Info("Garbage collector: waiting for blocking dependents", "resource", item.resource.String(),
			"object", klog.KRef(item.namespace, item.name), "blocking", blocking)
		return nil
	}
	return c.removeFinalizer(ctx, item, metav1.FinalizerDeleteDependents)
}

// classify looks up every owner of an object.
func (c *Controller) classify(ctx context.Context, item objectRef, refs []metav1.OwnerReference) (classified, error) {
	var out classified
	for _, ref := range refs {
		state, err := c.ownerStateOf(ctx, item, ref)
		if err != nil {
			return out, err
		}
		switch state {
		case ownerSolid:
			out.solid = append(out.solid, ref)
		case ownerAbsent:
			out.absent = append(out.absent, ref)
		case ownerWaiting:
			out.waiting = append(out.waiting, ref)
		}
	}
	return out, nil
}

// ownerStateOf finds one owner: in the caches first (present there means
// present: its deletion will queue this object again), else by a live
// read, which alone may say it is gone.
func (c *Controller) ownerStateOf(ctx context.Context, item objectRef, ref metav1.OwnerReference) (ownerState, error) {
	if cached, _, ok := c.cachedByUID(ref.UID); ok {
		if deletingDependents(cached) {
			return ownerWaiting, nil
		}
		return ownerSolid, nil
	}
	if c.absentOwners.has(ref.UID) {
		return ownerAbsent, nil
	}
	info, ok := c.kindOf(ref.APIVersion, ref.Kind)
	if !ok {
		// Maybe a kind discovery has not shown us yet.
		if err := c.refreshDiscovery(ctx); err != nil {
			return ownerSolid, err
		}
		if info, ok = c.kindOf(ref.APIVersion, ref.Kind); !ok {
			return ownerSolid, fmt.Errorf("garbagecollector: owner %s %s of %s: kind not served", ref.APIVersion, ref.Kind, klog.KRef(item.namespace, item.name))
		}
	}
	namespace := ""
	if info.namespaced {
		if item.namespace == "" {
			return ownerSolid, errNamespacedOwnerOfClusterObject
		}
		namespace = item.namespace
	}
	owner, err := c.metadata.Resource(info.resource).Namespace(namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		c.absentOwners.add(ref.UID)
		return ownerAbsent, nil
	case err != nil:
		return ownerSolid, fmt.Errorf("garbagecollector: reading owner %s %s: %w", ref.Kind, klog.KRef(namespace, ref.Name), err)
	case owner.UID != ref.UID:
		c.absentOwners.add(ref.UID)
		return ownerAbsent, nil
	case deletingDependents(owner):
		return ownerWaiting, nil
	}
	return ownerSolid, nil
}

// deleteObject deletes an object with a propagation policy, on the
// condition that it is still the incarnation checked.
func (c *Controller) deleteObject(ctx context.Context, item objectRef, policy metav1.DeletionPropagation) error {
	uid := item.uid
	err := c.metadata.Resource(item.resource).Namespace(item.namespace).Delete(ctx, item.name, metav1.DeleteOptions{
		PropagationPolicy: &policy,
		Preconditions:     &metav1.Preconditions{UID: &uid},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("garbagecollector: deleting %s %s: %w", item.resource.Resource, klog.KRef(item.namespace, item.name), err)
	}
	klog.FromContext(ctx).V(2).Info("Garbage collector: deleted object", "resource", item.resource.String(),
		"object", klog.KRef(item.namespace, item.name), "propagationPolicy", policy)
	return nil
}

// metadataPatch is a JSON merge patch of an object's metadata. The UID
// and resourceVersion make it conditional: a patch of a newer version
// fails with a conflict, and the read-modify-write is repeated.
type metadataPatch struct {
	Metadata struct {
		UID             types.UID                `json:"uid"`
		ResourceVersion string                   `json:"resourceVersion"`
		OwnerReferences *[]metav1.OwnerReference `json:"ownerReferences,omitempty"`
		Finalizers      *[]string                `json:"finalizers,omitempty"`
	} `json:"metadata"`
}

// maxPatchAttempts bounds the read-modify-write attempts of one patch.
const maxPatchAttempts = 5

// patchOwnerReferences rewrites an object's owner references with edit,
// from a live read, until no one else wrote in between. An object gone
// meanwhile is no error.
func (c *Controller) patchOwnerReferences(ctx context.Context, item objectRef, edit func([]metav1.OwnerReference) []metav1.OwnerReference) error {
	return c.patchMetadata(ctx, item, func(m *metav1.PartialObjectMetadata, p *metadataPatch) bool {
		before := slices.Clone(m.OwnerReferences)
		after := edit(slices.Clone(m.OwnerReferences))
		if after == nil {
			after = []metav1.OwnerReference{}
		}
		p.Metadata.OwnerReferences = &after
		return !ownerReferencesEqual(before, after)
	})
}

// removeFinalizer removes one finalizer of an object.
func (c *Controller) removeFinalizer(ctx context.Context, item objectRef, finalizer string) error {
	err := c.patchMetadata(ctx, item, func(m *metav1.PartialObjectMetadata, p *metadataPatch) bool {
		if !slices.Contains(m.Finalizers, finalizer) {
			return false
		}
		rest := slices.DeleteFunc(slices.Clone(m.Finalizers), func(f string) bool { return f == finalizer })
		if rest == nil {
			rest = []string{}
		}
		p.Metadata.Finalizers = &rest
		return true
	})
	if err == nil {
		klog.FromContext(ctx).V(2).Info("Garbage collector: removed finalizer", "finalizer", finalizer,
			"resource", item.resource.String(), "object", klog.KRef(item.namespace, item.name))
	}
	return err
}

// patchMetadata reads the object, lets fill write the patch (returning
// false when nothing needs changing) and sends it, retrying on
// conflicts.
func (c *Controller) patchMetadata(ctx context.Context, item objectRef, fill func(*metav1.PartialObjectMetadata, *metadataPatch) bool) error {
	client := c.metadata.Resource(item.resource).Namespace(item.namespace)
	for attempt := 1; ; attempt++ {
		m, err := client.Get(ctx, item.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || (err == nil && m.UID != item.uid) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("garbagecollector: reading %s %s: %w", item.resource.Resource, klog.KRef(item.namespace, item.name), err)
		}
		var p metadataPatch
		p.Metadata.UID, p.Metadata.ResourceVersion = m.UID, m.ResourceVersion
		if !fill(m, &p) {
			return nil
		}
		data, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("garbagecollector: encoding patch: %w", err)
		}
		_, err = client.Patch(ctx, item.name, types.MergePatchType, data, metav1.PatchOptions{})
		switch {
		case err == nil, apierrors.IsNotFound(err):
			return nil
		case apierrors.IsConflict(err) && attempt < maxPatchAttempts:
			continue
		default:
			return fmt.Errorf("garbagecollector: patching %s %s: %w", item.resource.Resource, klog.KRef(item.namespace, item.name), err)
		}
	}
}

func ownerReferencesEqual(a, b []metav1.OwnerReference) bool {
	return slices.EqualFunc(a, b, func(x, y metav1.OwnerReference) bool {
		return x.UID == y.UID && x.APIVersion == y.APIVersion && x.Kind == y.Kind && x.Name == y.Name &&
			boolPtrEqual(x.Controller, y.Controller) && boolPtrEqual(x.BlockOwnerDeletion, y.BlockOwnerDeletion)
	})
}

func boolPtrEqual(a, b *bool) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
