package cacher

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/klog/v2"

	"github.com/navarch/navarch/internal/storage"
)

// Defaults of Config.
const (
	DefaultHistorySize      = 4096
	DefaultBookmarkInterval = time.Minute
	DefaultFreshTimeout     = 3 * time.Second
)

const (
	// watcherInput is how many changes a watcher may lag behind the cache
	// before the cache waits for it.
	watcherInput = 1024
	// dispatchBudget is how long one change waits, in all, for watchers
	// whose input is full; the ones still full then are dropped.
	dispatchBudget = 100 * time.Millisecond
	// resultBuffer is how many events a watcher holds for its consumer,
	// as etcd3's watches do.
	resultBuffer = 100
	// progressEvery spaces the progress requests of waiting readers.
	progressEvery = 50 * time.Millisecond
	// restartDelay is the pause before the wrapped watch is opened again
	// after it failed.
	restartDelay = time.Second
)

// Config configures a Cacher.
type Config struct {
	// Storage is the wrapped store; required.
	Storage storage.Interface
	// Prefix is the directory of the cached resource, ending in "/"
	// ("/registry/pods/"); required.
	Prefix string
	// NewObject returns an empty object of the stored type; required.
	NewObject func() runtime.Object
	// NewList returns an empty list of the stored type; required. The
	// cache lists one item at a revision to learn whether etcd compacted
	// it.
	NewList func() runtime.Object
	// KeyOf returns the key an object is stored under; required. Watches
	// deliver objects, not keys, so the cache derives them.
	KeyOf func(obj runtime.Object) (string, error)
	// HistorySize is how many of the latest changes the cache keeps for
	// watches from a past resourceVersion (default DefaultHistorySize).
	HistorySize int
	// BookmarkInterval is how often idle watchers that allow bookmarks get
	// one (default DefaultBookmarkInterval).
	BookmarkInterval time.Duration
	// FreshTimeout bounds the wait for the cache to start or catch up with
	// the store before a watch goes to the store instead (default
	// DefaultFreshTimeout).
	FreshTimeout time.Duration
}

// Cacher is a storage.Interface serving the watches of one resource from
// memory. It caches only while Run runs; before and after, every call goes
// to the wrapped store.
type Cacher struct {
	cfg   Config
	store storage.Interface

	// lastProgressRequest (unix nanoseconds) rate-limits progress
	// requests.
	lastProgressRequest atomic.Int64

	mu sync.Mutex
	// running is true while Run runs; ready once the cache holds the
	// store's objects (at revision rev or later).
	running, ready bool
	// readyc is closed (and replaced) each time the cache becomes ready.
	readyc chan struct{}
	// rev is the newest revision every change up to which is applied.
	rev int64
	// objects are the current objects by key. They hold no encodings:
	// those live in the history's events, for as long as the events do.
	objects map[string]runtime.Object
	// history is a ring of the latest changes, oldest at head; every
	// change after historyStart is in it.
	history      []*event
	head, size   int
	historyStart int64
	// watchers are replaced, never modified, so dispatch reads them
	// without the lock.
	watchers []*cacheWatcher
	// progress is closed when rev moves or the cache becomes ready; nil
	// until a reader waits for it.
	progress chan struct{}
	// requester asks the wrapped watch for a progress bookmark; nil when
	// it cannot.
	requester storage.ProgressRequester
}

var _ storage.Interface = (*Cacher)(nil)

// event is one change of the cache, shared by every watcher.
type event struct {
	typ watch.EventType // Added, Modified, Deleted; Bookmark for progress only
	key string
	rev int64
	// obj is the object at rev; for Deleted, its last state with the
	// resourceVersion of the deletion.
	obj *cachingObject
	// prev is the object before the change, nil when there was none.
	prev runtime.Object

	prevAtRevOnce sync.Once
	prevAtRev     *cachingObject
}

