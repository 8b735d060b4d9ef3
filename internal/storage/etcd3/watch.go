package etcd3

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/metadata"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/navarch/navarch/internal/storage"
)

const (
	// resultBuffer is how many events a watch holds for a slow consumer
	// before it stops reading etcd (which then buffers in the client).
	resultBuffer = 100
	// initialPage is the page size of the list behind synthetic events.
	initialPage = 500
)

// Watch implements storage.Interface.
func (s *Store) Watch(ctx context.Context, prefix string, opts storage.ListOptions) (watch.Interface, error) {
	if err := checkPredicate(prefix, opts.Predicate); err != nil {
		return nil, err
	}
	rev, err := parseResourceVersion(prefix, opts.ResourceVersion)
	if err != nil {
		return nil, err
	}
	initial := rev == 0
	if opts.SendInitialEvents != nil {
		initial = *opts.SendInitialEvents
	}
	// start is the revision the stream begins after: the state of the
	// initial list, the caller's revision, or now.
	start := rev
	if initial || start == 0 {
		if start, err = s.CurrentRevision(ctx); err != nil {
			return nil, err
		}
		if start < rev {
			if start, err = s.waitForRevision(ctx, prefix, rev); err != nil {
				return nil, err
			}
		}
	}

	// The etcd client multiplexes watches whose contexts carry the same
	// gRPC metadata onto one stream. Each watch gets a stream of its own:
	// closing one of many watches on a shared stream sends a cancel request
	// that can deadlock the in-process client (v3client) when many close at
	// once while events flow, and a stream of one closes without one. The
	// context does not inherit the caller's values, which could carry
	// metadata of their own.
	streamCtx := metadata.AppendToOutgoingContext(clientv3.WithRequireLeader(context.Background()),
		"navarch-watch", strconv.FormatUint(s.watchIDs.Add(1), 10))
	watchCtx, cancel := context.WithCancel(streamCtx)
	w := &watcher{
		store:   s,
		keys:    newKeyRange(prefix),
		pred:    opts.Predicate,
		opts:    opts,
		start:   start,
		initial: initial,
		result:  make(chan watch.Event, resultBuffer),
		ctx:     watchCtx,
		cancel:  cancel,
	}
	stopWithCaller := context.AfterFunc(ctx, cancel)
	go func() {
		defer stopWithCaller()
		w.run()
	}()
	return w, nil
}

// keyRange is the set of keys a watch covers: the keys below a directory,
// or one key and the keys below it.
type keyRange struct {
	start, end string
	// exact is the key itself when prefix did not end in "/"; the range
	// [exact, exact+"0") then also holds siblings such as exact+"-1", which
	// covers filters out.
	exact string
}

func newKeyRange(prefix string) keyRange {
	switch {
	case prefix == "":
		return keyRange{start: "\x00", end: "\x00"} // every key
	case strings.HasSuffix(prefix, "/"):
		return keyRange{start: prefix, end: clientv3.GetPrefixRangeEnd(prefix)}
	default:
		// "0" follows "/": the range holds prefix and prefix+"/...".
		return keyRange{start: prefix, end: prefix + "0", exact: prefix}
	}
}

func (r keyRange) covers(key []byte) bool {
	if r.exact == "" {
		return true
	}
	return string(key) == r.exact ||
		(len(key) > len(r.exact) && key[len(r.exact)] == '/' && string(key[:len(r.exact)]) == r.exact)
}

// watcher is one Watch stream. Its goroutine (run) owns every field but
// result and cancel.
type watcher struct {
	store   *Store
	keys    keyRange
	pred    storage.Predicate
	opts    storage.ListOptions
	start   int64
	initial bool
	result  chan watch.Event
	ctx     context.Context // ends with Stop or with the caller's context
	cancel  context.CancelFunc

	// lastRev is the revision of the last event or bookmark sent.
	lastRev int64
	// progressRev is the newest revision etcd reported all changes up to.
	progressRev int64
	// lastType is the type of the last object decoded, for bookmarks when
	// opts.NewObject is nil.
	lastType reflect.Type
	// idle fires when a stream that allows bookmarks has sent nothing for
	// a bookmark interval; nil otherwise.
	idle *time.Timer

	// watching is set once the etcd watch is open (progress can be
	// requested on its stream); progressWanted when RequestProgress asked
	// for a bookmark that the next progress notification answers.
	watching, progressWanted atomic.Bool
}

var _ storage.ProgressRequester = (*watcher)(nil)

