package cacher

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/navarch/navarch/internal/storage"
)

// keyed is an object of the cache with its key.
type keyed struct {
	key string
	obj runtime.Object
}

// cacheWatcher is one watch served from the cache. Its goroutine (run)
// owns lastRev and the idle timer; initial and replay are set before it
// starts.
type cacheWatcher struct {
	cacher           *Cacher
	keys             keyRange
	pred             storage.Predicate
	newObject        func() runtime.Object
	allowBookmarks   bool
	bookmarkInterval time.Duration
	// initialEnd: send the initial-events-end bookmark after initial.
	initialEnd bool
	// initial are the objects of the synthetic Added events, in key order.
	initial []keyed
	// replay are the changes from the history the watch starts with.
	replay []*event
	// startRev: changes up to it are in initial or replay; later ones come
	// through input.
	startRev int64
	// lastRev is the newest revision the watcher has seen, where its
	// bookmarks go.
	lastRev int64

	input  chan *event
	result chan watch.Event
	ctx    context.Context
	// done is closed by stop: by the consumer's Stop, or by the cache
	// dropping the watcher.
	done     chan struct{}
	stopOnce sync.Once
	idle     *time.Timer
}

// Stop implements watch.Interface.
func (w *cacheWatcher) Stop() { w.stop() }

// ResultChan implements watch.Interface.
func (w *cacheWatcher) ResultChan() <-chan watch.Event { return w.result }

func (w *cacheWatcher) stop() { w.stopOnce.Do(func() { close(w.done) }) }

func (w *cacheWatcher) stopped() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

func (w *cacheWatcher) run() {
	defer func() {
		stopped := w.ctx.Err() != nil || w.stopped()
		w.stop()
		w.cacher.removeWatcher(w)
		if stopped {
			// A consumer that stopped gets no more events: drop what it
			// has not read yet, so the stream ends as soon as it looks.
			// The consumer may be reading at the same time: a blocking
			// receive here could wait for an event it took first.
		drain:
			for {
				select {
				case <-w.result:
				default:
					break drain
				}
			}
		}
		close(w.result)
	}()
	var idle <-chan time.Time
	if w.allowBookmarks {
		w.idle = time.NewTimer(w.bookmarkInterval)
		defer w.idle.Stop()
		idle = w.idle.C
	}
	for _, o := range w.initial {
		ok, err := w.pred.Matches(o.obj)
		if err != nil {
			w.sendError(err)
			return
		}
		if ok && !w.send(watch.Added, newCachingObject(o.obj)) {
			return
		}
	}
	w.initial = nil
	if w.initialEnd && !w.sendBookmark(w.startRev, true) {
		return
	}
	for _, e := range w.replay {
		if !w.handle(e) {
			return
		}
	}
	w.replay = nil
	w.lastRev = max(w.lastRev, w.startRev)
	for {
		select {
		case <-w.done:
			return
		case <-w.ctx.Done():
			return
		case <-idle:
			if !w.sendBookmark(w.lastRev, false) {
				return
			}
		case e := <-w.input:
			if e.rev <= w.startRev {
				continue // already in initial or replay
			}
			if !w.handle(e) {
				return
			}
		}
	}
}

// handle turns one change into the event this watcher's key range and
// predicate call for (none, Added, Modified or Deleted). It reports
// whether the stream goes on.
func (w *cacheWatcher) handle(e *event) bool {
	w.lastRev = max(w.lastRev, e.rev)
	if e.typ == watch.Bookmark || !w.keys.covers(e.key) {
		return true
	}
	switch e.typ {
	case watch.Added, watch.Deleted:
		return w.sendIfMatches(e.typ, e.obj)
	}
	if w.pred.Empty() {
		if e.prev == nil {
			return w.send(watch.Added, e.obj)
		}
		return w.send(watch.Modified, e.obj)
	}
	curMatches, err := w.pred.Matches(e.obj.obj)
	if err != nil {
		return w.sendError(err)
	}
	oldMatches := false
	if e.prev != nil {
		if oldMatches, err = w.pred.Matches(e.prev); err != nil {
			return w.sendError(err)
		}
	}
	switch {
	case curMatches && oldMatches:
		return w.send(watch.Modified, e.obj)
	case curMatches:
		return w.send(watch.Added, e.obj)
	case oldMatches:
		// It left the selection: for this watcher it is gone, as it was,
		// at the revision of the change.
		return w.send(watch.Deleted, e.previousAtRevision())
	}
	return true
}

func (w *cacheWatcher) sendIfMatches(t watch.EventType, obj *cachingObject) bool {
	ok, err := w.pred.Matches(obj.obj)
	if err != nil {
		return w.sendError(err)
	}
	return !ok || w.send(t, obj)
}

// send delivers an event unless the stream stops first; it reports
// whether the stream goes on.
func (w *cacheWatcher) send(t watch.EventType, obj runtime.Object) bool {
	// A stopped stream sends nothing more, even with room in result.
	if w.ctx.Err() != nil || w.stopped() {
		return false
	}
	if w.idle != nil {
		w.idle.Reset(w.bookmarkInterval)
	}
	select {
	case w.result <- watch.Event{Type: t, Object: obj}:
		return true
	case <-w.done:
		return false
	case <-w.ctx.Done():
		return false
	}
}

// sendBookmark sends a Bookmark at rev; initialEnd marks the end of the
// initial events of the watch-list protocol.
func (w *cacheWatcher) sendBookmark(rev int64, initialEnd bool) bool {
	obj := w.newObject()
	m, err := meta.Accessor(obj)
	if err != nil {
		return w.sendError(fmt.Errorf("cacher: bookmark object %T: %w", obj, err))
	}
	m.SetResourceVersion(strconv.FormatInt(rev, 10))
	if initialEnd {
		m.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
	}
	return w.send(watch.Bookmark, obj)
}

// sendError ends the stream with an internal error; it returns false.
func (w *cacheWatcher) sendError(err error) bool {
	status := apierrors.NewInternalError(err).ErrStatus
	select {
	case w.result <- watch.Event{Type: watch.Error, Object: &status}:
	case <-w.done:
	case <-w.ctx.Done():
	}
	return false
}

// keyRange is the keys a watch covers: those below a directory, or one
// key and those below it.
type keyRange struct {
	prefix string
	// exact is set when the prefix names a key rather than a directory.
	exact bool
}

func newKeyRange(prefix string) keyRange {
	return keyRange{prefix: prefix, exact: !strings.HasSuffix(prefix, "/")}
}

func (r keyRange) covers(key string) bool {
	if !r.exact {
		return strings.HasPrefix(key, r.prefix)
	}
	return key == r.prefix || (strings.HasPrefix(key, r.prefix) && key[len(r.prefix)] == '/')
}
