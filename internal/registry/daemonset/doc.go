// Package daemonset is the registry entry of apps/v1 DaemonSet: its
// defaults (RollingUpdate with maxUnavailable 1 and maxSurge 0,
// revisionHistoryLimit 10), validation, the split between spec and status,
// the template generation annotation upstream keeps, and the kubectl get
// columns.
package daemonset
