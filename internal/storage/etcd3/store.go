package etcd3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/navarch/navarch/internal/storage"
)

// Defaults of Config.
const (
	DefaultBookmarkInterval = time.Minute
	DefaultRevisionWait     = 3 * time.Second
)

// revisionProbeKey is read (count only) to learn the store's revision; any
// key would do.
const revisionProbeKey = "\x00"

// Config configures a Store.
type Config struct {
	// Client reaches etcd; required. The Store does not close it.
	Client *clientv3.Client
	// Codec encodes stored values; required. Use NewCodec: with it, reads
	// decode straight into the caller's objects without extra allocations.
	Codec runtime.Codec
	// BookmarkInterval is how often watches that allow bookmarks receive
	// one while idle (at most this long apart). Zero means
	// DefaultBookmarkInterval.
	BookmarkInterval time.Duration
	// RevisionWait is how long a read asking for a resourceVersion newer
	// than the store waits for it before failing with
	// ErrCodeResourceVersionTooLarge. Zero means DefaultRevisionWait.
	RevisionWait time.Duration
}

// Store is storage.Interface on etcd. It is safe for concurrent use.
type Store struct {
	client *clientv3.Client
	codec  runtime.Codec
	// direct is codec when it is a *Codec, whose DecodeInto saves the
	// allocations of the runtime.Decoder interface.
	direct           *Codec
	bookmarkInterval time.Duration
	revisionWait     time.Duration
	// watchIDs numbers watches, to give each its own etcd watch stream.
	watchIDs atomic.Uint64
}

var _ storage.Interface = (*Store)(nil)

// New returns a Store using cfg. It panics when cfg lacks the client or the
// codec, which is a programming error.
func New(cfg Config) *Store {
	if cfg.Client == nil || cfg.Codec == nil {
		panic("etcd3: Config needs a Client and a Codec")
	}
	if cfg.BookmarkInterval <= 0 {
		cfg.BookmarkInterval = DefaultBookmarkInterval
	}
	if cfg.RevisionWait <= 0 {
		cfg.RevisionWait = DefaultRevisionWait
	}
	direct, _ := cfg.Codec.(*Codec)
	return &Store{
		client:           cfg.Client,
		codec:            cfg.Codec,
		direct:           direct,
		bookmarkInterval: cfg.BookmarkInterval,
		revisionWait:     cfg.RevisionWait,
	}
}

// Create implements storage.Interface.
func (s *Store) Create(ctx context.Context, key string, obj, out runtime.Object) error {
	buf := encodeBuffers.Get().(*[]byte)
	data, err := s.encodeAppend(key, obj, (*buf)[:0])
	defer func() { putEncodeBuffer(buf, data) }()
	if err != nil {
		return err
	}
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, valueString(data))).
		Commit()
	if err != nil {
		return etcdError(ctx, key, 0, err)
	}
	if !resp.Succeeded {
		return storage.NewError(storage.ErrCodeKeyExists, key, 0, "")
	}
	return s.result(ctx, key, obj, data, resp.Header.Revision, out)
}

// Get implements storage.Interface.
func (s *Store) Get(ctx context.Context, key string, opts storage.GetOptions, out runtime.Object) error {
	minRev, err := parseResourceVersion(key, opts.ResourceVersion)
	if err != nil {
		return err
	}
	var options []clientv3.OpOption
	if opts.ResourceVersion == "0" {
		// Any state will do, so the member may answer from what it has.
		options = append(options, clientv3.WithSerializable())
	}
	resp, err := s.client.Get(ctx, key, options...)
	if err != nil {
		return etcdError(ctx, key, 0, err)
	}
	if resp.Header.Revision < minRev {
		if _, err := s.waitForRevision(ctx, key, minRev); err != nil {
			return err
		}
		if resp, err = s.client.Get(ctx, key); err != nil {
			return etcdError(ctx, key, 0, err)
		}
	}
	if len(resp.Kvs) == 0 {
		return storage.NewError(storage.ErrCodeKeyNotFound, key, 0, "")
	}
	kv := resp.Kvs[0]
	return s.decode(key, kv.Value, kv.ModRevision, out)
}

// storedValue is a key's value as read, with its modification revision;
// rev 0 means the key does not exist.
type storedValue struct {
	data []byte
	rev  int64
}

