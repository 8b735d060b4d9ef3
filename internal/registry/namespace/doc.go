// Package namespace is the registry entry of core/v1 Namespace: the
// kubernetes.io/metadata.name label, the "kubernetes" finalizer and
// Active phase of a new namespace, name validation (a DNS label), the
// status subresource, and the kubectl get columns.
//
// spec.finalizers changes only through the namespace's finalize
// subresource, which the API server implements: the main resource keeps
// them from the stored object.
package namespace
