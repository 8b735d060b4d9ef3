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
//     the runtime relist (relist.go), by probe results and by timers;
//     syncs of one pod never overlap.
//   - podsync.go: syncPod, the level-based sync of one pod: volumes,
//     sandbox, images, app containers, restarts with back-off, deletion.
//   - volumes.go: podsync's calls into the volume manager (package
//     volume, which owns <data-dir>/volumes): set-up before the sandbox
//     (a volume not ready keeps the pod Pending with FailedMount), CRI
//     mounts per container (a bad subPath is CreateContainerConfigError),
//     teardown with the pod, and the removal of orphaned volume
//     directories at start. The Node advertises <data-dir>/storage for
//     local-path volumes.
//   - termination.go: an exited container's message, read back from its
//     termination-message file or (FallbackToLogsOnError) its log.
//   - initcontainers.go: init containers run in order before the app
//     containers; sidecars (restartPolicy Always) kept running.
//   - ephemeral.go: ephemeral containers (kubectl debug) run once, in the
//     PID namespace of their target container when they name one.
//   - securitycontext.go: runAsNonRoot checked against the image's user
//     before a container is created; seccomp profiles.
//   - deadline.go: spec.activeDeadlineSeconds.
//   - probes.go: the bridge to package prober, whose workers probe the
//     containers and wake a pod's worker when a result changes; a failed
//     liveness or startup probe restarts the container.
//   - lifecycle.go: postStart and preStop hooks, and killContainer
//     (Killing event, preStop bounded by the grace period, SIGTERM,
//     SIGKILL). A terminating pod's hooks all start at once; sidecars
//     are stopped after the app containers, in reverse spec order,
//     within the one grace period.
//   - sandbox.go, container.go, env.go: CRI configs from the pod spec
//     (DNS, hostname, ports, command/args, env with $(VAR) expansion,
//     downward API fields, ConfigMap and Secret keys, resources).
//   - status.go: the pod status computed from the runtime state and the
//     probe results, shaped as upstream's kubelet shapes it (phase,
//     conditions, init and app container statuses).
//   - statuswrite.go: the status written as a strategic merge patch of
//     pods/status (UID precondition, no resourceVersion, so concurrent
//     writers of the pod never conflict with it), computed against the
//     API's answer to the last write while the informer lags. A pod
//     being deleted keeps getting status until its object goes: before
//     its containers are killed, and once they have stopped (terminated
//     states, not ready, a terminal phase).
//   - backoff.go: the restart and image-pull back-off.
//   - nodeapi/: the node API the API server calls (the kubelet's port
//     10250): container logs, exec, attach, port-forward. The agent
//     starts it before registering, and the Node publishes its port in
//     status.daemonEndpoints.kubeletEndpoint. It also serves
//     /stats/summary from package stats (CRI and host figures behind
//     kubectl top) and /pods (podlist.go: the node's pods as a PodList);
//     Config.NodeAPIHandlers adds more routes.
//
// Not done: volumes lack fsGroup ownership, SELinux labels,
// network/CSI/ephemeral/image volume types, clusterTrustBundle
// projections, and teardown when a pod finishes (its volumes go when it
// is deleted; see package volume). No probe-level metrics, no in-place
// resize (pods/resize), no AppArmor profiles.
package agent
