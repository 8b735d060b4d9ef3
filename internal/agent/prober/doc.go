// Package prober runs the agent's container probes, as the kubelet's
// prober does: liveness, readiness and startup probes with the httpGet,
// tcpSocket, exec and grpc handlers, their initial delay, period,
// timeout and success and failure thresholds.
//
// A Manager keeps one worker goroutine per (pod, container, probe type).
// The agent tells it, after every sync of a pod, which container runs
// under each name (UpdatePod) and when the pod is gone (RemovePod). A
// worker probes its container every period, counts consecutive results
// against the thresholds and caches the result per container id; a
// change of a cached result calls Config.OnChange with the pod's UID, so
// the agent syncs that pod at once (to write its readiness, or to kill a
// container that failed its liveness probe). The agent reads the cache
// with Result. Failed probes are reported as the kubelet's Unhealthy
// and ProbeWarning events.
//
// The handlers are exported on their own (NewHTTPGetRequest, Send,
// HTTPGet, TCPSocket, GRPC, Exec, ResolvePort), because lifecycle hooks
// make the same HTTP requests and exec calls.
//
// # Organization
//
//   - probe.go: Type, Result, Outcome and the probe defaults.
//   - http.go, tcp.go, grpc.go, exec.go: one handler each.
//   - manager.go: Manager, its result cache and the pods it knows.
//   - worker.go: the probe loop of one container's probe.
package prober
