// Package storageclass is the registry entry of the cluster-scoped
// storage.k8s.io/v1 StorageClass: its defaults (reclaimPolicy Delete,
// volumeBindingMode Immediate), validation (provisioner required;
// provisioner, parameters, reclaimPolicy and volumeBindingMode immutable)
// and the kubectl get columns, where the default class shows "(default)".
package storageclass
