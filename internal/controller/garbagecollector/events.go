package garbagecollector

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// deletingDependents reports whether an object is in foreground
// deletion: marked deleted and waiting, with the foregroundDeletion
// finalizer, for its dependents to go.
func deletingDependents(m *metav1.PartialObjectMetadata) bool {
	return m.DeletionTimestamp != nil && slices.Contains(m.Finalizers, metav1.FinalizerDeleteDependents)
}

// orphaning reports whether an object waits for its dependents to be
// orphaned.
func orphaning(m *metav1.PartialObjectMetadata) bool {
	return m.DeletionTimestamp != nil && slices.Contains(m.Finalizers, metav1.FinalizerOrphanDependents)
}

// objectChanged queues what an added or updated object may require:
//   - its own orphaning or foreground deletion;
//   - its dependents, when it starts a foreground deletion;
//   - itself, when an owner it names is not cached (maybe gone) or is in
//     foreground deletion;
//   - its owners in foreground deletion, whose blocking dependents may
//     have changed.
func (c *Controller) objectChanged(gvr schema.GroupVersionResource, oldObj, newObj interface{}) {
	m := metadataOf(newObj)
	if m == nil {
		return
	}
	var old *metav1.PartialObjectMetadata
	if oldObj != nil {
		old = metadataOf(oldObj)
	}
	ref := refOf(gvr, m)
	if orphaning(m) {
		c.orphanQueue.Add(ref)
	}
	if deletingDependents(m) {
		c.deleteQueue.Add(ref)
		if old == nil || !deletingDependents(old) {
			for _, dep := range c.cachedDependents(m.UID) {
				c.deleteQueue.Add(dep.ref)
			}
		}
	}
	checkSelf := false
	for _, owner := range m.OwnerReferences {
		cached, ownerGVR, ok := c.cachedByUID(owner.UID)
		switch {
		case !ok:
			checkSelf = true
		case deletingDependents(cached):
			checkSelf = true
			c.deleteQueue.Add(refOf(ownerGVR, cached))
		}
	}
	if checkSelf {
		c.deleteQueue.Add(ref)
	}
	if old != nil {
		c.queueOwnersDeletingDependents(old.OwnerReferences)
	}
}

// objectDeleted queues the dependents of a deleted object (they may now
// be garbage) and its owners in foreground deletion (one fewer blocking
// dependent).
func (c *Controller) objectDeleted(gvr schema.GroupVersionResource, obj interface{}) {
	m := metadataOf(obj)
	if m == nil {
		return
	}
	for _, dep := range c.cachedDependents(m.UID) {
		c.deleteQueue.Add(dep.ref)
	}
	c.queueOwnersDeletingDependents(m.OwnerReferences)
}

func (c *Controller) queueOwnersDeletingDependents(owners []metav1.OwnerReference) {
	for _, owner := range owners {
		if cached, ownerGVR, ok := c.cachedByUID(owner.UID); ok && deletingDependents(cached) {
			c.deleteQueue.Add(refOf(ownerGVR, cached))
		}
	}
}
