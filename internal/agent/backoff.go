package agent

import (
	"sync"
	"time"
)

// Restart and image-pull back-off, as the kubelet's: the first failure
// retries at once, then 10 s, doubling up to 5 min; a container that ran
// for 10 min before exiting starts over.
const (
	initialBackoff = 10 * time.Second
	maxBackoff     = 5 * time.Minute
	// backoffResetAfter: a container that ran this long before it exited
	// restarts without delay, and its back-off starts over.
	backoffResetAfter = 10 * time.Minute
)

// backoff tracks one delay per key (pod UID + container name, or pod UID
// + image). It is safe for concurrent use.
type backoff struct {
	mu sync.Mutex
	// entries is guarded by mu.
	entries map[string]backoffEntry
}

type backoffEntry struct {
	// delay is the wait before the next attempt, counted from since.
	delay time.Duration
	// since is when the last failure happened.
	since time.Time
}

func newBackoff() *backoff { return &backoff{entries: map[string]backoffEntry{}} }

// waitUntil returns when the next attempt for key may happen, given that
// the last failure was at failedAt; the zero time means "now". An
// unknown key may go at once, and so may one whose previous failure was
// more than backoffResetAfter before this one (the container ran well
// in between).
func (b *backoff) waitUntil(key string, failedAt time.Time) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	if !ok || failedAt.Sub(e.since) > backoffResetAfter {
		return time.Time{}
	}
	return failedAt.Add(e.delay)
}

// failed records that key is retried after a failure at failedAt: the
// first gets initialBackoff, each next one doubles it up to maxBackoff,
// and one more than backoffResetAfter after the previous starts over.
func (b *backoff) failed(key string, failedAt time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	switch {
	case !ok || failedAt.Sub(e.since) > backoffResetAfter:
		e.delay = initialBackoff
	default:
		e.delay = min(2*e.delay, maxBackoff)
	}
	e.since = failedAt
	b.entries[key] = e
}

// blockedUntil returns when key's back-off ends, counted from its last
// recorded failure, and whether that is after now.
func (b *backoff) blockedUntil(key string, now time.Time) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	if !ok {
		return time.Time{}, false
	}
	until := e.since.Add(e.delay)
	return until, now.Before(until)
}

// current returns key's delay (0 when unknown).
func (b *backoff) current(key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.entries[key].delay
}

// reset forgets key.
func (b *backoff) reset(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.entries, key)
}

// forgetPrefix forgets every key starting with prefix (a pod's UID, when
// the pod is gone).
func (b *backoff) forgetPrefix(prefix string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.entries {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			delete(b.entries, k)
		}
	}
}
