// Package lease is the registry entry of coordination.k8s.io/v1 Lease,
// the object leader election and node heartbeats renew: its validation
// (positive duration, non-negative transitions, a known or domain-prefixed
// strategy, a preferred holder only with a strategy) and the kubectl get
// columns.
package lease