// RequestProgress implements storage.ProgressRequester: it asks etcd for a
// progress notification on this watch's stream, which etcd sends once the
// watch has sent every change up to its current revision; the stream then
// delivers a bookmark at that revision. Before the etcd watch is open it
// does nothing (callers ask again).
func (w *watcher) RequestProgress() error {
	if !w.opts.AllowWatchBookmarks || !w.watching.Load() || w.ctx.Err() != nil {
		return nil
	}
	w.progressWanted.Store(true)
	if err := w.store.client.RequestProgress(w.ctx); err != nil && w.ctx.Err() == nil {
		return fmt.Errorf("etcd3: request watch progress: %w", err)
	}
	return nil
}

// Stop implements watch.Interface. It does not wait for the stream to end;
// the result channel closes soon after.
func (w *watcher) Stop() { w.cancel() }

// ResultChan implements watch.Interface.
func (w *watcher) ResultChan() <-chan watch.Event { return w.result }

func (w *watcher) run() {
	defer close(w.result)
	defer w.cancel()
	// Open the etcd watch before listing, so that its start revision cannot
	// be compacted away while the initial events go out.
	changes := w.store.client.Watch(w.ctx, w.keys.start,
		clientv3.WithRange(w.keys.end),
		clientv3.WithRev(w.start+1),
		clientv3.WithPrevKV(),
		clientv3.WithProgressNotify())
	w.watching.Store(true)
	w.lastRev = w.start
	// Bookmarks go out when the stream has been idle for an interval, at
	// the newest revision etcd has reported progress to (WithProgressNotify:
	// etcd tells an idle watch, every --watch-progress-notify-interval, the
	// revision up to which it has sent all changes) or else at the last
	// revision sent. etcd says nothing before the store moves past a
	// watch's start, and then the last revision sent is the store's.
	var idle <-chan time.Time
	if w.opts.AllowWatchBookmarks {
		w.idle = time.NewTimer(w.store.bookmarkInterval)
		defer w.idle.Stop()
		idle = w.idle.C
	}
	if w.initial && !w.sendInitialEvents() {
		return
	}
	if w.opts.SendInitialEvents != nil && *w.opts.SendInitialEvents {
		if !w.sendBookmark(w.start, true) {
			return
		}
	}
	for {
		var resp clientv3.WatchResponse
		var ok bool
		select {
		case <-w.ctx.Done():
			return
		case <-idle:
			if !w.sendBookmark(max(w.lastRev, w.progressRev), false) {
				return
			}
			continue
		case resp, ok = <-changes:
		}
		if !ok || w.ctx.Err() != nil {
			return
		}
		if err := resp.Err(); err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) {
				w.sendExpired(resp.CompactRevision)
			} else {
				w.sendError(fmt.Errorf("etcd3: watch %s: %w", w.keys.start, err))
			}
			return
		}
		if resp.IsProgressNotify() {
			// etcd has sent every change up to this revision.
			w.progressRev = max(w.progressRev, resp.Header.Revision)
			if w.progressWanted.Swap(false) && !w.sendBookmark(max(w.lastRev, w.progressRev), false) {
				return
			}
			continue
		}
		for _, e := range resp.Events {
			if !w.sendChange(e) {
				return
			}
		}
	}
}