// previousAtRevision is prev with the resourceVersion of the change: what a
// watcher whose selector the object left receives as Deleted.
func (e *event) previousAtRevision() *cachingObject {
	e.prevAtRevOnce.Do(func() {
		obj := e.prev.DeepCopyObject()
		if m, err := meta.Accessor(obj); err == nil {
			m.SetResourceVersion(strconv.FormatInt(e.rev, 10))
		}
		e.prevAtRev = newCachingObject(obj)
	})
	return e.prevAtRev
}

// New returns a Cacher; it panics when cfg lacks a required field, which
// is a programming error.
func New(cfg Config) *Cacher {
	if cfg.Storage == nil || cfg.NewObject == nil || cfg.NewList == nil || cfg.KeyOf == nil || !strings.HasSuffix(cfg.Prefix, "/") {
		panic("cacher: Config needs Storage, NewObject, NewList, KeyOf and a Prefix ending in /")
	}
	if cfg.HistorySize <= 0 {
		cfg.HistorySize = DefaultHistorySize
	}
	if cfg.BookmarkInterval <= 0 {
		cfg.BookmarkInterval = DefaultBookmarkInterval
	}
	if cfg.FreshTimeout <= 0 {
		cfg.FreshTimeout = DefaultFreshTimeout
	}
	return &Cacher{cfg: cfg, store: cfg.Storage, readyc: make(chan struct{})}
}

// Run keeps the cache filled until ctx ends: it watches the wrapped store
// and opens the watch again (after a pause, with every watcher dropped)
// when it fails. It returns nil when ctx ends.
func (c *Cacher) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithValues("prefix", c.cfg.Prefix)
	c.mu.Lock()
	c.running = true
	c.mu.Unlock()
	defer c.stop(false)
	for {
		err := c.watchStore(ctx)
		if ctx.Err() != nil {
			return nil
		}
		logger.Error(err, "watch cache restarts")
		c.stop(true)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(restartDelay):
		}
	}
}

// Ready returns a channel closed once the cache holds the store's objects
// (or at once when it is ready now).
func (c *Cacher) Ready() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ready {
		done := make(chan struct{})
		close(done)
		return done
	}
	return c.readyc
}

// Cached returns the object the cache holds at key, without copying it:
// a reader must not modify it. It reports false when the cache has no
// object there or is not ready. The object may be a moment old (the cache
// applies changes after etcd does); a caller that must not miss an object
// just created reads the store when this reports false, as upstream's
// admission plugins fall back from their informers to a live read.
func (c *Cacher) Cached(key string) (runtime.Object, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ready {
		return nil, false
	}
	obj, ok := c.objects[key]
	return obj, ok
}

// IsReady reports whether the cache serves watches now.
func (c *Cacher) IsReady() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ready
}

// stop marks the cache empty and ends every watcher's stream; with
// running, Run goes on.
func (c *Cacher) stop(running bool) {
	c.mu.Lock()
	c.running = running
	c.ready = false
	c.requester = nil
	c.objects = nil
	c.history, c.head, c.size = nil, 0, 0
	ws := c.watchers
	c.watchers = nil
	c.wakeLocked()
	c.mu.Unlock()
	for _, w := range ws {
		w.stop()
	}
}

