package scheduler

import (
	"fmt"
	"slices"
	"strings"
	"unique"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	resourcehelper "k8s.io/component-helpers/resource"
)

// Requests that scoring assumes for a container that requests nothing, so
// that best-effort pods still spread (upstream's non-zero defaults).
const (
	defaultMilliCPURequest = 100               // 0.1 core
	defaultMemoryRequest   = 200 * 1024 * 1024 // 200 MiB
)

var nonZeroDefaults = corev1.ResourceList{
	corev1.ResourceCPU:    *resource.NewMilliQuantity(defaultMilliCPURequest, resource.DecimalSI),
	corev1.ResourceMemory: *resource.NewQuantity(defaultMemoryRequest, resource.BinarySI),
}

// Resources is an amount of each schedulable resource.
type Resources struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
	// Pods is the number of pods (allocatable: how many may run).
	Pods int64
	// Scalar holds extended resources and hugepages.
	Scalar map[corev1.ResourceName]int64
}

// resourcesFromList converts a ResourceList (a node's allocatable, or a
// pod's requests).
func resourcesFromList(list corev1.ResourceList) Resources {
	var r Resources
	for name, q := range list {
		switch name {
		case corev1.ResourceCPU:
			r.MilliCPU = q.MilliValue()
		case corev1.ResourceMemory:
			r.Memory = q.Value()
		case corev1.ResourceEphemeralStorage:
			r.EphemeralStorage = q.Value()
		case corev1.ResourcePods:
			r.Pods = q.Value()
		default:
			if isScalarResource(name) {
				if r.Scalar == nil {
					r.Scalar = map[corev1.ResourceName]int64{}
				}
				r.Scalar[name] = q.Value()
			}
		}
	}
	return r
}

// isScalarResource tells whether the scheduler accounts a resource other
// than cpu, memory and ephemeral storage: extended resources
// (example.com/gpu) and hugepages. Others (e.g. "storage") are ignored,
// as upstream does.
func isScalarResource(name corev1.ResourceName) bool {
	s := string(name)
	if strings.HasPrefix(s, corev1.ResourceHugePagesPrefix) {
		return true
	}
	domain, _, found := strings.Cut(s, "/")
	// Names in the kubernetes.io domain are native, not extended.
	return found && domain != "kubernetes.io" && !strings.HasSuffix(domain, ".kubernetes.io")
}

func (r *Resources) add(o *Resources, sign int64) {
	r.MilliCPU += sign * o.MilliCPU
	r.Memory += sign * o.Memory
	r.EphemeralStorage += sign * o.EphemeralStorage
	r.Pods += sign * o.Pods
	for name, v := range o.Scalar {
		if r.Scalar == nil {
			r.Scalar = map[corev1.ResourceName]int64{}
		}
		r.Scalar[name] += sign * v
	}
}

func (r Resources) clone() Resources {
	out := r
	if r.Scalar != nil {
		out.Scalar = make(map[corev1.ResourceName]int64, len(r.Scalar))
		for k, v := range r.Scalar {
			out.Scalar[k] = v
		}
	}
	return out
}

// hostPort is one port a pod takes on its node's addresses.
type hostPort struct {
	ip       string // "" and "0.0.0.0" mean every address
	protocol corev1.Protocol
	port     int32
}

func (p hostPort) conflicts(o hostPort) bool {
	if p.port != o.port || p.protocol != o.protocol {
		return false
	}
	return p.ip == o.ip || isWildcardIP(p.ip) || isWildcardIP(o.ip)
}

func isWildcardIP(ip string) bool { return ip == "" || ip == "0.0.0.0" || ip == "::" }

// affinityTerm is a parsed PodAffinityTerm: which pods it selects and the
// topology they must (or must not) share.
type affinityTerm struct {
	selector    labels.Selector
	namespaces  sets.Set[string]
	nsSelector  labels.Selector // nil: only namespaces
	topologyKey string
}

