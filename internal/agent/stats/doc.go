// Package stats is the agent's side of resource metrics. Provider samples
// the CPU and memory usage of the node (from /proc) and of the pods and
// containers the agent runs (from the CRI runtime), and serves the latest
// sample as the kubelet's Summary API: GET /stats/summary answers a
// k8s.io/kubelet stats/v1alpha1 Summary in JSON. The API server's
// metrics.k8s.io group reads it to answer kubectl top.
//
// # What the figures mean
//
// CPU: the runtime and /proc/stat give cumulative CPU time
// (usageCoreNanoSeconds). containerd 1.6 leaves usageNanoCores at zero,
// so the provider computes it: usageNanoCores is the mean rate between
// the two newest samples of the same container (or pod, or node), which
// are at least MinWindow apart and normally one Interval apart. Without
// an older sample (a container seen for the first time, or the first
// sample after the agent starts) it falls back to the runtime's own
// usageNanoCores when that is not zero, then to the lifetime mean: the
// CPU time over the time since the container was created (for the node,
// since boot).
//
// Memory: workingSetBytes, usageBytes and rssBytes as the runtime reports
// them for containers (containerd's working set is usage minus inactive
// file pages). For the node they come from /proc/meminfo the way cAdvisor
// computes them for the root cgroup: usage is MemTotal-MemFree, the
// working set is usage minus Inactive(file), available is MemTotal minus
// the working set.
//
// Pods: when the runtime measures a sandbox as a whole
// (ListPodSandboxStats) a pod's own figures are the sandbox's. Otherwise
// they are the sums over its running containers. This is the case with
// containerd 1.6 when sandboxes have no cgroup parent, which is how the
// agent runs pods today.
//
// Only the sandboxes and containers this agent made (label
// io.navarch.managed-by) are reported, and of those only ready sandboxes
// and running containers.
//
// # Sampling
//
// Start samples every Interval (DefaultInterval, 10 s, the kubelet's
// housekeeping period) until its context ends. A request that finds no
// sample younger than one and a half Intervals takes one on the spot, so
// the handler also answers when Start is not running, with CPU rates over
// the time since the previous request.
//
// # Organization
//
//   - provider.go: Config, Provider, Start, Summary, and the sample that
//     joins sandboxes, containers and their stats into a Summary.
//   - rate.go: the CPU rate from two cumulative samples.
//   - host.go: the node's totals from /proc.
//   - handler.go: ServeHTTP, the /stats/summary endpoint.
package stats
