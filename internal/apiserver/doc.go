// Package apiserver is Navarch's Kubernetes API server: HTTP routing,
// authentication, discovery, OpenAPI, and one generic REST handler that
// serves every kind in the registry over the storage interface.
//
// # Organization
//
//   - server.go: Config, Server, the top-level routing and health checks.
//   - auth.go: who a request comes from (client certificates, bearer tokens).
//   - inprocess/: the transport of the clients inside the server's process
//     (controllers, scheduler, local agent), which calls Handler directly,
//     and the authenticator of the users it carries.
//   - requestinfo.go: what a resource URL names; which requests are
//     long-running (LongRunning: watches, logs, exec, proxies).
//   - negotiate.go, responses.go: content negotiation, errors as metav1.Status.
//   - discovery.go: /api, /apis and the aggregated discovery documents.
//   - rest.go: get, list, create, update, delete, deletecollection.
//   - patch.go: JSON, merge and strategic merge patches.
//   - watch.go: watch streams (also as Tables for kubectl get -w). With
//     Config.WatchCache every kind but events is watched through a
//     storage/cacher (one etcd watch per kind, each change decoded once
//     and encoded once per format); creates look namespaces up there.
//   - table.go: server-side printing and PartialObjectMetadata; answers
//     (respond, writeTyped) are encoded into recycled buffers.
//   - subresources.go: status, scale, binding, eviction, finalize, and
//     the kinds' other writable subresources (pods/ephemeralcontainers).
//   - podstreams.go: pods/log, exec, attach and portforward, proxied to
//     the node agent running the pod (WebSocket exec and port-forward
//     translated to SPDY on the way, as upstream does).
//   - proxy.go: pods/proxy, services/proxy and nodes/proxy: HTTP and
//     upgrades forwarded to a pod, a ready service endpoint or the node
//     agent, never to loopback or link-local addresses and never with
//     the caller's Authorization header.
//   - nodeclient/: how the server reaches node agents (address from the
//     Node object, the kubelet client certificate).
//   - decode.go: request bodies, size limits and field validation.
//   - namespaces.go: namespace existence and the namespace deletion rules.
//   - metricsobjects.go: the nodes and pods the metrics.k8s.io group
//     (package metrics, served when Config.Metrics is set) reads.
//   - profiling.go: Go's profiles under /debug/pprof/ (Config.Profiling).
//   - openapi/: the OpenAPI v2 and v3 documents.
//   - metrics/: the resource metrics API, metrics.k8s.io, for kubectl top.
//
// Kind-specific rules live in internal/registry; the handler never switches
// on a kind except for the few upstream special cases listed in
// subresources.go and namespaces.go.
package apiserver
