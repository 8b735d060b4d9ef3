// Package node is the registry entry of core/v1 Node: allocatable
// defaulted from capacity, validation of taints, resources, pod CIDRs and
// provider ID, the status subresource, the kubectl get columns and the
// spec.unschedulable field selector.
//
// A node's agent creates its Node with a status, so unlike most kinds the
// status given on create is kept.
package node
