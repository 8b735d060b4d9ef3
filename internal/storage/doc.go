// Package storage is the seam between the API server and etcd.
//
// Interface stores typed Kubernetes objects under string keys
// ("/registry/pods/default/web"). The resourceVersion of every object it
// returns is the etcd modification revision of its key, and the
// resourceVersion of every list is the etcd revision the list was read at,
// so a client can resume a watch from either.
//
// # Organization
//
//   - interface.go: Interface, its options and the update/delete
//     callbacks; the optional ProgressRequester (watch streams) and
//     CachedUpdater (stores); SharedObject for objects a watch shares.
//   - errors.go: *Error and the codes callers test with IsNotFound & co.
//   - predicate.go: label/field filtering and paging of lists and watches.
//   - written.go: WithWrittenResult, the context option that lets a write
//     answer with the object it wrote instead of decoding it back.
//   - etcd3/: the implementation on an etcd v3 client.
//   - cacher/: the watch cache, an Interface in front of another that
//     serves one kind's watches from memory.
//   - embedded/: starts a single-member etcd inside the process.
//   - storagetest/: the contract suite every implementation must pass.
//
// Only the API server (and the server composition root that builds it)
// imports this package; every other component goes through the API.
package storage
