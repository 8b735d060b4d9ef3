// Package server is the composition root of `navarch server`: it prepares
// the data directory (certificates, kubeconfig, join token), opens storage
// (an embedded etcd, or an external cluster), builds the API server, and
// runs every long-running part until the context ends.
//
// Components other than the API server reach it through client-go and
// the Kubernetes API, exactly as they would from another process, in
// protobuf as kube-controller-manager and kube-scheduler do. Inside this
// process their requests skip the network: an apiserver/inprocess
// Transport hands each one to the API server's handler, as the
// controller-manager's user (system:masters) or, for the local agent, as
// its node's user (system:node:HOSTNAME in system:nodes). The API server
// listens only on its TCP port (HTTPS), for everything outside.
//
// The server also tunes the Go runtime's soft memory limit (memory.go):
// Config.MemoryLimit, raised with the live heap, so that the heap of a
// large control plane does not grow to twice what is live before each
// collection. Under that limit, while it allocates fast (thousands of
// pods at once), it collects garbage less often (GOGC 400), and as usual
// (100) once it is calm again.
package server
