package scheduler

import (
	"fmt"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Cache holds the nodes and the pods bound to them, as the informers
// report them, plus the pods the scheduler has assumed bound while their
// binding request is in flight, so the next decision already counts them.
// It hands out Snapshots. It is safe for concurrent use.
//
// NodeInfos are copy-on-write: a change replaces a node's NodeInfo with
// an updated copy, so a Snapshot taken earlier never changes.
type Cache struct {
	mu sync.Mutex
	// nodes maps a node name to its NodeInfo, also for pods whose node
	// object is not known (yet); guarded by mu.
	nodes map[string]*NodeInfo
	// pods maps a pod UID to where the cache put it; guarded by mu.
	pods map[types.UID]*cachedPod
	// list holds the NodeInfos that have a node object, sorted by name,
	// and index their positions; nil when nodes came or went since the
	// last snapshot. Guarded by mu.
	list  []*NodeInfo
	index map[string]int
	// affinityPods and antiAffinityPods count the cached pods with pod
	// (anti-)affinity terms and with required anti-affinity; guarded by
	// mu.
	affinityPods, antiAffinityPods int
}

type cachedPod struct {
	info    *PodInfo
	node    string
	assumed bool
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{nodes: map[string]*NodeInfo{}, pods: map[types.UID]*cachedPod{}}
}

// SetNode adds a node or replaces its object.
func (c *Cache) SetNode(node *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ni, ok := c.nodes[node.Name]
	if !ok {
		ni = &NodeInfo{}
	} else {
		ni = ni.clone()
	}
	hadNode := ni.node != nil
	ni.setNode(node)
	c.store(node.Name, ni, !hadNode)
}

// RemoveNode forgets a node object. Pods still bound to it are kept until
// they are removed, but no decision sees the node.
func (c *Cache) RemoveNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ni, ok := c.nodes[name]
	if !ok {
		return
	}
	if len(ni.pods) == 0 {
		delete(c.nodes, name)
	} else {
		ni = ni.clone()
		ni.setNode(nil)
		c.nodes[name] = ni
	}
	c.list, c.index = nil, nil
}

// SetPod records a bound pod as the informer reports it (added or
// updated). It replaces an assumed copy of the same pod, also when the
// pod ended up on another node than assumed.
func (c *Cache) SetPod(pod *corev1.Pod) {
	if pod.Spec.NodeName == "" {
		return
	}
	c.mu.Lock()
	var oldInfo *PodInfo
	if old, ok := c.pods[pod.UID]; ok {
		oldInfo = old.info
	}
	c.mu.Unlock()
	// PodInfos are not modified once made: computing outside the lock is
	// safe, and whatever replaced oldInfo meanwhile is replaced below.
	info := refreshPodInfo(oldInfo, pod)
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.pods[pod.UID]; ok {
		c.removeLocked(pod.UID, old)
	}
	c.addLocked(info, false)
}

// RemovePod forgets a pod (deleted, or finished so it holds nothing).
func (c *Cache) RemovePod(pod *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.pods[pod.UID]; ok {
		c.removeLocked(pod.UID, old)
	}
}

// AssumePod counts pod (whose spec.nodeName is set to the chosen node) as
// bound before the API confirms it. It fails if the cache already has the
// pod.
func (c *Cache) AssumePod(pod *corev1.Pod) error {
	return c.assume(pod, nil)
}

// assume is AssumePod with the PodInfo of an older object of pod (nil
// for none), whose computations it reuses when they still hold.
func (c *Cache) assume(pod *corev1.Pod, old *PodInfo) error {
	if pod.Spec.NodeName == "" {
		return fmt.Errorf("scheduler: assuming pod %s/%s without a node", pod.Namespace, pod.Name)
	}
	info := refreshPodInfo(old, pod)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pods[pod.UID]; ok {
		return fmt.Errorf("scheduler: pod %s/%s is already in the cache", pod.Namespace, pod.Name)
	}
	c.addLocked(info, true)
	return nil
}

// ForgetPod drops an assumed pod whose binding failed. A pod the informer
// has confirmed meanwhile is kept.
func (c *Cache) ForgetPod(pod *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.pods[pod.UID]; ok && old.assumed {
		c.removeLocked(pod.UID, old)
	}
}

// IsAssumed tells whether pod is in the cache only as assumed.
func (c *Cache) IsAssumed(pod *corev1.Pod) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.pods[pod.UID]
	return ok && p.assumed
}

// Snapshot returns the nodes as they are now. It costs one copy of a
// slice of pointers unless nodes came or went.
func (c *Cache) Snapshot() *Snapshot {
	s := &Snapshot{}
	c.SnapshotInto(s)
	return s
}

// SnapshotInto sets s to the nodes as they are now, reusing the room s
// has: a caller that takes a snapshot per decision and drops it before the
// next (the decision loop) allocates nothing once it has room for every
// node.
func (c *Cache) SnapshotInto(s *Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.list == nil {
		c.rebuildListLocked()
	}
	clear(s.nodes) // what no longer fits holds no NodeInfo alive
	s.nodes = append(s.nodes[:0], c.list...)
	s.affinityPods, s.antiAffinityPods = c.affinityPods, c.antiAffinityPods
}

func (c *Cache) rebuildListLocked() {
	c.list = make([]*NodeInfo, 0, len(c.nodes))
	for _, ni := range c.nodes {
		if ni.node != nil {
			c.list = append(c.list, ni)
		}
	}
	sort.Slice(c.list, func(i, j int) bool { return c.list[i].node.Name < c.list[j].node.Name })
	c.index = make(map[string]int, len(c.list))
	for i, ni := range c.list {
		c.index[ni.node.Name] = i
	}
}

// store publishes ni as the NodeInfo of name; membersChanged says the
// set of nodes with an object changed.
func (c *Cache) store(name string, ni *NodeInfo, membersChanged bool) {
	c.nodes[name] = ni
	if membersChanged {
		c.list, c.index = nil, nil
		return
	}
	if i, ok := c.index[name]; ok && c.list != nil {
		c.list[i] = ni
	}
}

func (c *Cache) addLocked(info *PodInfo, assumed bool) {
	name := info.Pod.Spec.NodeName
	ni, ok := c.nodes[name]
	if ok {
		ni = ni.clone()
	} else {
		ni = &NodeInfo{}
	}
	ni.addPod(info)
	c.store(name, ni, false)
	c.pods[info.Pod.UID] = &cachedPod{info: info, node: name, assumed: assumed}
	c.countAffinity(info, 1)
}

// countAffinity adds sign to the affinity counters for info.
func (c *Cache) countAffinity(info *PodInfo, sign int) {
	if info.hasAffinityTerms() {
		c.affinityPods += sign
	}
	if len(info.requiredAntiAffinity) > 0 {
		c.antiAffinityPods += sign
	}
}

func (c *Cache) removeLocked(uid types.UID, p *cachedPod) {
	delete(c.pods, uid)
	c.countAffinity(p.info, -1)
	ni, ok := c.nodes[p.node]
	if !ok {
		return
	}
	ni = ni.clone()
	ni.removePod(uid)
	if ni.node == nil && len(ni.pods) == 0 {
		delete(c.nodes, p.node)
		return
	}
	c.store(p.node, ni, false)
}
