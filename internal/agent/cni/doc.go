// Package cni owns the agent's pod network configuration: the CNI
// conflist (bridge + host-local IPAM + portmap, Debian's plugins) that
// containerd's CRI plugin loads from its conf dir to give each pod
// sandbox one IP on the node's pod CIDR; the masquerade of the pods'
// traffic leaving the CIDR (one nftables rule per node, not the bridge
// plugin's iptables chain per pod: masquerade.go); and the clean-up of
// what those leave on the host after the last pod (the bridge device,
// the masquerade table and portmap's base iptables chains).
//
// containerd invokes the plugins itself; this package never runs them.
package cni
