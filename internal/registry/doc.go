// Package registry describes the kinds the API server serves.
//
// A Kind carries everything kind-specific that the API server's generic
// REST handler needs: names for discovery, constructors for the Go types,
// a Strategy (defaults, validation, what a client may change), the optional
// status and scale subresources, the Table columns kubectl get shows, and
// the fields a field selector may name. Every kind has its own package
// under registry/ (registry/pod, registry/deployment, ...) that exports
// Kind() returning its description; registry/builtin lists them all.
//
// Kind packages import only this package, k8s.io/api and k8s.io/apimachinery:
// they never touch storage or HTTP. Storage-backed side effects (allocating
// service IPs, finalizing namespaces) live in the API server.
package registry
