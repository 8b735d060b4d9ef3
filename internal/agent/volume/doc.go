// Package volume is the node agent's volume manager: it makes the
// volumes of a pod ready on this node before the pod's containers
// start, turns a container's volumeMounts into CRI mounts, keeps
// ConfigMap, Secret and downward API files current while the pod runs,
// and removes everything when the pod goes. It also does the node's half
// of local-path provisioning (see internal/controller/volume).
//
// # What it owns
//
// Everything under Config.Root (the agent passes <data-dir>/volumes), one
// directory per pod, named by the pod's UID, laid out as the kubelet lays
// out /var/lib/kubelet/pods/<uid>:
//
//	<Root>/<pod uid>/
//	  volumes/kubernetes.io~empty-dir/<volume>    emptyDir (tmpfs with medium Memory)
//	  volumes/kubernetes.io~configmap/<volume>    configMap  (atomic writer)
//	  volumes/kubernetes.io~secret/<volume>       secret     (tmpfs, atomic writer)
//	  volumes/kubernetes.io~downward-api/<volume> downwardAPI (atomic writer)
//	  volumes/kubernetes.io~projected/<volume>    projected  (tmpfs, atomic writer)
//	  volume-subpaths/<volume>/<container>/<i>    bind mount of volumeMounts[i]'s subPath
//	  containers/<container>/<random>             termination-message files
//	  etc-hosts                                   the pod's managed /etc/hosts
//
// hostPath volumes and persistentVolumeClaims (whose PersistentVolume is
// a hostPath or local volume) are not copied: their host path is given to
// the runtime as it is, after the hostPath type check. A local-path
// volume's directory is created on first use, mode 0777 (as upstream's
// local-path provisioner) so that any user of the pod may write.
//
// The atomic writer (AtomicWriter) writes a volume's files into a new
// timestamped directory ..<time>.<random>, points the ..data symlink at it
// by renaming a new symlink over the old one, and exposes each top-level
// name as a symlink to ..data/<name>. A reader thus sees either the old
// or the new set of files, never a mix or a half-written file. The
// replaced directory is kept until the next change (upstream removes it
// at once), so a reader that resolved ..data just before a swap still
// finds its file.
//
// # Contract with the pod syncer
//
//   - SetUp(ctx, pod) runs before the pod's sandbox is created, at every sync
//     while the pod should run. It is idempotent: volumes already in place
//     are kept, ConfigMap/Secret/downward API contents are rewritten only
//     when they changed. It returns how soon the pod wants another sync
//     for a refresh (Config.ResyncInterval plus jitter, for pods with such
//     volumes; 0 otherwise). A volume that cannot be set up (a missing
//     ConfigMap, an unbound claim, a failed hostPath check) gets a
//     FailedMount event on the pod, worded as the kubelet's, and SetUp
//     returns a *MountError with a back-off delay: the syncer keeps the
//     pod Pending (containers waiting, ContainerCreating) and syncs again
//     after that delay. A volume set up once stays usable when a later
//     refresh fails (the pod keeps running; the failure is an event).
//   - ContainerMounts(ctx, pod, container, env, podIP) returns the container's
//     CRI mounts: its volumeMounts (readOnly, mount propagation, subPath and
//     subPathExpr), the termination-message file and the managed
//     /etc/hosts. A subPath that is absolute, contains "..", or resolves
//     (following symlinks component by component) outside its volume is
//     refused with a *ConfigError, which the syncer reports as the
//     container's CreateContainerConfigError. An accepted subPath is
//     opened without following symlinks and bind-mounted under
//     volume-subpaths, so the runtime mounts what was checked even if the
//     container swaps a directory for a symlink afterwards.
//   - TearDown(ctx, uid) runs after the pod's sandboxes are removed: it
//     unmounts every mount under the pod's directory (subPath binds,
//     tmpfs) and then removes the directory. It never removes a directory
//     that still has a mount beneath it.
//   - CleanupOrphans(ctx, active) runs once at agent start: it tears down the
//     directories of pods that are neither in the API nor in the runtime.
//   - Run(ctx) watches PersistentVolumes and cleans up local-path volumes
//     of this node (see below) until ctx ends.
//   - TerminationMessage(status, path) reads back what an exited
//     container wrote to its termination-message file.
//
// # Local-path volumes
//
// A PersistentVolume provisioned by navarch.io/local-path carries the
// finalizer navarch.io/local-path-cleanup and a node affinity to one
// node. When such a volume has a deletionTimestamp and its affinity names
// this node, Run removes its hostPath directory (only a directory named
// pvc-*, and not while a pod on this node uses the volume) and then the
// finalizer, which lets the API server delete the object. The agent
// advertises where it keeps these directories with the Node annotation
// navarch.io/local-path-dir (LocalPathDirAnnotation).
//
// A serviceAccountToken projection holds a token the TokenRequest API
// issues with the node's client, bound to the pod (its audience and
// expirationSeconds as the projection asks). The token is kept in memory
// and requested again at the first resync after 80% of its lifetime,
// as the kubelet does, then written atomically with the volume's other
// files.
//
// # Not done
//
// fsGroup ownership, SELinux relabelling, emptyDir sizeLimit on disk
// (only tmpfs is bounded), clusterTrustBundle projections (a FailedMount
// event says so), block volumes, and network
// or CSI volume types (FailedMount: not supported by this node agent).
//
// # Organization
//
//   - token.go: the projected service account tokens and their cache.
//   - manager.go: Config, Manager, New, SetUp, TearDown, CleanupOrphans,
//     the error types.
//   - sources.go: each volume type's set-up (emptyDir, hostPath,
//     configMap, secret, downwardAPI, projected, persistentVolumeClaim).
//   - hostpath.go: the hostPath type check.
//   - atomic.go: AtomicWriter.
//   - downward.go: downward API file contents.
//   - mounts.go: ContainerMounts, termination messages, /etc/hosts.
//   - subpath.go: safe subPath resolution and its bind mount.
//   - mount_linux.go: tmpfs and bind mounts, mount table reading.
//   - localpath.go: the local-path cleanup loop.
package volume
