// Package ingressclass is the registry entry of the cluster-scoped
// networking.k8s.io/v1 IngressClass: its default (parameters scope
// Cluster), validation (controller required, a domain-prefixed path that
// never changes; parameters a valid reference) and the kubectl get columns.
package ingressclass