func storedValueOf(kvs []*mvccpb.KeyValue) storedValue {
	if len(kvs) == 0 {
		return storedValue{}
	}
	return storedValue{data: kvs[0].Value, rev: kvs[0].ModRevision}
}

func (s *Store) read(ctx context.Context, key string) (storedValue, error) {
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return storedValue{}, etcdError(ctx, key, 0, err)
	}
	return storedValueOf(resp.Kvs), nil
}

// GuaranteedUpdate implements storage.Interface.
func (s *Store) GuaranteedUpdate(ctx context.Context, key string, out runtime.Object, ignoreNotFound bool,
	preconditions *storage.Preconditions, tryUpdate storage.UpdateFunc) error {
	return s.GuaranteedUpdateCached(ctx, key, out, ignoreNotFound, preconditions, tryUpdate, nil)
}

var _ storage.CachedUpdater = (*Store)(nil)

// GuaranteedUpdateCached implements storage.CachedUpdater; a nil cached
// object (or one without a resourceVersion) reads the key first, as
// GuaranteedUpdate.
func (s *Store) GuaranteedUpdateCached(ctx context.Context, key string, out runtime.Object, ignoreNotFound bool,
	preconditions *storage.Preconditions, tryUpdate storage.UpdateFunc, cached runtime.Object) error {
	// From the cache, current.data stays nil: the cached object is encoded
	// only when the no-op check below needs its bytes.
	current, fromCache := cachedRevision(cached)
	if !fromCache {
		var err error
		if current, err = s.read(ctx, key); err != nil {
			return err
		}
		cached = nil
	}
	// refresh replaces a guess from the cache by what etcd holds.
	refresh := func() error {
		var err error
		current, err = s.read(ctx, key)
		fromCache, cached = false, nil
		return err
	}
	buf := encodeBuffers.Get().(*[]byte)
	var data []byte
	defer func() { putEncodeBuffer(buf, data) }()
	for {
		if current.rev == 0 && !ignoreNotFound {
			return storage.NewError(storage.ErrCodeKeyNotFound, key, 0, "")
		}
		// tryUpdate owns what it receives, so every round gets a new copy.
		var obj runtime.Object
		var err error
		switch {
		case fromCache:
			obj, err = copyOf(key, cached, out)
		default:
			obj, err = newObjectLike(key, out)
			if err == nil && current.rev != 0 {
				err = s.decode(key, current.data, current.rev, obj)
			}
		}
		if err != nil {
			return err
		}
		if err := checkPreconditions(key, preconditions, obj); err != nil {
			if fromCache {
				if err := refresh(); err != nil {
					return err
				}
				continue
			}
			return err
		}
		updated, err := tryUpdate(obj)
		if err != nil {
			if fromCache {
				if err := refresh(); err != nil {
					return err
				}
				continue
			}
			return err
		}
		if data, err = s.encodeAppend(key, updated, (*buf)[:0]); err != nil {
			return err
		}
		*buf = data
		if current.rev != 0 && s.unchanged(key, current, cached, data) {
			if fromCache {
				// Nothing to write, if the guess is current: make sure.
				if err := refresh(); err != nil {
					return err
				}
				continue
			}
			return s.result(ctx, key, updated, current.data, current.rev, out)
		}
		resp, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", current.rev)).
			Then(clientv3.OpPut(key, valueString(data))).
			Else(clientv3.OpGet(key)).
			Commit()
		if err != nil {
			return etcdError(ctx, key, 0, err)
		}
		if resp.Succeeded {
			return s.result(ctx, key, updated, data, resp.Header.Revision, out)
		}
		// Lost the race (or the guess was stale): the failed transaction
		// already read the winner.
		current = storedValueOf(resp.Responses[0].GetResponseRange().Kvs)
		fromCache, cached = false, nil
	}
}

// cachedRevision returns the revision of a cached object (with no data)
// and true, or false when there is none to start from.
func cachedRevision(cached runtime.Object) (storedValue, bool) {
	if cached == nil {
		return storedValue{}, false
	}
	accessor, err := meta.Accessor(cached)
	if err != nil {
		return storedValue{}, false
	}
	rev, err := strconv.ParseInt(accessor.GetResourceVersion(), 10, 64)
	if err != nil || rev <= 0 {
		return storedValue{}, false
	}
	return storedValue{rev: rev}, true
}

