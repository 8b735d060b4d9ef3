// Package controller is the kit every workload controller under
// internal/controller/<name> is built from. It owns no controller itself; it
// owns the pieces upstream keeps in pkg/controller:
//
//   - PodControl: creates pods from a template (owner reference,
//     generateName "<owner>-"), deletes and patches them, and records the
//     upstream events (SuccessfulCreate, FailedCreate, SuccessfulDelete,
//     FailedDelete) on the owner. Its fake lives in controllertest.
//   - ControllerExpectations and UIDTrackingExpectations: how many creates and
//     deletes a controller has issued but not yet seen in its informer cache,
//     so a sync does not act twice on a stale cache.
//   - RefManager and Claim: adopt orphans that match a selector and release
//     owned objects that no longer match, by strategic merge patch on
//     metadata.ownerReferences, as upstream's ControllerRefManager does.
//   - Pod helpers: IsPodActive, FilterActivePods, IsPodReady,
//     IsPodAvailable (minReadySeconds), and ActivePodsWithRanks, the order in
//     which a controller prefers to delete pods when scaling down.
//   - ComputeHash: upstream's hash of a pod template (pod-template-hash,
//     controller revision names), SlowStartBatch, key helpers, and
//     NewEventRecorder for core/v1 events.
//   - AddPodControllerUIDIndexer and PodsOwnedOrOrphaned: find a
//     controller's pods (and the orphans it may adopt) without scanning
//     every pod of the namespace.
//   - WaitForCaches and RunWorkers: the informer -> workqueue -> sync loop
//     every controller runs.
//
// Everything here talks to the API through client-go only.
package controller
