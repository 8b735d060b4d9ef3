// Package volume is the PersistentVolume controller: it binds
// PersistentVolumeClaims to PersistentVolumes, keeps the phases of both
// (claims Pending/Bound/Lost, volumes Pending/Available/Bound/Released/
// Failed), reclaims released volumes, and provisions volumes of the
// built-in local-path StorageClass.
//
// # Binding
//
// An unbound claim is bound to the smallest Available volume that has its
// storage class, at least its requested capacity, all of its access modes
// (volumes with the fewest extra modes are preferred), its volume mode, and
// labels its selector matches. A volume whose claimRef names the claim
// (pre-bound by a user) wins over any other; a claim whose volumeName
// names a volume (pre-bound) takes that volume if it fits. Binding writes,
// in order and each only when missing: the volume's claimRef (annotated
// pv.kubernetes.io/bound-by-controller when the controller chose it), the
// volume's phase Bound, the claim's volumeName with the annotations
// pv.kubernetes.io/bind-completed (and bound-by-controller), and the
// claim's status (phase Bound, capacity and access modes of the volume).
// Every step is idempotent, so a crash between two steps is finished by
// the next sync, as upstream's controller does.
//
// A claim without storageClassName gets the default StorageClass (the
// newest class annotated storageclass.kubernetes.io/is-default-class)
// written into its spec, upstream's retroactive default class assignment.
//
// A claim of a class with volumeBindingMode WaitForFirstConsumer is left
// Pending (event WaitForFirstConsumer) until the scheduler annotates it
// with volume.kubernetes.io/selected-node; it is then bound to an existing
// volume reachable from that node, or provisioned there.
//
// A bound claim whose volume disappeared turns Lost. A volume whose claim
// was deleted turns Released and is reclaimed by its policy: Retain keeps
// it Released until an administrator clears its claimRef (it then turns
// Available again); Delete deletes the PersistentVolume object when this
// controller provisioned it, and turns other volumes Failed (no in-tree
// deleter exists here), unless another provisioner made them.
//
// # Local-path provisioning (contract with the node agent)
//
// EnsureLocalPathStorageClass creates the StorageClass "local-path"
// (provisioner navarch.io/local-path, volumeBindingMode
// WaitForFirstConsumer, reclaimPolicy Delete, annotated as the default
// class). For a claim of a class with that provisioner and a selected
// node, the controller creates a PersistentVolume named pvc-<claim uid>:
//
//   - spec.hostPath.path is <storage dir>/pvc-<claim uid>_<namespace>_<claim
//     name>, type DirectoryOrCreate. The storage dir is the node's
//     annotation navarch.io/local-path-dir when set (an agent with its own
//     data dir advertises <data-dir>/storage there), else Config.StorageDir.
//   - spec.nodeAffinity requires kubernetes.io/hostname In [the node's
//     hostname label, or its name when it has none], so the scheduler
//     places every consumer on that node.
//   - spec.claimRef is pre-bound to the claim; capacity, access modes and
//     volume mode are the claim's; the reclaim policy is the class's.
//   - annotation pv.kubernetes.io/provisioned-by=navarch.io/local-path and
//     finalizer navarch.io/local-path-cleanup.
//
// The node agent owns the directory: it creates it (with the hostPath
// volume, DirectoryOrCreate) when it first mounts the volume into a pod.
// When such a volume is deleted (reclaim policy Delete, or a user's
// delete), the API server keeps it, Terminating, because of the finalizer;
// the agent of the node in its nodeAffinity removes the directory and then
// the finalizer, after which the object goes away. If that node is gone
// for good, an administrator removes the finalizer by hand. This
// controller never touches a node's disk.
//
// The controller talks to the API server only, through client-go.
package volume
