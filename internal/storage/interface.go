package storage

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

// Interface stores objects under keys. Implementations are safe for
// concurrent use. Every method that returns an object through out sets its
// resourceVersion to the revision of the key; objects passed in may carry
// any resourceVersion, which is never stored.
//
// Errors are *Error values (see IsNotFound and friends) or context errors.
type Interface interface {
	// Create stores obj at key if the key does not exist, and decodes the
	// stored object into out. A present key gives ErrCodeKeyExists.
	Create(ctx context.Context, key string, obj, out runtime.Object) error

	// Get decodes the object at key into out. A missing key gives
	// ErrCodeKeyNotFound.
	Get(ctx context.Context, key string, opts GetOptions, out runtime.Object) error

	// List decodes every object stored below prefix and that matches
	// opts.Predicate into listObj (a pointer to a *List type), in key order.
	// Prefixes are directories: a trailing "/" is implied, so
	// "/registry/pods/default" lists "/registry/pods/default/web" but not
	// "/registry/pods/default2/db". It sets the list's resourceVersion and,
	// when the predicate's Limit cut the list short, its continue token and
	// remainingItemCount (when known).
	List(ctx context.Context, prefix string, opts ListOptions, listObj runtime.Object) error

	// GuaranteedUpdate reads the object at key, calls tryUpdate with a copy
	// of it and writes what tryUpdate returns if the key has not changed
	// since the read; otherwise it reads again and calls tryUpdate again.
	// The result is decoded into out. If tryUpdate returns an object equal
	// (byte for byte once encoded) to the current one, nothing is written and
	// out receives the current object with its unchanged resourceVersion.
	// An error from tryUpdate is returned as is. A missing key gives
	// ErrCodeKeyNotFound unless ignoreNotFound, in which case tryUpdate
	// receives a zero object of out's type (creating the key).
	GuaranteedUpdate(ctx context.Context, key string, out runtime.Object, ignoreNotFound bool,
		preconditions *Preconditions, tryUpdate UpdateFunc) error

	// Delete removes the object at key if preconditions hold and validate
	// (if not nil) accepts the current object; out receives the object as
	// it was just before deletion, with the resourceVersion of the deleting
	// revision. Like GuaranteedUpdate it retries when the key changes
	// between the read and the delete.
	Delete(ctx context.Context, key string, out runtime.Object, preconditions *Preconditions,
		validate ValidateDeleteFunc) error

	// Watch streams changes to the keys below prefix (a directory, as for
	// List) and to the key equal to prefix (so a watch on an object's own
	// key sees that object alone) that match opts.Predicate. See
	// ListOptions for where the stream starts. Objects that stop matching
	// are delivered as watch.Deleted (the object as it last matched, with
	// the resourceVersion of the change), objects that start matching as
	// watch.Added. Deleted objects carry their last state with the
	// resourceVersion of the deletion. When the start revision has been
	// compacted, the stream delivers one watch.Error whose object is a
	// *metav1.Status with code 410 (reason Expired) and ends. The stream
	// ends when ctx ends or Stop is called; a consumer that stops reading
	// must call one of them. A stream may also end early, without an
	// error (a watch cache drops a consumer that falls too far behind);
	// the consumer resumes from the last resourceVersion it received.
	//
	// The objects of a stream may be shared with other streams, so a
	// consumer must not modify them. A stream may deliver them wrapped in a
	// runtime.CacheableObject, so that every consumer encoding the same
	// object in the same format shares one encoding; its GetObject returns
	// a private copy of the typed object. Errors and bookmarks are never
	// wrapped.
	Watch(ctx context.Context, prefix string, opts ListOptions) (watch.Interface, error)

	// CurrentRevision returns the newest revision of the store (a
	// linearizable read).
	CurrentRevision(ctx context.Context) (int64, error)
}

// GetOptions tune Get.
type GetOptions struct {
	// ResourceVersion "" reads the newest value (linearizable). "0" may be
	// served from anything already known. Other values must be revisions the
	// store has reached; a value beyond the current revision gives
	// ErrCodeResourceVersionTooLarge after a short wait.
	ResourceVersion string
}

