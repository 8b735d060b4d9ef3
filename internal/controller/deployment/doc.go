// Package deployment is the Deployment controller: it rolls a Deployment's
// pod template out through ReplicaSets, as upstream's controller does, so
// that kubectl rollout status/history/undo/pause/resume/restart, kubectl
// set image and kubectl scale behave as they do on Kubernetes.
//
// Each template gets its own ReplicaSet named "<deployment>-<hash>", where
// hash is controller.ComputeHash of the template (salted with
// status.collisionCount) and also the pod-template-hash label of its pods
// and selector. The ReplicaSet whose template equals the Deployment's
// (ignoring that label) is the new one; all others are old.
//
// One sync of a Deployment:
//   - claims ReplicaSets (adopt/release by selector);
//   - paused, or only spec.replicas changed: scales the ReplicaSets
//     (proportionally when a rollout is under way) and writes status;
//   - RollingUpdate: scales the new ReplicaSet up while the total stays
//     within replicas+maxSurge, and old ones down while available pods
//     stay at or above replicas-maxUnavailable (maxSurge rounds up,
//     maxUnavailable rounds down, both 0 resolve to maxUnavailable 1);
//   - Recreate: scales old ReplicaSets to 0, waits until their pods are
//     gone, then creates/scales the new one;
//   - once the rollout completes, deletes old ReplicaSets beyond
//     revisionHistoryLimit;
//   - writes status and the Progressing (NewReplicaSetCreated,
//     FoundNewReplicaSet, ReplicaSetUpdated, NewReplicaSetAvailable,
//     ProgressDeadlineExceeded, DeploymentPaused, DeploymentResumed),
//     Available and ReplicaFailure conditions.
//
// ReplicaSets carry the annotations kubectl reads:
// deployment.kubernetes.io/revision, revision-history, desired-replicas
// and max-replicas, plus the Deployment's own annotations (change-cause).
// `kubectl rollout undo` patches an old ReplicaSet's template back into the
// Deployment; the controller then finds that ReplicaSet as the new one and
// gives it the next revision. Events: ScalingReplicaSet ("Scaled up
// replica set web-5d4b9c7f8 from 0 to 3"), ReplicaSetCreateError,
// SelectingAll.
package deployment
