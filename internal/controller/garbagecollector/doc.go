// Package garbagecollector is the garbage collector: it deletes objects
// whose owners (metadata.ownerReferences) are gone and carries out the
// foreground and orphan deletion policies, for every kind the API server
// serves, as upstream's garbage collector does.
//
// It finds the kinds through discovery (every resource that can be
// listed, watched and deleted, but events), rereads discovery every
// Config.DiscoveryPeriod, and watches each kind with a metadata-only
// informer (k8s.io/client-go/metadata): it needs nothing but metadata,
// for any kind, CRDs included. Each informer's cache is indexed by UID
// and by owner UID; together the caches are the graph of owners and
// dependents.
//
// Three policies, as a delete request sets them:
//   - background (the default): the owner goes at once; each dependent
//     whose owners are all gone (not found, or found with another UID) is
//     deleted in turn. A dependent that keeps one existing owner only
//     loses its references to the missing ones.
//   - foreground: the API server keeps the owner, marked deleted, with the
//     foregroundDeletion finalizer. Its dependents are deleted (in the
//     foreground too when they have dependents of their own); once no
//     dependent with blockOwnerDeletion=true is left, the finalizer is
//     removed and the API server removes the owner.
//   - orphan: the API server keeps the owner with the orphan finalizer;
//     the owner references to it are removed from its dependents, then the
//     finalizer.
//
// An owner is judged gone only after a live read says so (the caches may
// lag behind a just-created owner); a cached owner is trusted to exist,
// since its deletion will show up as an event that checks its dependents
// again. Deletes carry the UID as a precondition and patches the
// resourceVersion, so nothing is done to a newer object of the same name.
package garbagecollector
