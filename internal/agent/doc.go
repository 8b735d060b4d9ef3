// Package agent is Navarch's node agent, its kubelet: it registers this
// machine as a Node, renews the node's Lease, and runs the pods bound to
// the node on a CRI runtime (containerd), reporting their status and
// events the way the kubelet does.
//
// New builds an Agent from a Config and a client; Start runs it until its
// context ends. Without Config.RuntimeEndpoint the agent supervises a
// containerd of its own under <DataDir>/containerd (package cri), with a
// CNI bridge network on the node's pod CIDR (package cni) and a pause
// image built from the pause program navarch embeds (package images).
//
// # Organization
//
//   - agent.go: Agent, New, Start: the composition of everything below.
//   - config.go: Config and its defaults.
//   - host.go, node.go: the facts about this machine, the Node object
//     built from them, registration, node status and Lease heartbeats.
//   - workers.go: one goroutine per pod, woken by the pod informer, by
//     the runtime relist (relist.go) and by timers; syncs of one pod never
//     overlap.
//   - podsync.go: syncPod, the level-based sync of one pod: sandbox,
//     images, containers, restarts with back-off, deletion.
//   - sandbox.go, container.go, env.go: CRI configs from the pod spec
//     (DNS, hostname, ports, command/args, env with $(VAR) expansion,
//     downward API fields, ConfigMap and Secret keys, resources).
//   - status.go: the pod status computed from the runtime state, shaped
//     as upstream's kubelet shapes it.
//   - backoff.go: the restart and image-pull back-off.
//   - nodeapi/: the node API the API server calls (the kubelet's port
//     10250): container logs, exec, attach, port-forward. The agent
//     starts it before registering, and the Node publishes its port in
//     status.daemonEndpoints.kubeletEndpoint; Config.NodeAPIHandlers adds
//     routes to it (metrics).
//
// Seams left for later work: volumes (container.go mounts nothing but
// what CRI adds), probes (status.go's containerReady treats a running
// container as ready), init containers and lifecycle hooks (podsync.go),
// metrics (Config.NodeAPIHandlers is where /stats/summary goes).
package agent