// matches tells whether pod is one of the pods the term selects;
// nsLabels returns a namespace's labels (for namespace selectors).
func (t *affinityTerm) matches(pod *corev1.Pod, nsLabels func(string) labels.Set) bool {
	if !t.namespaces.Has(pod.Namespace) {
		if t.nsSelector == nil || !t.nsSelector.Matches(nsLabels(pod.Namespace)) {
			return false
		}
	}
	return t.selector.Matches(labels.Set(pod.Labels))
}

type weightedTerm struct {
	affinityTerm
	weight int64
}

// PodInfo is a pod with what scheduling needs of it computed once.
type PodInfo struct {
	Pod *corev1.Pod
	// Requests is what the pod asks of its node (pods = 1).
	Requests Resources
	// NonZeroMilliCPU and NonZeroMemory are the requests scoring uses:
	// containers that request nothing count as small ones.
	NonZeroMilliCPU, NonZeroMemory int64
	ports                          []hostPort
	// owner is the UID of the pod's controller, "" without one; its
	// bytes are the canonical copy ownerHandle keeps alive.
	owner       types.UID
	ownerHandle unique.Handle[string]

	requiredAffinity      []affinityTerm
	requiredAntiAffinity  []affinityTerm
	preferredAffinity     []weightedTerm
	preferredAntiAffinity []weightedTerm
	// parseErr is set when an affinity selector does not parse.
	parseErr error
}

// NewPodInfo computes a pod's requests, host ports, owner and parsed
// affinity terms.
func NewPodInfo(pod *corev1.Pod) *PodInfo {
	pi := &PodInfo{Pod: pod}
	pi.Requests = resourcesFromList(resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{}))
	pi.Requests.Pods = 1
	nonZero := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{NonMissingContainerRequests: nonZeroDefaults})
	pi.NonZeroMilliCPU = nonZero.Cpu().MilliValue()
	pi.NonZeroMemory = nonZero.Memory().Value()
	pi.ports = podHostPorts(pod)
	pi.setOwner(pod)
	if a := pod.Spec.Affinity; a != nil {
		if pa := a.PodAffinity; pa != nil {
			pi.requiredAffinity = pi.parseTerms(pa.RequiredDuringSchedulingIgnoredDuringExecution)
			pi.preferredAffinity = pi.parseWeightedTerms(pa.PreferredDuringSchedulingIgnoredDuringExecution)
		}
		if paa := a.PodAntiAffinity; paa != nil {
			pi.requiredAntiAffinity = pi.parseTerms(paa.RequiredDuringSchedulingIgnoredDuringExecution)
			pi.preferredAntiAffinity = pi.parseWeightedTerms(paa.PreferredDuringSchedulingIgnoredDuringExecution)
		}
	}
	return pi
}

// setOwner sets the owner from pod's controller reference.
func (pi *PodInfo) setOwner(pod *corev1.Pod) {
	pi.owner, pi.ownerHandle = "", unique.Handle[string]{}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		// Interned: every PodInfo of one controller shares the string, so
		// selector spreading's comparison of owners on each node stops at
		// the pointers instead of reading each UID's bytes (a cache miss
		// per node and decision).
		pi.ownerHandle = unique.Make(string(ref.UID))
		pi.owner = types.UID(pi.ownerHandle.Value())
	}
}

// refreshPodInfo returns the PodInfo of pod, a newer object of the pod
// of old (nil for none): a copy of old for pod when nothing in the spec
// that NewPodInfo reads changed (a pod's spec mostly cannot change; a
// bound pod's updates are status), which saves computing its requests
// again, else NewPodInfo(pod). old is not modified.
func refreshPodInfo(old *PodInfo, pod *corev1.Pod) *PodInfo {
	if old == nil || old.Pod.UID != pod.UID || !sameSchedulingSpec(&old.Pod.Spec, &pod.Spec) {
		return NewPodInfo(pod)
	}
	pi := *old
	pi.Pod = pod
	pi.setOwner(pod)
	return &pi
}

