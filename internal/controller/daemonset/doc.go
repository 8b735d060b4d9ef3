// Package daemonset is the DaemonSet controller: one pod of each
// DaemonSet on every eligible node, as upstream's DaemonSet controller
// does.
//
// # Placement
//
// A node is eligible when the pod template fits it: its nodeSelector and
// required node affinity match the node, and the pod tolerates the node's
// NoSchedule and NoExecute taints. The template's tolerations are
// completed with the ones upstream gives every daemon pod
// (node.kubernetes.io/not-ready and unreachable NoExecute;
// disk-pressure, memory-pressure, pid-pressure and unschedulable
// NoSchedule; network-unavailable NoSchedule for host-network pods). A pod
// on a node that gained an untolerated NoSchedule taint keeps running;
// one whose node gained an untolerated NoExecute taint, or no longer
// matches, is deleted, and so are pods on nodes that no longer exist.
//
// Pods are pinned to their node as upstream does it: the required node
// affinity of each pod is replaced by one term matching the field
// metadata.name of that node, and the scheduler binds it (spec.nodeName is
// not set by this controller). Until then the pod counts for the node its
// affinity names.
//
// Missing pods are created in slow-start batches; extra pods on one node
// are deleted (the oldest stays); failed pods are deleted (event
// FailedDaemonPod) and replaced after a per-node back-off (1 s doubling to
// 15 min).
//
// # Updates and history
//
// Each distinct template is a ControllerRevision <ds>-<hash> (data: the
// template as a strategic merge patch, for kubectl rollout undo), owned
// by the DaemonSet; pods carry controller-revision-hash=<hash> and
// pod-template-generation=<generation>. RollingUpdate deletes old pods,
// the unavailable ones first, so that at most maxUnavailable (an integer
// or a percentage of desiredNumberScheduled, rounded up) nodes lack an
// available pod; the replacements are created by the next sync. maxSurge
// is not implemented (it is treated as 0). OnDelete replaces only pods
// the user deleted. Revisions beyond revisionHistoryLimit that no pod
// uses are deleted.
//
// Status reports desiredNumberScheduled, currentNumberScheduled,
// numberReady, numberAvailable (ready for minReadySeconds),
// numberUnavailable, updatedNumberScheduled, numberMisscheduled,
// observedGeneration and collisionCount.
package daemonset