// unchanged reports whether data, an update's encoding, is what the key
// holds: current.data when it was read, else the encoding of the cached
// object current was taken from. Most updates change the length of the
// encoding, so the cached object is measured first (a walk that allocates
// nothing) and encoded only when the lengths agree.
func (s *Store) unchanged(key string, current storedValue, cached runtime.Object, data []byte) bool {
	if current.data != nil || cached == nil {
		return bytes.Equal(data, current.data)
	}
	if s.direct != nil {
		stored, release := withoutResourceVersion(cached)
		n, err := s.direct.EncodedLen(stored)
		release()
		if err != nil || n != len(data) {
			return false
		}
	}
	was, err := s.encode(key, cached)
	return err == nil && bytes.Equal(data, was)
}

// copyOf returns a deep copy of cached, which must have out's type.
func copyOf(key string, cached, out runtime.Object) (runtime.Object, error) {
	if reflect.TypeOf(cached) != reflect.TypeOf(out) {
		return nil, storage.NewError(storage.ErrCodeInvalidObj, key, 0, fmt.Sprintf("cached %T does not fit %T", cached, out))
	}
	return cached.DeepCopyObject(), nil
}

// Delete implements storage.Interface.
func (s *Store) Delete(ctx context.Context, key string, out runtime.Object, preconditions *storage.Preconditions,
	validate storage.ValidateDeleteFunc) error {
	current, err := s.read(ctx, key)
	if err != nil {
		return err
	}
	for {
		if current.rev == 0 {
			return storage.NewError(storage.ErrCodeKeyNotFound, key, 0, "")
		}
		obj, err := newObjectLike(key, out)
		if err != nil {
			return err
		}
		if err := s.decode(key, current.data, current.rev, obj); err != nil {
			return err
		}
		if err := checkPreconditions(key, preconditions, obj); err != nil {
			return err
		}
		if validate != nil {
			if err := validate(ctx, obj); err != nil {
				return err
			}
		}
		resp, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", current.rev)).
			Then(clientv3.OpDelete(key)).
			Else(clientv3.OpGet(key)).
			Commit()
		if err != nil {
			return etcdError(ctx, key, 0, err)
		}
		if resp.Succeeded {
			return s.decode(key, current.data, resp.Header.Revision, out)
		}
		current = storedValueOf(resp.Responses[0].GetResponseRange().Kvs)
	}
}

// CurrentRevision implements storage.Interface.
func (s *Store) CurrentRevision(ctx context.Context) (int64, error) {
	resp, err := s.client.Get(ctx, revisionProbeKey, clientv3.WithCountOnly())
	if err != nil {
		return 0, etcdError(ctx, "", 0, err)
	}
	return resp.Header.Revision, nil
}

// waitForRevision waits until the store reaches rev, at most
// s.revisionWait, and returns the revision it saw.
func (s *Store) waitForRevision(ctx context.Context, key string, rev int64) (int64, error) {
	deadline := time.Now().Add(s.revisionWait)
	poll := 10 * time.Millisecond
	timer := time.NewTimer(poll)
	defer timer.Stop()
	for {
		current, err := s.CurrentRevision(ctx)
		if err != nil {
			return 0, err
		}
		if current >= rev {
			return current, nil
		}
		if time.Now().After(deadline) {
			return 0, storage.NewError(storage.ErrCodeResourceVersionTooLarge, key, rev,
				fmt.Sprintf("too large resource version: %d, current: %d", rev, current))
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("etcd3: wait for revision %d: %w", rev, ctx.Err())
		case <-timer.C:
		}
		poll = min(2*poll, 200*time.Millisecond)
		timer.Reset(poll)
	}
}

// encode returns obj's stored form, which has no resourceVersion, in a
// new slice. obj is not modified: it may be shared with the caller.
func (s *Store) encode(key string, obj runtime.Object) ([]byte, error) {
	return s.encodeAppend(key, obj, nil)
}

// encodeAppend is encode appending to dst (a recycled buffer).
func (s *Store) encodeAppend(key string, obj runtime.Object, dst []byte) ([]byte, error) {
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return nil, storage.NewError(storage.ErrCodeInvalidObj, key, 0, err.Error())
	}
	var data []byte
	if s.direct != nil {
		if accessor.GetResourceVersion() != "" {
			stored, release := withoutResourceVersion(obj)
			defer release()
			obj = stored
		}
		data, err = s.direct.AppendMarshal(dst, obj)
	} else {
		if accessor.GetResourceVersion() != "" {
			obj = obj.DeepCopyObject()
			if accessor, err := meta.Accessor(obj); err == nil {
				accessor.SetResourceVersion("")
			}
		}
		data, err = runtime.Encode(s.codec, obj)
	}
	if err != nil {
		return nil, storage.NewError(storage.ErrCodeInvalidObj, key, 0, err.Error())
	}
	return data, nil
}

