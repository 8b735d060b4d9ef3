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
// Pods being deleted (deletionTimestamp set) and finished pods do not
// count as replicas. Events: SuccessfulCreate, FailedCreate,
// SuccessfulDelete, FailedDelete (recorded by controller.PodControl).
package replicaset
