// Package embedded runs a single-member etcd inside the Navarch process.
//
// Start brings up etcd (go.etcd.io/etcd/server/v3/embed) under a data
// directory and returns once it serves; Client gives an etcd client that
// calls the server in-process, without sockets. The member can also listen
// on a client URL so that other Navarch servers (with --etcd-endpoints)
// share it. Restarting on the same directory keeps the data.
//
// The peer listener binds a free loopback port, so any number of members
// (tests, several in one process) start side by side. etcd's own logging
// is cut to errors, and two kinds of harmless ones are dropped: those etcd
// logs for its listeners closing during Close, and a failed attempt to
// record the storage version just after a fresh start, which it retries.
package embedded
