// Package statefulset is the StatefulSet controller: pods with stable
// names, hostnames and storage, created, deleted and updated in order, as
// upstream's StatefulSet controller does.
//
// # Identity and storage
//
// The pod of ordinal i (i from spec.ordinals.start, default 0) is named
// <set>-<i>, labelled statefulset.kubernetes.io/pod-name=<set>-<i> and
// apps.kubernetes.io/pod-index=<i>, with hostname <set>-<i> and subdomain
// spec.serviceName. For each volumeClaimTemplate it mounts the
// PersistentVolumeClaim <template>-<set>-<i>, which the controller creates
// before the pod (labelled with the set's selector) and never deletes:
// claims outlive their pods, so a recreated pod finds its data. With
// persistentVolumeClaimRetentionPolicy whenDeleted=Delete a claim gets an
// owner reference to the set, and with whenScaled=Delete the claim of a
// pod removed by a scale-down gets one to that pod, so the garbage
// collector removes them; both are set when the claim is created or the
// pod condemned, not retroactively. A claim being deleted holds its pod
// back until it is gone.
//
// # Ordering
//
// With podManagementPolicy OrderedReady (the default) the controller
// creates one pod at a time, in ordinal order, and waits for each to be
// Running and Ready (and available for minReadySeconds) before the next;
// it scales down from the highest ordinal, one pod at a time, and only
// while every other pod is healthy. With Parallel it creates and deletes
// all pods at once. Failed or succeeded pods are deleted and recreated.
//
// # Updates and history
//
// Each distinct pod template is stored as a ControllerRevision named
// <set>-<hash> (data: the template as a strategic merge patch, as
// kubectl rollout undo applies it), owned by the set; its revision number
// grows with each change, and going back to an earlier template reuses
// (renumbers) its revision. Pods carry controller-revision-hash=<revision
// name>. status.updateRevision is the revision of the current template and
// status.currentRevision the one the pods had before the update; it
// becomes the update revision once every pod is updated and ready.
// RollingUpdate replaces pods at or above partition from the highest
// ordinal down, one at a time, waiting for each to be healthy (pods below
// the partition keep the current revision, also when recreated); OnDelete
// only gives pods the user deleted the new template. Revisions beyond
// revisionHistoryLimit that no pod uses are deleted, oldest first.
// maxUnavailable is not implemented: rolling updates go one pod at a time.
//
// Status reports replicas, readyReplicas, availableReplicas,
// currentReplicas, updatedReplicas, the revisions, collisionCount and
// observedGeneration. Events are upstream's ("create Pod web-0 in
// StatefulSet web successful").
package statefulset