// sameSchedulingSpec tells whether two pod specs agree on every field
// NewPodInfo derives something from other than the node name: the
// containers' resources, host ports and restart policies, the overhead
// and pod-level resources. Specs with affinity or resource claims count
// as different (their pods are rare; NewPodInfo recomputes them).
func sameSchedulingSpec(a, b *corev1.PodSpec) bool {
	if a.Affinity != nil || b.Affinity != nil || a.HostNetwork != b.HostNetwork ||
		len(a.ResourceClaims) > 0 || len(b.ResourceClaims) > 0 ||
		!sameResourceList(a.Overhead, b.Overhead) || !sameContainers(a.Containers, b.Containers) ||
		!sameContainers(a.InitContainers, b.InitContainers) {
		return false
	}
	switch {
	case a.Resources == nil && b.Resources == nil:
		return true
	case a.Resources == nil || b.Resources == nil:
		return false
	}
	return sameResources(a.Resources, b.Resources)
}

func sameContainers(a, b []corev1.Container) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		ca, cb := &a[i], &b[i]
		if !sameResources(&ca.Resources, &cb.Resources) || !slices.Equal(ca.Ports, cb.Ports) {
			return false
		}
		if (ca.RestartPolicy == nil) != (cb.RestartPolicy == nil) ||
			(ca.RestartPolicy != nil && *ca.RestartPolicy != *cb.RestartPolicy) {
			return false
		}
	}
	return true
}

func sameResources(a, b *corev1.ResourceRequirements) bool {
	return len(a.Claims) == 0 && len(b.Claims) == 0 &&
		sameResourceList(a.Requests, b.Requests) && sameResourceList(a.Limits, b.Limits)
}

func sameResourceList(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for name, qa := range a {
		qb, ok := b[name]
		if !ok || qa.Cmp(qb) != 0 {
			return false
		}
	}
	return true
}

// hasAffinityTerms tells whether the pod has any pod (anti-)affinity.
func (pi *PodInfo) hasAffinityTerms() bool {
	return len(pi.requiredAffinity)+len(pi.requiredAntiAffinity)+len(pi.preferredAffinity)+len(pi.preferredAntiAffinity) > 0
}

func (pi *PodInfo) parseTerms(terms []corev1.PodAffinityTerm) []affinityTerm {
	out := make([]affinityTerm, 0, len(terms))
	for i := range terms {
		t, err := parseAffinityTerm(pi.Pod, &terms[i])
		if err != nil {
			pi.parseErr = err
			continue
		}
		out = append(out, t)
	}
	return out
}

func (pi *PodInfo) parseWeightedTerms(terms []corev1.WeightedPodAffinityTerm) []weightedTerm {
	out := make([]weightedTerm, 0, len(terms))
	for i := range terms {
		t, err := parseAffinityTerm(pi.Pod, &terms[i].PodAffinityTerm)
		if err != nil {
			pi.parseErr = err
			continue
		}
		out = append(out, weightedTerm{affinityTerm: t, weight: int64(terms[i].Weight)})
	}
	return out
}

// parseAffinityTerm resolves a term of owner: its label selector, with
// matchLabelKeys/mismatchLabelKeys taken from owner's labels, and its
// namespaces (owner's own namespace when the term names none).
func parseAffinityTerm(owner *corev1.Pod, term *corev1.PodAffinityTerm) (affinityTerm, error) {
	sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
	if err != nil {
		return affinityTerm{}, fmt.Errorf("scheduler: pod %s/%s: affinity label selector: %w", owner.Namespace, owner.Name, err)
	}
	if term.LabelSelector != nil {
		for _, key := range term.MatchLabelKeys {
			if v, ok := owner.Labels[key]; ok {
				req, err := labels.NewRequirement(key, selection.In, []string{v})
				if err == nil {
					sel = sel.Add(*req)
				}
			}
		}
		for _, key := range term.MismatchLabelKeys {
			if v, ok := owner.Labels[key]; ok {
				req, err := labels.NewRequirement(key, selection.NotIn, []string{v})
				if err == nil {
					sel = sel.Add(*req)
				}
			}
		}
	}
	t := affinityTerm{selector: sel, namespaces: sets.New(term.Namespaces...), topologyKey: term.TopologyKey}
	if term.NamespaceSelector != nil {
		nsSel, err := metav1.LabelSelectorAsSelector(term.NamespaceSelector)
		if err != nil {
			return affinityTerm{}, fmt.Errorf("scheduler: pod %s/%s: affinity namespace selector: %w", owner.Namespace, owner.Name, err)
		}
		t.nsSelector = nsSel
	} else if len(term.Namespaces) == 0 {
		t.namespaces.Insert(owner.Namespace)
	}
	return t, nil
}

