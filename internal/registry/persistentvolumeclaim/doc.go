// Package persistentvolumeclaim is the registry entry of core/v1
// PersistentVolumeClaim: defaults (volume mode Filesystem, phase Pending),
// validation of access modes, the storage request and data sources, the
// rule that a claim's spec is fixed except for its storage request and
// its one-time binding, the status subresource, and the kubectl get
// columns.
package persistentvolumeclaim
