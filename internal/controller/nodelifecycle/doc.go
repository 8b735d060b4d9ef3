// Package nodelifecycle is the node lifecycle controller: it notices
// nodes that stopped reporting, taints nodes by their conditions, and
// evicts pods from nodes they do not tolerate, as upstream's
// node-lifecycle-controller and taint-eviction-controller do together.
//
// Health: every Config.MonitorPeriod it looks at each node's Ready
// condition heartbeat and its Lease (kube-node-lease/<node>). A node whose
// heartbeat and Lease have not changed for Config.GracePeriod (40 s; a
// node that never reported gets Config.StartupGracePeriod) has its Ready,
// MemoryPressure, DiskPressure and PIDPressure conditions set to Unknown
// ("Kubelet stopped posting node status."), a NodeNotReady event, and the
// pods on it marked not ready, which takes them out of Service endpoints.
// Changes are timed by this controller's clock when it sees them, not by
// the node's clock. The node's agent brings it back by renewing its Lease
// and posting Ready=True.
//
// Taints follow the conditions, level-based: Ready=False gives
// node.kubernetes.io/not-ready and Ready=Unknown
// node.kubernetes.io/unreachable, each with effects NoSchedule and
// NoExecute; memory, disk and PID pressure, an unavailable network and
// spec.unschedulable give their NoSchedule taints. Taints that no longer
// apply go; others' taints are kept.
//
// Eviction: a pod bound to a node with NoExecute taints is deleted at once
// if it does not tolerate one of them, and otherwise when the shortest
// tolerationSeconds among the tolerations it uses runs out, counted from
// the taint's timeAdded (tolerations without seconds tolerate forever).
// Pods get tolerations of 300 s for not-ready and unreachable from the
// API server unless they say otherwise. The deleted pod gets the
// DisruptionTarget condition and a TaintManagerEviction event; its
// controller makes a replacement that the scheduler puts elsewhere.
package nodelifecycle