// podHostPorts lists the host ports of the pod's long-running containers
// (regular ones and restartable init containers).
func podHostPorts(pod *corev1.Pod) []hostPort {
	var out []hostPort
	add := func(c *corev1.Container) {
		for _, p := range c.Ports {
			if p.HostPort <= 0 {
				continue
			}
			proto := p.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			out = append(out, hostPort{ip: p.HostIP, protocol: proto, port: p.HostPort})
		}
	}
	for i := range pod.Spec.Containers {
		add(&pod.Spec.Containers[i])
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			add(c)
		}
	}
	return out
}

// NodeInfo is a node with the pods bound to it and their sums. A NodeInfo
// published in a Snapshot is never changed: the cache replaces it with an
// updated copy, so decisions can read it without locks.
type NodeInfo struct {
	node *corev1.Node
	// readinessTaint is the taint the node counts as having while it is
	// not Ready (see readinessTaint), nil when Ready.
	readinessTaint *corev1.Taint
	// zone is the node's zone label, "" without one.
	zone string
	// unschedulable and taints are the node's spec.unschedulable and
	// spec.taints (shared with node, read-only), kept here so that the
	// filters and scores of a pod without node constraints read nothing
	// but the NodeInfo: touching each of hundreds of Node objects per
	// decision costs a cache miss apiece.
	unschedulable bool
	taints        []corev1.Taint
	pods          []*PodInfo
	// requested sums the pods' requests (Pods = number of pods).
	requested Resources
	// nonZeroMilliCPU and nonZeroMemory sum the pods' scoring requests.
	nonZeroMilliCPU, nonZeroMemory int64
	allocatable                    Resources
	ports                          []hostPort
	// owners counts the pods of each controller UID. A node runs pods of
	// a few controllers: a slice scanned by selector spreading costs less
	// than a map lookup on each of hundreds of nodes per decision.
	owners []ownerCount
	// podsWithAffinity are the pods with any pod (anti-)affinity term;
	// podsWithRequiredAntiAffinity those with a required anti-affinity.
	podsWithAffinity             []*PodInfo
	podsWithRequiredAntiAffinity []*PodInfo
}

// NewNodeInfo returns the NodeInfo of node (nil for pods whose node is not
// known yet) with pods bound to it.
func NewNodeInfo(node *corev1.Node, pods ...*corev1.Pod) *NodeInfo {
	ni := &NodeInfo{}
	ni.setNode(node)
	for _, p := range pods {
		ni.addPod(NewPodInfo(p))
	}
	return ni
}

// Node returns the node object (nil while only its pods are known).
func (ni *NodeInfo) Node() *corev1.Node { return ni.node }

// Pods returns the pods bound to the node. The caller must not modify it.
func (ni *NodeInfo) Pods() []*PodInfo { return ni.pods }

// Requested returns the sum of the pods' requests.
func (ni *NodeInfo) Requested() Resources { return ni.requested }

// Allocatable returns what the node offers to pods.
func (ni *NodeInfo) Allocatable() Resources { return ni.allocatable }

func (ni *NodeInfo) setNode(node *corev1.Node) {
	ni.node = node
	ni.readinessTaint, ni.zone = nil, ""
	ni.unschedulable, ni.taints = false, nil
	ni.allocatable = Resources{}
	if node != nil {
		ni.allocatable = resourcesFromList(node.Status.Allocatable)
		ni.readinessTaint = readinessTaint(node)
		ni.zone = nodeZone(node)
		ni.unschedulable, ni.taints = node.Spec.Unschedulable, node.Spec.Taints
	}
}

