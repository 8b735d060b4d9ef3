package endpointslice

import (
	"sync"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

// deletionExpected marks a slice this controller deleted and expects to
// see go.
const deletionExpected = -1

// sliceTracker remembers the generation of every slice a controller
// wrote, per owning Service (or Endpoints), so that it can tell a stale
// informer cache (its own writes not seen yet: syncing now would undo or
// duplicate them) from changes made by others (which need a sync). It is
// safe for concurrent use.
type sliceTracker struct {
	mu sync.Mutex
	// generations maps "namespace/service" to slice UID to the generation
	// last written, or deletionExpected; guarded by mu.
	generations map[string]map[types.UID]int64
}

func newSliceTracker() *sliceTracker {
	return &sliceTracker{generations: map[string]map[types.UID]int64{}}
}

func trackerKey(slice *discoveryv1.EndpointSlice) string {
	return slice.Namespace + "/" + slice.Labels[discoveryv1.LabelServiceName]
}

// written records a slice returned by a create or update.
func (t *sliceTracker) written(slice *discoveryv1.EndpointSlice) {
	t.mu.Lock()
	defer t.mu.Unlock()
	key := trackerKey(slice)
	if t.generations[key] == nil {
		t.generations[key] = map[types.UID]int64{}
	}
	t.generations[key][slice.UID] = slice.Generation
}

// expectDeletion records a slice this controller deleted.
func (t *sliceTracker) expectDeletion(slice *discoveryv1.EndpointSlice) {
	t.mu.Lock()
	defer t.mu.Unlock()
	key := trackerKey(slice)
	if t.generations[key] == nil {
		t.generations[key] = map[types.UID]int64{}
	}
	t.generations[key][slice.UID] = deletionExpected
}

// changedByOthers reports whether a slice seen in an informer event is
// not (or newer than) what this controller wrote: then its owner needs a
// sync.
func (t *sliceTracker) changedByOthers(slice *discoveryv1.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	generation, tracked := t.generations[trackerKey(slice)][slice.UID]
	return !tracked || slice.Generation > generation
}

// deleted forgets a slice whose deletion was observed and reports whether
// this controller expected it (an unexpected deletion needs a sync).
func (t *sliceTracker) deleted(slice *discoveryv1.EndpointSlice) (expected bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	byUID, ok := t.generations[trackerKey(slice)]
	if !ok {
		return true
	}
	generation, tracked := byUID[slice.UID]
	delete(byUID, slice.UID)
	return !tracked || generation == deletionExpected
}

// stale reports whether the cached slices of a Service lag behind this
// controller's writes: a slice older than written, one expected deleted
// still there, or one written missing.
func (t *sliceTracker) stale(namespace, name string, cached []*discoveryv1.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	byUID, ok := t.generations[namespace+"/"+name]
	if !ok {
		return false
	}
	seen := make(map[types.UID]bool, len(cached))
	for _, slice := range cached {
		seen[slice.UID] = true
		if generation, tracked := byUID[slice.UID]; tracked && (generation == deletionExpected || generation > slice.Generation) {
			return true
		}
	}
	for uid, generation := range byUID {
		if generation != deletionExpected && !seen[uid] {
			return true
		}
	}
	return false
}

// forget drops what is tracked for a Service.
func (t *sliceTracker) forget(namespace, name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.generations, namespace+"/"+name)
}
