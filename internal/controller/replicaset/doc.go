// Package replicaset is the ReplicaSet controller: it keeps the number of
// active pods a ReplicaSet owns equal to spec.replicas and reports what it
// sees in the ReplicaSet's status, as upstream's controller does.
//
// One sync of a ReplicaSet:
//   - claims pods: adopts orphans its selector matches and releases owned
//     pods that no longer match (ownerReferences patches);
//   - when the informer cache has caught up with its own earlier writes
//     (expectations), creates missing pods in slow-start batches (1, 2,
//     4, ...; at most 500 per sync) or deletes surplus ones, least
//     valuable first (controller.ActivePodsWithRanks);
//   - writes status: replicas, fullyLabeledReplicas, readyReplicas,
//     availableReplicas (minReadySeconds), terminatingReplicas,
//     observedGeneration, and the ReplicaFailure condition when creating
//     or deleting failed.
//
// A sync counts every pod the ReplicaSet owns (found through
// controller.PodControllerUIDIndex, not by scanning the namespace), so a
// pod event that only changes the status counts (a pod bound, Running,
// Ready) does not resync at once: it waits up to 50 times the last
// count's duration (at most 1 s; upstream's Job controller batches pod
// events by 1 s), batched with the other events of that period. Pod
// creations and deletions that fulfil the expectations, and pods whose
// labels or owner change (adoption, release), resync at once.
//
// Pods being deleted (deletionTimestamp set) and finished pods do not
// count as replicas. Events: SuccessfulCreate, FailedCreate,
// SuccessfulDelete, FailedDelete (recorded by controller.PodControl).
package replicaset
