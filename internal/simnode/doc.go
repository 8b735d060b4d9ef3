// Package simnode simulates nodes the way kwok does, so that the scheduler
// and the controllers can be exercised at scale without containers. A
// Simulator plays the kubelet of Count nodes named NamePrefix0,
// NamePrefix1, ...:
//
//   - it registers each Node (labels kubernetes.io/hostname, os, arch and
//     node.kubernetes.io/instance-type=simulated; capacity = allocatable;
//     Ready and the pressure conditions with the kubelet's reasons; an
//     InternalIP; nodeInfo with kubelet version v1.37.2; spec.podCIDR from
//     Config.PodCIDR), or takes over an existing one after a restart;
//   - it renews a coordination.k8s.io Lease per node in kube-node-lease
//     every HeartbeatInterval (10 s), in ten staggered batches through a
//     worker pool, and reports the node status again when it is due (every
//     5 minutes) or when someone marked the node not Ready;
//   - for pods bound to its nodes it reports what a kubelet would once the
//     containers started, without running anything: phase Running, a pod IP
//     from the node's /24 (the node's IP for hostNetwork pods), hostIP,
//     startTime, the conditions PodReadyToStartContainers, Initialized,
//     ContainersReady, Ready (subject to readiness gates) and PodScheduled,
//     containers running and ready with no restarts, init containers
//     completed; and it finishes the deletion of pods that have a
//     deletionTimestamp (deleting them with grace period 0);
//   - when Start's context ends, or for one node after StopNode, it stops
//     all of that, so a node lifecycle controller sees the Lease expire and
//     marks the node NotReady. ResumeNode brings a node back.
//
// It watches pods through one informer filtered on spec.nodeName (one node:
// spec.nodeName=<node>; more: spec.nodeName!=""), and writes through a
// rate-limited work queue served by Config.Workers goroutines, so a
// thousand nodes and ten thousand pods fit on a small machine.
//
// Pods never finish on their own (restartPolicy Never pods stay Running),
// no events are recorded for nodes, and nothing listens on the advertised
// kubelet port (no logs, exec or metrics).
package simnode