// watchStore fills the cache from one watch of the store and applies its
// changes until it fails or ctx ends.
func (c *Cacher) watchStore(ctx context.Context) error {
	yes := true
	w, err := c.store.Watch(ctx, c.cfg.Prefix, storage.ListOptions{
		SendInitialEvents: &yes, AllowWatchBookmarks: true, NewObject: c.cfg.NewObject,
	})
	if err != nil {
		return fmt.Errorf("cacher: watch %s: %w", c.cfg.Prefix, err)
	}
	defer w.Stop()
	requester, _ := w.(storage.ProgressRequester)
	initial := map[string]runtime.Object{}
	loading := true
	for ev := range w.ResultChan() {
		switch ev.Type {
		case watch.Error:
			if status, ok := ev.Object.(*metav1.Status); ok {
				return fmt.Errorf("cacher: watch %s: %s", c.cfg.Prefix, status.Message)
			}
			return fmt.Errorf("cacher: watch %s: error %T", c.cfg.Prefix, ev.Object)
		case watch.Bookmark:
			rev, err := revisionOf(ev.Object)
			if err != nil {
				return err
			}
			if loading {
				if m, err := meta.Accessor(ev.Object); err == nil && m.GetAnnotations()[metav1.InitialEventsAnnotationKey] == "true" {
					c.load(initial, rev, requester)
					initial, loading = nil, false
				}
				continue
			}
			c.advance(rev)
		default:
			if loading {
				key, err := c.cfg.KeyOf(ev.Object)
				if err != nil {
					return fmt.Errorf("cacher: %w", err)
				}
				initial[key] = ev.Object
				continue
			}
			if err := c.apply(ev); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("cacher: watch %s ended", c.cfg.Prefix)
}

// load makes objects, at revision rev, the cache's content.
func (c *Cacher) load(objects map[string]runtime.Object, rev int64, requester storage.ProgressRequester) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.objects = objects
	c.rev, c.historyStart = rev, rev
	c.history, c.head, c.size = make([]*event, c.cfg.HistorySize), 0, 0
	c.requester = requester
	c.ready = true
	close(c.readyc)
	c.readyc = make(chan struct{})
	c.wakeLocked()
}

// apply records one change and hands it to the watchers.
func (c *Cacher) apply(ev watch.Event) error {
	key, err := c.cfg.KeyOf(ev.Object)
	if err != nil {
		return fmt.Errorf("cacher: %w", err)
	}
	rev, err := revisionOf(ev.Object)
	if err != nil {
		return err
	}
	e := &event{typ: ev.Type, key: key, rev: rev, obj: newCachingObject(ev.Object)}
	c.mu.Lock()
	e.prev = c.objects[key]
	if ev.Type == watch.Deleted {
		delete(c.objects, key)
	} else {
		c.objects[key] = ev.Object
	}
	if c.size < len(c.history) {
		c.history[(c.head+c.size)%len(c.history)] = e
		c.size++
	} else {
		c.historyStart = c.history[c.head].rev
		c.history[c.head] = e
		c.head = (c.head + 1) % len(c.history)
	}
	c.rev = max(c.rev, rev)
	c.wakeLocked()
	ws := c.watchers
	c.mu.Unlock()
	c.dispatch(ws, e)
	return nil
}

// advance records that every change up to rev has been applied.
func (c *Cacher) advance(rev int64) {
	c.mu.Lock()
	if rev <= c.rev {
		c.mu.Unlock()
		return
	}
	c.rev = rev
	c.wakeLocked()
	ws := c.watchers
	c.mu.Unlock()
	c.dispatch(ws, &event{typ: watch.Bookmark, rev: rev})
}

// wakeLocked wakes the readers waiting for progress.
func (c *Cacher) wakeLocked() {
	if c.progress != nil {
		close(c.progress)
		c.progress = nil
	}
}

// dispatch hands e to every watcher, in order. A watcher whose input is
// full gets a share of dispatchBudget; one still full after that is
// dropped, so that one stuck consumer cannot hold up the others.
func (c *Cacher) dispatch(ws []*cacheWatcher, e *event) {
	var budget *time.Timer
	expired := false
	for _, w := range ws {
		select {
		case w.input <- e:
			continue
		case <-w.done:
			continue
		default:
		}
		if !expired {
			if budget == nil {
				budget = time.NewTimer(dispatchBudget)
				defer budget.Stop()
			}
			select {
			case w.input <- e:
				continue
			case <-w.done:
				continue
			case <-budget.C:
				expired = true
			}
		}
		w.stop()
		c.removeWatcher(w)
	}
}

func (c *Cacher) addWatcherLocked(w *cacheWatcher) {
	ws := make([]*cacheWatcher, len(c.watchers), len(c.watchers)+1)
	copy(ws, c.watchers)
	c.watchers = append(ws, w)
}

func (c *Cacher) removeWatcher(w *cacheWatcher) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.watchers {
		if x == w {
			ws := make([]*cacheWatcher, 0, len(c.watchers)-1)
			ws = append(ws, c.watchers[:i]...)
			c.watchers = append(ws, c.watchers[i+1:]...)
			return
		}
	}
}

