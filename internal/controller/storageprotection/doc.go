// Package storageprotection keeps storage that is in use from being
// deleted under its users, as upstream's pvc-protection and pv-protection
// controllers do.
//
// The API server puts the finalizer kubernetes.io/pvc-protection on every
// new PersistentVolumeClaim and kubernetes.io/pv-protection on every new
// PersistentVolume (registry/persistentvolumeclaim and
// registry/persistentvolume). Deleting such an object only marks it
// Terminating; this controller removes the finalizer, letting it go, once
// nothing uses it:
//
//   - a claim is in use while a pod of its namespace that has not finished
//     (phase neither Succeeded nor Failed) names it in a
//     persistentVolumeClaim volume, even a pod being deleted (its node
//     agent may still have the volume mounted). The informer cache may lag
//     behind a pod just created, so "unused" is confirmed by a live list of
//     the namespace's pods before the finalizer goes;
//   - a volume is in use while it is Bound to a claim.
//
// Without this, deleting the claim of a running pod would release its
// volume, and the local-path reclaim would delete the directory the pod
// is writing to.
package storageprotection
