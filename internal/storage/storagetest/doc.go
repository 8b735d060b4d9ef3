// Package storagetest is the contract suite of storage.Interface.
//
// RunTests drives an implementation through everything the interface's
// doc comments promise: create/get/update/delete with preconditions and
// optimistic concurrency, lists with selectors, paging and
// resourceVersions, and watches with synthetic initial events, bookmarks,
// selector transitions and 410 Gone after compaction. Every implementation
// (etcd3 against an embedded etcd, against a remote one, and any fake) runs
// the same suite, so they cannot drift apart.
//
// Only tests import this package.
package storagetest
