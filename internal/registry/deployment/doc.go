// Package deployment is the registry entry of apps/v1 Deployment: its
// defaults (replicas 1, RollingUpdate with 25% surge and unavailability,
// revisionHistoryLimit 10, progressDeadlineSeconds 600), validation, the
// split between spec and status, the scale subresource and the kubectl get
// columns.
//
// It also exports the int-or-percent checks of rolling update strategies
// (ValidatePositiveIntOrPercent, IsNotMoreThan100Percent,
// IntOrPercentValue), which the daemonset and statefulset packages reuse.
package deployment
