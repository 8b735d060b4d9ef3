// Package nodeclient is how the API server reaches a node agent's API
// (package agent/nodeapi, the kubelet's API on port 10250): it finds
// where the node listens from its Node object (the InternalIP address and
// status.daemonEndpoints.kubeletEndpoint.Port) and connects with the API
// server's kubelet client certificate (CN kube-apiserver-kubelet-client,
// O system:masters, signed by the cluster CA), the only identity the
// agent serves.
//
// The node's serving certificate is self-signed and not verified, as
// upstream's API server does without --kubelet-certificate-authority.
//
// Do sends plain requests (container logs, /stats/summary); Location and
// Transport give an upgrade proxy what it needs for exec, attach and
// port-forward.
package nodeclient