// encodeBuffers recycles the buffers creates and updates encode into
// (*[]byte). An encoding is needed only while the write lasts: etcd's
// client copies the value into its request (clientv3.OpPut converts it to
// a []byte of its own) and a result decoded from it copies what it keeps.
var encodeBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledEncoding bounds the buffers kept in encodeBuffers: one that grew
// for a large object is left to the garbage collector.
const maxPooledEncoding = 64 << 10

// putEncodeBuffer returns buf to encodeBuffers with data, the last
// encoding made in it (which may have grown it), as its backing array.
func putEncodeBuffer(buf *[]byte, data []byte) {
	if cap(data) > cap(*buf) {
		*buf = data
	}
	if cap(*buf) > maxPooledEncoding {
		return
	}
	*buf = (*buf)[:0]
	encodeBuffers.Put(buf)
}

// withoutResourceVersion returns a shallow copy of obj, a typed object
// whose ObjectMeta is a field of its struct, without a resourceVersion,
// for encoding; release gives the copy back once the encoding is done.
// Only the top-level struct is copied (the rest is shared, read-only), into
// a recycled struct (storage.ShallowCopy). Other objects are deep-copied (release is a no-op).
func withoutResourceVersion(obj runtime.Object) (stored runtime.Object, release func()) {
	v := reflect.ValueOf(obj)
	if v.Kind() == reflect.Pointer && !v.IsNil() && v.Elem().Kind() == reflect.Struct {
		if f := v.Elem().FieldByName("ObjectMeta"); f.IsValid() && f.Type() == objectMetaType {
			stored, release = storage.ShallowCopy(obj)
			reflect.ValueOf(stored).Elem().FieldByName("ObjectMeta").FieldByName("ResourceVersion").SetString("")
			return stored, release
		}
	}
	obj = obj.DeepCopyObject()
	if accessor, err := meta.Accessor(obj); err == nil {
		accessor.SetResourceVersion("")
	}
	return obj, func() {}
}

var objectMetaType = reflect.TypeFor[metav1.ObjectMeta]()

// result fills out with the object written as data at revision rev: a
// decode of data or, when ctx carries storage.WithWrittenResult and out
// has written's type, a copy of written's top-level struct with the kind
// and resourceVersion a decode would set.
func (s *Store) result(ctx context.Context, key string, written runtime.Object, data []byte, rev int64, out runtime.Object) error {
	if s.direct != nil && storage.WrittenResultOK(ctx) {
		src, dst := reflect.ValueOf(written), reflect.ValueOf(out)
		if src.Type() == dst.Type() && src.Kind() == reflect.Pointer && !src.IsNil() && !dst.IsNil() &&
			src.Elem().Kind() == reflect.Struct {
			gvk, err := s.direct.kindOf(written)
			if err != nil {
				return storage.NewError(storage.ErrCodeInvalidObj, key, rev, err.Error())
			}
			dst.Elem().Set(src.Elem())
			out.GetObjectKind().SetGroupVersionKind(gvk)
			return setResourceVersion(key, out, rev)
		}
	}
	return s.decode(key, data, rev, out)
}

// valueString hands data to the etcd client as the string its OpPut takes
// without copying it (the client copies it into its request). data must
// not change afterwards; the store's encodings never do.
func valueString(data []byte) string {
	if len(data) == 0 {
		return ""
	}
	return unsafe.String(&data[0], len(data))
}

// decode decodes data into the typed object into and sets its
// resourceVersion to rev.
func (s *Store) decode(key string, data []byte, rev int64, into runtime.Object) error {
	if err := s.decodeValue(data, rev, into); err != nil {
		return storage.NewError(storage.ErrCodeInvalidObj, key, rev, err.Error())
	}
	return nil
}

