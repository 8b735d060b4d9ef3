// Package scheduler is Navarch's pod scheduler: it watches pods that have
// no node yet (spec.nodeName empty, spec.schedulerName "default-scheduler")
// and binds each to a node through the pods/binding subresource, as
// upstream's kube-scheduler does.
//
// # Organization
//
// The decision is pure: Profile.Schedule reads a State (a Snapshot of
// nodes with the pods bound to them, plus claims, volumes, classes and
// namespace labels) and returns a Result; it writes nothing. Its plugins
// are small types with upstream's names, run in upstream's order:
//
//   - filters (the first that fails decides a node's Status):
//     NodeUnschedulable, TaintToleration (NoSchedule/NoExecute taints; a
//     node that is not Ready counts as tainted not-ready/unreachable),
//     NodeAffinity (nodeSelector and required node affinity), NodePorts,
//     NodeResourcesFit (cpu, memory, ephemeral storage, extended resources
//     and the pod count against allocatable minus what bound pods
//     request), VolumeBinding (claims exist; bound volumes' node affinity;
//     unbound WaitForFirstConsumer claims can bind or be provisioned),
//     InterPodAffinity (required affinity and anti-affinity, both ways,
//     for any topology key);
//   - scores, weighted: least allocated (1), preferred node affinity (2),
//     preferred pod affinity (2), PreferNoSchedule taints (3), spreading
//     the pods of one controller across nodes and zones (2).
//
// When no node fits, the FitError renders upstream's message
// ("0/3 nodes are available: 1 node(s) had untolerated taint {k: v},
// 2 Insufficient cpu. preemption: 0/3 nodes are available: ..."). Navarch
// does not preempt; the preemption part says what upstream says when it
// finds no victims.
//
// Around the decision, Scheduler (scheduler.go) keeps a Cache of nodes and
// bound pods fed by informers (with the pods it assumed bound while their
// binding is in flight), a scheduling queue (queue.go: an active queue by
// priority then age, a backoff queue of 1 s doubling to 10 s, and a pool
// of unschedulable pods that cluster events move back), and writes
// through the API only: the binding, the PodScheduled=False condition and
// FailedScheduling/Scheduled events (component "default-scheduler"), and
// the volume.kubernetes.io/selected-node annotation on unbound
// WaitForFirstConsumer claims. A pod with such claims is bound only once
// the volume controller has bound them. Bindings run on up to 64
// long-lived workers while the decision loop goes on; a failed binding
// forgets the assumed pod and backs it off.
//
// Not done: preemption, pod topology spread constraints, the
// NodeVolumeLimits and VolumeRestrictions (ReadWriteOncePod) filters,
// image locality and balanced-allocation scores, multiple profiles.
package scheduler
