// Package cacher is the API server's watch cache: a storage.Interface that
// serves watches of one resource from memory and passes everything else to
// the store it wraps.
//
// A Cacher keeps one watch open on the wrapped store for its resource
// (Config.Prefix), holds the current objects and a bounded history of the
// latest changes, and fans every change out to its watchers. The wrapped
// store decodes each change once, whatever the number of watchers (each
// watch of etcd3 decodes every change itself), and each change is encoded
// once per wire format: watchers receive it wrapped in a
// runtime.CacheableObject that the API server's encoders share.
//
// Semantics are those of the wrapped store:
//
//   - A watch from resourceVersion N replays the changes after N from the
//     history and streams the later ones. When N is older than the history
//     holds (the cache started after N, or the history rolled over), the
//     watch goes to the wrapped store, which serves it until compaction
//     and answers 410 Gone after that, as before.
//   - A watch with initial events (resourceVersion "" or "0", or
//     sendInitialEvents) first waits until the cache has seen every change
//     up to the store's current revision (asking the wrapped watch for a
//     progress bookmark, storage.ProgressRequester), so its synthetic
//     Added events are as fresh as a read of the store; if the cache cannot
//     catch up within Config.FreshTimeout the watch goes to the store.
//   - Selector transitions, bookmarks (at least once per bookmark interval
//     while idle, at the newest revision the watcher has seen) and the
//     initial-events-end bookmark behave as in etcd3.
//   - A watcher that falls more than its input buffer behind is dropped
//     after a short wait: its stream ends, and the client resumes from the
//     last resourceVersion it received, usually from the history.
//
// Reads (Get, List) and writes go to the wrapped store unchanged.
//
// # Organization
//
//   - cacher.go: Config, Cacher, the wrapped watch and the history.
//   - watcher.go: one watch served from the cache.
//   - object.go: cachingObject, the encode-once wrapper of watched objects.
package cacher