// waitFresh waits until the cache is ready and has applied every change
// up to rev, or, with current, up to the store's revision now (if newer).
// It reports false when that did not happen within FreshTimeout.
func (c *Cacher) waitFresh(ctx context.Context, rev int64, current bool) bool {
	if current {
		now, err := c.store.CurrentRevision(ctx)
		if err != nil {
			return false
		}
		rev = max(rev, now)
	}
	deadline := time.NewTimer(c.cfg.FreshTimeout)
	defer deadline.Stop()
	var retry *time.Ticker
	for {
		c.mu.Lock()
		if !c.running {
			c.mu.Unlock()
			return false
		}
		if c.ready && c.rev >= rev {
			c.mu.Unlock()
			return true
		}
		if c.progress == nil {
			c.progress = make(chan struct{})
		}
		progress, requester := c.progress, c.requester
		c.mu.Unlock()
		if requester != nil {
			c.requestProgress(requester)
		}
		if retry == nil {
			retry = time.NewTicker(progressEvery)
			defer retry.Stop()
		}
		select {
		case <-progress:
		case <-retry.C:
		case <-deadline.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// requestProgress asks the wrapped watch for a bookmark, at most once per
// progressEvery.
func (c *Cacher) requestProgress(r storage.ProgressRequester) {
	now := time.Now().UnixNano()
	last := c.lastProgressRequest.Load()
	if now-last < int64(progressEvery) || !c.lastProgressRequest.CompareAndSwap(last, now) {
		return
	}
	_ = r.RequestProgress()
}

// Watch implements storage.Interface; see the package documentation.
func (c *Cacher) Watch(ctx context.Context, prefix string, opts storage.ListOptions) (watch.Interface, error) {
	if !c.covers(prefix) || (!opts.Predicate.Empty() && opts.Predicate.GetAttrs == nil) {
		return c.store.Watch(ctx, prefix, opts)
	}
	var rev int64
	if opts.ResourceVersion != "" && opts.ResourceVersion != "0" {
		var err error
		if rev, err = strconv.ParseInt(opts.ResourceVersion, 10, 64); err != nil || rev <= 0 {
			return c.store.Watch(ctx, prefix, opts) // the store words the error
		}
	}
	initial := rev == 0
	if opts.SendInitialEvents != nil {
		initial = *opts.SendInitialEvents
	}
	newObject := opts.NewObject
	if newObject == nil {
		newObject = c.cfg.NewObject
	}
	w := &cacheWatcher{
		keys:             newKeyRange(prefix),
		pred:             opts.Predicate,
		newObject:        newObject,
		allowBookmarks:   opts.AllowWatchBookmarks,
		bookmarkInterval: c.cfg.BookmarkInterval,
		initialEnd:       opts.SendInitialEvents != nil && *opts.SendInitialEvents,
		input:            make(chan *event, watcherInput),
		result:           make(chan watch.Event, resultBuffer),
		done:             make(chan struct{}),
		ctx:              ctx,
		cacher:           c,
	}
	if initial {
		// Synthetic Added events as fresh as a read of the store.
		if !c.waitFresh(ctx, rev, true) {
			return c.store.Watch(ctx, prefix, opts)
		}
		c.mu.Lock()
		if !c.ready {
			c.mu.Unlock()
			return c.store.Watch(ctx, prefix, opts)
		}
		for key, obj := range c.objects {
			if w.keys.covers(key) {
				w.initial = append(w.initial, keyed{key, obj})
			}
		}
		w.startRev = c.rev
		c.addWatcherLocked(w)
		c.mu.Unlock()
		sort.Slice(w.initial, func(i, j int) bool { return w.initial[i].key < w.initial[j].key })
	} else {
		// From "now" (resourceVersion "" or "0" without initial events)
		// is from the store's revision now, as the store would start.
		if !c.waitFresh(ctx, 0, rev == 0) || (rev != 0 && c.compacted(ctx, rev)) {
			return c.store.Watch(ctx, prefix, opts)
		}
		c.mu.Lock()
		if !c.ready || (rev != 0 && rev < c.historyStart) {
			// Older than the history: the store still has it (until
			// compaction) and says 410 when not.
			c.mu.Unlock()
			return c.store.Watch(ctx, prefix, opts)
		}
		if rev == 0 {
			rev = c.rev
		}
		for i := 0; i < c.size; i++ {
			if e := c.history[(c.head+i)%len(c.history)]; e.rev > rev {
				w.replay = append(w.replay, e)
			}
		}
		w.startRev = max(rev, c.rev)
		c.addWatcherLocked(w)
		c.mu.Unlock()
	}
	w.lastRev = w.startRev
	if len(w.replay) > 0 {
		w.lastRev = rev
	}
	go w.run()
	return w, nil
}

// compacted reports whether the store no longer holds revision rev (a
// watch from it gets 410 Gone there, and must here too, even though the
// history still has its changes). It reads one object at rev; revisions
// the cache has not reached yet are not compacted.
func (c *Cacher) compacted(ctx context.Context, rev int64) bool {
	c.mu.Lock()
	newer := rev >= c.rev
	c.mu.Unlock()
	if newer {
		return false
	}
	err := c.store.List(ctx, c.cfg.Prefix, storage.ListOptions{
		ResourceVersion:      strconv.FormatInt(rev, 10),
		ResourceVersionMatch: metav1.ResourceVersionMatchExact,
		Predicate:            storage.Predicate{Limit: 1},
	}, c.cfg.NewList())
	return storage.IsExpired(err)
}

// covers reports whether a watch of prefix stays inside the cached
// directory.
func (c *Cacher) covers(prefix string) bool {
	return strings.HasPrefix(prefix, c.cfg.Prefix) || prefix == strings.TrimSuffix(c.cfg.Prefix, "/")
}

// Create implements storage.Interface.
func (c *Cacher) Create(ctx context.Context, key string, obj, out runtime.Object) error {
	return c.store.Create(ctx, key, obj, out)
}

// Get implements storage.Interface.
func (c *Cacher) Get(ctx context.Context, key string, opts storage.GetOptions, out runtime.Object) error {
	return c.store.Get(ctx, key, opts, out)
}

// List implements storage.Interface.
func (c *Cacher) List(ctx context.Context, prefix string, opts storage.ListOptions, listObj runtime.Object) error {
	return c.store.List(ctx, prefix, opts, listObj)
}

// GuaranteedUpdate implements storage.Interface. When the wrapped store
// is a storage.CachedUpdater, it starts from the cached object instead of
// reading the key.
func (c *Cacher) GuaranteedUpdate(ctx context.Context, key string, out runtime.Object, ignoreNotFound bool,
	preconditions *storage.Preconditions, tryUpdate storage.UpdateFunc) error {
	if u, ok := c.store.(storage.CachedUpdater); ok {
		c.mu.Lock()
		var cached runtime.Object
		if c.ready {
			cached = c.objects[key]
		}
		c.mu.Unlock()
		if cached != nil {
			return u.GuaranteedUpdateCached(ctx, key, out, ignoreNotFound, preconditions, tryUpdate, cached)
		}
	}
	return c.store.GuaranteedUpdate(ctx, key, out, ignoreNotFound, preconditions, tryUpdate)
}

// Delete implements storage.Interface.
func (c *Cacher) Delete(ctx context.Context, key string, out runtime.Object, preconditions *storage.Preconditions,
	validate storage.ValidateDeleteFunc) error {
	return c.store.Delete(ctx, key, out, preconditions, validate)
}

// CurrentRevision implements storage.Interface.
func (c *Cacher) CurrentRevision(ctx context.Context) (int64, error) {
	return c.store.CurrentRevision(ctx)
}

// revisionOf returns the resourceVersion of an object as a revision.
func revisionOf(obj runtime.Object) (int64, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return 0, fmt.Errorf("cacher: %w", err)
	}
	rev, err := strconv.ParseInt(m.GetResourceVersion(), 10, 64)
	if err != nil {
		return 0, errors.New("cacher: the store sent an object whose resourceVersion is not a revision")
	}
	return rev, nil
}
