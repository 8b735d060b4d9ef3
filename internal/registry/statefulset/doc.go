// Package statefulset is the registry entry of apps/v1 StatefulSet: its
// defaults (replicas 1, podManagementPolicy OrderedReady, RollingUpdate
// with partition 0, revisionHistoryLimit 10, PVC retention Retain/Retain,
// volume claim templates in Filesystem mode), validation including the
// fields an update may not change, the split between spec and status, the
// scale subresource and the kubectl get columns.
package statefulset
