// Package ingress is the registry entry of networking.k8s.io/v1 Ingress:
// its validation (rules with DNS or wildcard hosts, paths absolute for
// Prefix and Exact, backends naming exactly one service or resource and a
// service port by name or number, TLS hosts and secrets), the split
// between spec and status, and the kubectl get columns.
//
// It exports ValidateTypedLocalObjectReference for the ingressclass
// package, whose parameters follow the same rules as resource backends.
package ingress
