// Package service is the registry entry of core/v1 Service: defaults
// (type ClusterIP, target port, traffic policies, IP families), validation
// of ports, cluster IPs, external names, external IPs (never loopback,
// link-local, unspecified or multicast: a proxy would capture the node's
// own traffic) and traffic policies, the status
// subresource (load balancer ingress), the kubectl get columns and the
// fields a field selector may name.
//
// Allocating cluster IPs and node ports is not done here: the API server
// owns the pools. The strategy only carries allocated values over an
// update that leaves them out (as kubectl apply does) and clears those a
// type change makes useless, as upstream's strategy does.
package service
