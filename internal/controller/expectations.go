package controller

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/clock"
)

// ExpectationsTimeout is how long unmet expectations hold a controller
// back. After it a watch event was probably lost, and the controller syncs
// anyway rather than wait forever.
const ExpectationsTimeout = 5 * time.Minute

// ControllerExpectations counts, per controller key, the pod creations and
// deletions a controller has issued but not yet observed through its
// informer. A sync acts only when its key's expectations are satisfied;
// otherwise its cache is behind its own writes and it would act twice.
//
// The informer event handlers call CreationObserved / DeletionObserved;
// the sync calls ExpectCreations / ExpectDeletions before writing, and
// LowerExpectations for each write that failed (its event will never
// come). It is safe for concurrent use.
type ControllerExpectations struct {
	clock clock.PassiveClock

	mu    sync.Mutex
	items map[string]*expectation
}

type expectation struct {
	add, del  int64
	timestamp time.Time
}

// NewControllerExpectations returns empty expectations on the real clock.
func NewControllerExpectations() *ControllerExpectations {
	return NewControllerExpectationsWithClock(clock.RealClock{})
}

// NewControllerExpectationsWithClock returns empty expectations that use
// clk to expire stale records (tests pass a fake clock).
func NewControllerExpectationsWithClock(clk clock.PassiveClock) *ControllerExpectations {
	return &ControllerExpectations{clock: clk, items: map[string]*expectation{}}
}

// SatisfiedExpectations reports whether the controller for key may sync:
// it has no record (new, or deleted), all its expected events arrived, or
// the record is older than ExpectationsTimeout.
func (e *ControllerExpectations) SatisfiedExpectations(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	exp, ok := e.items[key]
	if !ok {
		return true
	}
	if exp.add <= 0 && exp.del <= 0 {
		return true
	}
	return e.clock.Since(exp.timestamp) > ExpectationsTimeout
}

// GetExpectations returns the outstanding creations and deletions for key
// and whether a record exists.
func (e *ControllerExpectations) GetExpectations(key string) (adds, dels int64, exists bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	exp, ok := e.items[key]
	if !ok {
		return 0, 0, false
	}
	return exp.add, exp.del, true
}

// SetExpectations replaces the record for key with adds creations and
// dels deletions, stamped now.
func (e *ControllerExpectations) SetExpectations(key string, adds, dels int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.items[key] = &expectation{add: int64(adds), del: int64(dels), timestamp: e.clock.Now()}
}

// ExpectCreations records that adds pods are about to be created for key
// (and no deletions).
func (e *ControllerExpectations) ExpectCreations(key string, adds int) {
	e.SetExpectations(key, adds, 0)
}

// ExpectDeletions records that dels pods are about to be deleted for key
// (and no creations).
func (e *ControllerExpectations) ExpectDeletions(key string, dels int) {
	e.SetExpectations(key, 0, dels)
}

// RaiseExpectations adds to the outstanding counts of an existing record.
func (e *ControllerExpectations) RaiseExpectations(key string, adds, dels int) {
	e.adjust(key, int64(adds), int64(dels))
}

// LowerExpectations subtracts from the outstanding counts of an existing
// record.
func (e *ControllerExpectations) LowerExpectations(key string, adds, dels int) {
	e.adjust(key, -int64(adds), -int64(dels))
}

// CreationObserved counts one observed creation for key.
func (e *ControllerExpectations) CreationObserved(key string) {
	e.LowerExpectations(key, 1, 0)
}

// DeletionObserved counts one observed deletion for key.
func (e *ControllerExpectations) DeletionObserved(key string) {
	e.LowerExpectations(key, 0, 1)
}

// DeleteExpectations forgets key (its controller was deleted).
func (e *ControllerExpectations) DeleteExpectations(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.items, key)
}

func (e *ControllerExpectations) adjust(key string, adds, dels int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	exp, ok := e.items[key]
	if !ok {
		return
	}
	exp.add += adds
	exp.del += dels
}

// UIDTrackingExpectations is ControllerExpectations that also remembers
// which pods (by PodKey) it expects to see deleted. A pod's deletion is
// seen twice, once as an update setting deletionTimestamp and once as the
// delete itself; tracking keys counts it once.
type UIDTrackingExpectations struct {
	*ControllerExpectations

	mu      sync.Mutex
	deletes map[string]sets.Set[string]
}

// NewUIDTrackingExpectations wraps expectations with deletion tracking.
func NewUIDTrackingExpectations(expectations *ControllerExpectations) *UIDTrackingExpectations {
	return &UIDTrackingExpectations{ControllerExpectations: expectations, deletes: map[string]sets.Set[string]{}}
}

// GetDeletionKeys returns the pod keys still expected to be deleted for
// key.
func (u *UIDTrackingExpectations) GetDeletionKeys(key string) sets.Set[string] {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.deletes[key].Clone()
}

// ExpectDeletions records that the pods with podKeys are about to be
// deleted for key.
func (u *UIDTrackingExpectations) ExpectDeletions(key string, podKeys []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.deletes[key] = sets.New(podKeys...)
	u.ControllerExpectations.ExpectDeletions(key, len(podKeys))
}

// DeletionObserved counts the deletion of podKey for key, once.
func (u *UIDTrackingExpectations) DeletionObserved(key, podKey string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	pending := u.deletes[key]
	if pending == nil || !pending.Has(podKey) {
		return
	}
	pending.Delete(podKey)
	u.ControllerExpectations.DeletionObserved(key)
}

// DeleteExpectations forgets key and its tracked deletions.
func (u *UIDTrackingExpectations) DeleteExpectations(key string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.deletes, key)
	u.ControllerExpectations.DeleteExpectations(key)
}