// sendInitialEvents sends a synthetic Added for every matching object at
// revision w.start, reading it in pages. It reports whether the stream
// goes on.
func (w *watcher) sendInitialEvents() bool {
	key := w.keys.start
	for {
		resp, err := w.store.client.Get(w.ctx, key,
			clientv3.WithRange(w.keys.end),
			clientv3.WithRev(w.start),
			clientv3.WithLimit(initialPage))
		if err != nil {
			if w.ctx.Err() != nil {
				return false
			}
			if errors.Is(err, rpctypes.ErrCompacted) {
				w.sendExpired(0)
			} else {
				w.sendError(fmt.Errorf("etcd3: list %s for watch: %w", w.keys.start, err))
			}
			return false
		}
		for _, kv := range resp.Kvs {
			if !w.keys.covers(kv.Key) {
				continue
			}
			obj, err := w.decode(kv, kv.ModRevision)
			if err != nil {
				return w.sendError(err)
			}
			ok, err := w.pred.Matches(obj)
			if err != nil {
				return w.sendError(err)
			}
			if ok && !w.send(watch.Added, obj, kv.ModRevision) {
				return false
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return true
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// sendChange turns one etcd event into the watch event the predicate's
// view of it calls for (none, Added, Modified or Deleted). It reports
// whether the stream goes on.
func (w *watcher) sendChange(e *clientv3.Event) bool {
	if !w.keys.covers(e.Kv.Key) {
		return true
	}
	rev := e.Kv.ModRevision
	if e.Type == mvccpb.DELETE {
		if e.PrevKv == nil {
			return w.sendError(fmt.Errorf("etcd3: delete of %s at revision %d came without the previous value", e.Kv.Key, rev))
		}
		// The object as it was, at the revision that deleted it.
		old, err := w.decode(e.PrevKv, rev)
		if err != nil {
			return w.sendError(err)
		}
		return w.sendIfMatches(watch.Deleted, old, rev)
	}
	cur, err := w.decode(e.Kv, rev)
	if err != nil {
		return w.sendError(err)
	}
	if e.IsCreate() || e.PrevKv == nil {
		return w.sendIfMatches(watch.Added, cur, rev)
	}
	if w.pred.Empty() {
		return w.send(watch.Modified, cur, rev)
	}
	curMatches, err := w.pred.Matches(cur)
	if err != nil {
		return w.sendError(err)
	}
	old, err := w.decode(e.PrevKv, rev)
	if err != nil {
		return w.sendError(err)
	}
	oldMatches, err := w.pred.Matches(old)
	if err != nil {
		return w.sendError(err)
	}
	switch {
	case curMatches && oldMatches:
		return w.send(watch.Modified, cur, rev)
	case curMatches:
		return w.send(watch.Added, cur, rev)
	case oldMatches:
		// It left the selection: for this watcher it is gone.
		return w.send(watch.Deleted, old, rev)
	}
	w.lastRev = rev
	return true
}

func (w *watcher) sendIfMatches(t watch.EventType, obj runtime.Object, rev int64) bool {
	ok, err := w.pred.Matches(obj)
	if err != nil {
		return w.sendError(err)
	}
	if !ok {
		w.lastRev = rev
		return true
	}
	return w.send(t, obj, rev)
}

func (w *watcher) decode(kv *mvccpb.KeyValue, rev int64) (runtime.Object, error) {
	obj, err := w.store.decodeNew(string(kv.Key), kv.Value, rev, w.opts.NewObject)
	if err != nil {
		return nil, err
	}
	w.lastType = reflect.TypeOf(obj).Elem()
	return obj, nil
}

// sendBookmark sends a Bookmark at rev; initialEnd marks the end of the
// initial events of the watch-list protocol.
func (w *watcher) sendBookmark(rev int64, initialEnd bool) bool {
	var obj runtime.Object
	switch {
	case w.opts.NewObject != nil:
		obj = w.opts.NewObject()
	case w.lastType != nil:
		obj = reflect.New(w.lastType).Interface().(runtime.Object)
	default:
		obj = &metav1.PartialObjectMetadata{}
	}
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return w.sendError(fmt.Errorf("etcd3: bookmark object %T: %w", obj, err))
	}
	accessor.SetResourceVersion(strconv.FormatInt(rev, 10))
	if initialEnd {
		accessor.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
	}
	return w.send(watch.Bookmark, obj, rev)
}

// send delivers an event at revision rev unless the stream is stopped
// first; it reports whether the stream goes on.
func (w *watcher) send(t watch.EventType, obj runtime.Object, rev int64) bool {
	w.lastRev = rev
	if w.idle != nil {
		w.idle.Reset(w.store.bookmarkInterval)
	}
	select {
	case w.result <- watch.Event{Type: t, Object: obj}:
		return true
	case <-w.ctx.Done():
		return false
	}
}

// sendExpired ends the stream with the 410 Gone clients answer with a
// fresh list.
func (w *watcher) sendExpired(compacted int64) {
	msg := fmt.Sprintf("too old resource version: %d", w.start)
	if compacted > 0 {
		msg += fmt.Sprintf(" (compacted to %d)", compacted)
	}
	status := apierrors.NewResourceExpired(msg).ErrStatus
	w.sendStatus(&status)
}

// sendError ends the stream with an internal error; it returns false so
// callers can end with it.
func (w *watcher) sendError(err error) bool {
	status := apierrors.NewInternalError(err).ErrStatus
	w.sendStatus(&status)
	return false
}

func (w *watcher) sendStatus(status *metav1.Status) {
	select {
	case w.result <- watch.Event{Type: watch.Error, Object: status}:
	case <-w.ctx.Done():
	}
}
