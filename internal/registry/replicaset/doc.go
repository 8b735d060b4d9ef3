// Package replicaset is the registry entry of apps/v1 ReplicaSet: its
// defaults (replicas 1, pod template defaults), validation, the split
// between spec and status, the scale subresource, the kubectl get columns
// and the status.replicas field selector.
//
// It also exports the selector and pod template rules upstream shares
// between ReplicaSets and Deployments (ValidateSelectorAndTemplate,
// ValidatePodTemplateSpecForReplicaSet), which the deployment package
// reuses.
package replicaset