// ListOptions tune List and Watch.
type ListOptions struct {
	// ResourceVersion and ResourceVersionMatch follow the Kubernetes API
	// semantics. For List: "" is the newest state; "0" is any state (the
	// newest is fine); otherwise with ResourceVersionMatch Exact the state at
	// exactly that revision (ErrCodeExpired when compacted), and with
	// NotOlderThan or unset a state at least that new.
	// For Watch: "" and "0" first deliver a synthetic watch.Added for every
	// matching object that exists now, then changes after that state; any
	// other value delivers changes after that revision.
	ResourceVersion      string
	ResourceVersionMatch metav1.ResourceVersionMatch

	// Predicate filters the objects; for List it also pages them.
	Predicate Predicate

	// SendInitialEvents (Watch only) asks, as the watch-list protocol does,
	// for a synthetic watch.Added per existing object followed by a
	// watch.Bookmark annotated metav1.InitialEventsAnnotationKey="true",
	// regardless of ResourceVersion (which then is the oldest acceptable
	// state of that initial list).
	SendInitialEvents *bool

	// AllowWatchBookmarks (Watch only) lets the stream deliver
	// watch.Bookmark events: an object of the watched type carrying only a
	// resourceVersion, sent at least once a minute while the stream is
	// idle, so a client can resume from a recent revision.
	AllowWatchBookmarks bool

	// NewObject (Watch only) returns an empty object of the watched type.
	// A watch cannot learn its type from the keys, so bookmarks (including
	// the initial-events-end one) are built with it; when nil they carry
	// the type of the last object the stream delivered or, before any, a
	// *metav1.PartialObjectMetadata, which typed clients reject. Set it.
	NewObject func() runtime.Object
}

// Preconditions must hold for an update or delete to proceed; a failed one
// gives ErrCodePreconditionFailed.
type Preconditions struct {
	UID             *types.UID
	ResourceVersion *string
}

// NewUIDPreconditions returns Preconditions requiring uid.
func NewUIDPreconditions(uid types.UID) *Preconditions {
	return &Preconditions{UID: &uid}
}

// UpdateFunc computes the new object from the current one (a private copy
// the function may modify and return). It is called again with a fresher
// copy whenever a write loses a race, so it must be free of side effects.
type UpdateFunc func(current runtime.Object) (updated runtime.Object, err error)

// ValidateDeleteFunc inspects the current object before Delete removes it;
// an error aborts the delete and is returned as is.
type ValidateDeleteFunc func(ctx context.Context, current runtime.Object) error

// ProgressRequester is implemented by the watch streams of stores that can
// report their progress on demand (etcd3's do).
type ProgressRequester interface {
	// RequestProgress asks a stream that allows bookmarks for a
	// watch.Bookmark at a revision at least as new as the store's
	// revision at the time of the call, sent once every change up to that
	// revision has been sent. It returns without waiting; a stream may
	// ignore a request it cannot serve yet, so callers that wait for the
	// bookmark ask again after a while.
	RequestProgress() error
}

// SharedObject returns the typed object of a watch event without copying
// it: obj itself, or the object inside a wrapper that offers it (the
// cacher's). The result may be shared with other watchers: read it, never
// modify it. Wrappers that do not offer it are returned as they are.
func SharedObject(obj runtime.Object) runtime.Object {
	if s, ok := obj.(interface{ SharedObject() runtime.Object }); ok {
		return s.SharedObject()
	}
	return obj
}

// CachedUpdater is implemented by stores whose GuaranteedUpdate can start
// from a copy of the object that a cache holds (with its resourceVersion)
// instead of reading the key, which saves a read per update. The cached
// object is only a guess: the write is still guarded by its revision, and
// when the guess is stale the store goes on from the current state. An
// error of tryUpdate, a failed precondition or an update that changes
// nothing is confirmed against the current state before it is returned,
// so the outcome is GuaranteedUpdate's. The store does not modify cached.
type CachedUpdater interface {
	GuaranteedUpdateCached(ctx context.Context, key string, out runtime.Object, ignoreNotFound bool,
		preconditions *Preconditions, tryUpdate UpdateFunc, cached runtime.Object) error
}