// clone returns a copy that can be changed without touching ni.
func (ni *NodeInfo) clone() *NodeInfo {
	out := &NodeInfo{
		node:                         ni.node,
		readinessTaint:               ni.readinessTaint,
		zone:                         ni.zone,
		unschedulable:                ni.unschedulable,
		taints:                       ni.taints,
		pods:                         append([]*PodInfo(nil), ni.pods...),
		requested:                    ni.requested.clone(),
		nonZeroMilliCPU:              ni.nonZeroMilliCPU,
		nonZeroMemory:                ni.nonZeroMemory,
		allocatable:                  ni.allocatable.clone(),
		ports:                        append([]hostPort(nil), ni.ports...),
		podsWithAffinity:             append([]*PodInfo(nil), ni.podsWithAffinity...),
		podsWithRequiredAntiAffinity: append([]*PodInfo(nil), ni.podsWithRequiredAntiAffinity...),
	}
	if ni.owners != nil {
		out.owners = append([]ownerCount(nil), ni.owners...)
	}
	return out
}

// ownerCount is how many of a node's pods a controller owns.
type ownerCount struct {
	uid types.UID
	n   int
}

// ownedBy returns how many of the node's pods the controller uid owns.
func (ni *NodeInfo) ownedBy(uid types.UID) int {
	for i := range ni.owners {
		if ni.owners[i].uid == uid {
			return ni.owners[i].n
		}
	}
	return 0
}

// countOwner adds delta to the pods of owner uid, dropping it at zero.
func (ni *NodeInfo) countOwner(uid types.UID, delta int) {
	for i := range ni.owners {
		if ni.owners[i].uid == uid {
			if ni.owners[i].n += delta; ni.owners[i].n <= 0 {
				ni.owners = append(ni.owners[:i], ni.owners[i+1:]...)
			}
			return
		}
	}
	if delta > 0 {
		ni.owners = append(ni.owners, ownerCount{uid: uid, n: delta})
	}
}

func (ni *NodeInfo) addPod(pi *PodInfo) {
	ni.pods = append(ni.pods, pi)
	ni.requested.add(&pi.Requests, 1)
	ni.nonZeroMilliCPU += pi.NonZeroMilliCPU
	ni.nonZeroMemory += pi.NonZeroMemory
	ni.ports = append(ni.ports, pi.ports...)
	if pi.owner != "" {
		ni.countOwner(pi.owner, 1)
	}
	if pi.hasAffinityTerms() {
		ni.podsWithAffinity = append(ni.podsWithAffinity, pi)
	}
	if len(pi.requiredAntiAffinity) > 0 {
		ni.podsWithRequiredAntiAffinity = append(ni.podsWithRequiredAntiAffinity, pi)
	}
}

// removePod removes the pod with uid and reports whether it was there.
func (ni *NodeInfo) removePod(uid types.UID) bool {
	idx := -1
	for i, p := range ni.pods {
		if p.Pod.UID == uid {
			idx = i
			break
		}
	}
	if idx < 0 {
		return false
	}
	pi := ni.pods[idx]
	ni.pods = append(ni.pods[:idx], ni.pods[idx+1:]...)
	ni.requested.add(&pi.Requests, -1)
	ni.nonZeroMilliCPU -= pi.NonZeroMilliCPU
	ni.nonZeroMemory -= pi.NonZeroMemory
	if pi.owner != "" {
		ni.countOwner(pi.owner, -1)
	}
	ni.podsWithAffinity = removePodInfo(ni.podsWithAffinity, uid)
	ni.podsWithRequiredAntiAffinity = removePodInfo(ni.podsWithRequiredAntiAffinity, uid)
	// Ports are few; recomputing them is simpler than tracking owners.
	ni.ports = ni.ports[:0]
	for _, p := range ni.pods {
		ni.ports = append(ni.ports, p.ports...)
	}
	return true
}

func removePodInfo(list []*PodInfo, uid types.UID) []*PodInfo {
	for i, p := range list {
		if p.Pod.UID == uid {
			return append(list[:i], list[i+1:]...)
		}
	}
	return list
}
