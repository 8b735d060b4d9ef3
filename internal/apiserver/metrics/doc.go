// Package metrics serves the resource metrics API, metrics.k8s.io/v1beta1,
// the way upstream's metrics-server serves it, so that kubectl top (and
// anything else reading NodeMetrics and PodMetrics) works against
// Navarch without an add-on.
//
// Server is an http.Handler for every path under /apis/metrics.k8s.io:
// the group and version discovery documents, and GET (list and get) of
// nodes (cluster-scoped, kind NodeMetrics) and pods (namespaced, kind
// PodMetrics), with label selectors, the field selectors metadata.name
// and metadata.namespace, JSON, YAML and protobuf, and Table output for
// kubectl get. The API server routes that prefix here and adds
// AggregatedDiscovery and APIGroup to its own discovery documents, which
// is how kubectl learns the group exists.
//
// Figures are not stored: each request reads the nodes and pods it is
// about (Objects, the API server's storage) and asks the agents on the
// nodes concerned for their kubelet Summary (GET /stats/summary through
// NodeStats), all nodes at once and within Config.Timeout. A node that
// does not answer in time, or answers badly, is left out, as
// metrics-server leaves out nodes it could not scrape. Usage is what the
// agents measured: cpu is usageNanoCores (a rate the agent computes over
// its sampling interval), memory is workingSetBytes. As in metrics-server,
// only Running pods are reported, and a pod is reported only when every
// container the agent reports for it has both figures.
//
// Errors are those of metrics-server: a missing node or pod is the
// NotFound of the object itself (nodes "x" not found); an existing one
// without metrics is nodemetrics.metrics.k8s.io "x" not found or
// podmetrics.metrics.k8s.io "ns/x" not found; writes and watches are 405.
//
// # Organization
//
//   - server.go: NodeStats, Objects, Config, Server, the routing.
//   - discovery.go: the group's discovery documents.
//   - collect.go: fetching the nodes' summaries concurrently.
//   - convert.go: NodeMetrics and PodMetrics from summaries.
//   - encode.go: content negotiation, encoding, Tables and errors.
package metrics
