// Package etcd3 implements storage.Interface on an etcd v3 client.
//
// Objects are stored in the Kubernetes protobuf envelope (Codec) under
// their keys, without a resourceVersion: the resourceVersion every read
// returns is the etcd modification revision of the key, and a list's is the
// revision it was read at. Writes are etcd transactions guarded by the
// revision that was read (optimistic concurrency); watches are etcd
// watches, filtered by the caller's predicate and turned into watch.Events.
//
// # Organization
//
//   - codec.go: Codec, the stored format.
//   - store.go: Store (New, Config), reads and writes of single keys.
//   - list.go: List, paging and continue tokens.
//   - watch.go: Watch: initial events, selector transitions, bookmarks.
//   - compact.go: Compactor, the Runnable that trims etcd's history.
//
// Writes encode into recycled buffers (etcd's client copies the value it
// sends) and encode typed objects through recycled shallow copies without
// their resourceVersion; an update starting from a cached object encodes
// that object only when the no-op check cannot tell from lengths alone.
//
// A Store holds no cache and no goroutine of its own beyond one per watch,
// so several API servers may share one etcd. Its watches report progress
// on request (storage.ProgressRequester) and its updates can start from a
// cached object (storage.CachedUpdater), for the watch cache in front of
// it (storage/cacher).
package etcd3