// decodeValue is decode with a plain error, so that the list path names
// the key (a string to allocate) only when something fails.
func (s *Store) decodeValue(data []byte, rev int64, into runtime.Object) error {
	var err error
	if s.direct != nil {
		err = s.direct.DecodeInto(data, into)
	} else {
		var got runtime.Object
		if got, _, err = s.codec.Decode(data, nil, into); err == nil && got != into {
			err = fmt.Errorf("etcd3: codec decoded a new %T instead of filling %T", got, into)
		}
	}
	if err != nil {
		return err
	}
	accessor, err := meta.Accessor(into)
	if err != nil {
		return err
	}
	accessor.SetResourceVersion(strconv.FormatInt(rev, 10))
	return nil
}

// decodeNew decodes data into a new object of the type it names (or of
// newObject's type, when set) with resourceVersion rev.
func (s *Store) decodeNew(key string, data []byte, rev int64, newObject func() runtime.Object) (runtime.Object, error) {
	if newObject != nil {
		obj := newObject()
		if err := s.decode(key, data, rev, obj); err != nil {
			return nil, err
		}
		return obj, nil
	}
	obj, _, err := s.codec.Decode(data, nil, nil)
	if err != nil {
		return nil, storage.NewError(storage.ErrCodeInvalidObj, key, rev, err.Error())
	}
	if err := setResourceVersion(key, obj, rev); err != nil {
		return nil, err
	}
	return obj, nil
}

func setResourceVersion(key string, obj runtime.Object, rev int64) error {
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return storage.NewError(storage.ErrCodeInvalidObj, key, rev, err.Error())
	}
	accessor.SetResourceVersion(strconv.FormatInt(rev, 10))
	return nil
}

// newObjectLike returns a new zero object of out's type.
func newObjectLike(key string, out runtime.Object) (runtime.Object, error) {
	t := reflect.TypeOf(out)
	if t == nil || t.Kind() != reflect.Pointer {
		return nil, storage.NewError(storage.ErrCodeInvalidObj, key, 0, fmt.Sprintf("out is %T, not a pointer", out))
	}
	return reflect.New(t.Elem()).Interface().(runtime.Object), nil
}

func checkPreconditions(key string, p *storage.Preconditions, obj runtime.Object) error {
	if p == nil {
		return nil
	}
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return storage.NewError(storage.ErrCodeInvalidObj, key, 0, err.Error())
	}
	if p.UID != nil && *p.UID != accessor.GetUID() {
		return storage.NewError(storage.ErrCodePreconditionFailed, key, 0,
			fmt.Sprintf("UID in precondition: %v, UID in object meta: %v", *p.UID, accessor.GetUID()))
	}
	if p.ResourceVersion != nil && *p.ResourceVersion != accessor.GetResourceVersion() {
		return storage.NewError(storage.ErrCodePreconditionFailed, key, 0,
			fmt.Sprintf("ResourceVersion in precondition: %v, ResourceVersion in object meta: %v",
				*p.ResourceVersion, accessor.GetResourceVersion()))
	}
	return nil
}

// checkPredicate rejects a predicate whose selectors cannot be evaluated,
// which would otherwise fail item by item (or crash a watch).
func checkPredicate(key string, p storage.Predicate) error {
	if !p.Empty() && p.GetAttrs == nil {
		return storage.NewError(storage.ErrCodeInvalidObj, key, 0, "the predicate has selectors but no GetAttrs")
	}
	return nil
}

// parseResourceVersion returns the revision rv names; "" and "0" give 0.
func parseResourceVersion(key, rv string) (int64, error) {
	if rv == "" || rv == "0" {
		return 0, nil
	}
	rev, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || rev <= 0 {
		return 0, storage.NewError(storage.ErrCodeInvalidResourceVersion, key, 0, fmt.Sprintf("%q is not a revision", rv))
	}
	return rev, nil
}

// etcdError turns an error of the etcd client into one Interface promises:
// the context's error when the caller gave up, a *storage.Error otherwise.
func etcdError(ctx context.Context, key string, rev int64, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("etcd3: %s: %w", key, ctxErr)
	}
	switch {
	case errors.Is(err, rpctypes.ErrCompacted):
		return storage.NewError(storage.ErrCodeExpired, key, rev, err.Error())
	case errors.Is(err, rpctypes.ErrFutureRev):
		return storage.NewError(storage.ErrCodeResourceVersionTooLarge, key, rev, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("etcd3: %s: %w", key, err)
	}
	return storage.NewError(storage.ErrCodeUnreachable, key, rev, err.Error())
}
