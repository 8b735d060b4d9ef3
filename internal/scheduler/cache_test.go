package scheduler

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

// snapshotCPU renders a snapshot as node -> requested milli-cpu / pods.
func snapshotCPU(s *Snapshot) map[string][2]int64 {
	out := map[string][2]int64{}
	for _, ni := range s.Nodes() {
		out[ni.Node().Name] = [2]int64{ni.Requested().MilliCPU, int64(len(ni.Pods()))}
	}
	return out
}

func TestCache(t *testing.T) {
	nodeA, nodeB := makeNode("a"), makeNode("b")
	pod := makePod("p", requests("500m", ""), onNode("a"))
	unbound := makePod("p", requests("500m", ""))
	unbound.UID = pod.UID
	movedPod := pod.DeepCopy()
	movedPod.Spec.NodeName = "b"
	other := makePod("q", requests("1", ""), onNode("a"))

	tests := []struct {
		name string
		ops  func(c *Cache)
		want map[string][2]int64
	}{
		{
			name: "assumed pod counts",
			ops: func(c *Cache) {
				c.SetNode(nodeA)
				mustAssume(t, c, pod)
			},
			want: map[string][2]int64{"a": {500, 1}},
		},
		{
			name: "confirmed assumed pod counts once",
			ops: func(c *Cache) {
				c.SetNode(nodeA)
				mustAssume(t, c, pod)
				c.SetPod(pod)
			},
			want: map[string][2]int64{"a": {500, 1}},
		},
		{
			name: "forgotten assumed pod is gone",
			ops: func(c *Cache) {
				c.SetNode(nodeA)
				mustAssume(t, c, pod)
				c.ForgetPod(pod)
			},
			want: map[string][2]int64{"a": {0, 0}},
		},
		{
			name: "forget after confirmation keeps the pod",
			ops: func(c *Cache) {
				c.SetNode(nodeA)
				mustAssume(t, c, pod)
				c.SetPod(pod)
				c.ForgetPod(pod)
			},
			want: map[string][2]int64{"a": {500, 1}},
		},
		{
			name: "pod confirmed on another node than assumed moves",
			ops: func(c *Cache) {
				c.SetNode(nodeA)
				c.SetNode(nodeB)
				mustAssume(t, c, pod)
				c.SetPod(movedPod)
			},
			want: map[string][2]int64{"a": {0, 0}, "b": {500, 1}},
		},
		{
			name: "removed pod frees its node",
			ops: func(c *Cache) {
				c.SetNode(nodeA)
				c.SetPod(pod)
				c.SetPod(other)
				c.RemovePod(pod)
			},
			want: map[string][2]int64{"a": {1000, 1}},
		},
		{
			name: "pods before their node, node removed and back",
			ops: func(c *Cache) {
				c.SetPod(pod)
				if got := len(c.Snapshot().Nodes()); got != 0 {
					t.Errorf("snapshot without node objects: got %d nodes, want 0", got)
				}
				c.SetNode(nodeA)
				c.RemoveNode("a")
				if got := len(c.Snapshot().Nodes()); got != 0 {
					t.Errorf("snapshot after node removal: got %d nodes, want 0", got)
				}
				c.SetNode(nodeA)
			},
			want: map[string][2]int64{"a": {500, 1}},
		},
		{
			name: "pods without a node are ignored",
			ops: func(c *Cache) {
				c.SetNode(nodeA)
				c.SetPod(unbound)
			},
			want: map[string][2]int64{"a": {0, 0}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCache()
			tc.ops(c)
			if diff := cmp.Diff(tc.want, snapshotCPU(c.Snapshot())); diff != "" {
				t.Errorf("snapshot (-want +got):\n%s", diff)
			}
		})
	}
}

func mustAssume(t *testing.T, c *Cache, pod *corev1.Pod) {
	t.Helper()
	if err := c.AssumePod(pod); err != nil {
		t.Fatalf("AssumePod: %v", err)
	}
}

func TestCacheAssumeTwiceFails(t *testing.T) {
	c := NewCache()
	c.SetNode(makeNode("a"))
	pod := makePod("p", onNode("a"))
	mustAssume(t, c, pod)
	if err := c.AssumePod(pod); err == nil {
		t.Errorf("second AssumePod: got nil error, want one")
	}
	if err := c.AssumePod(makePod("unbound")); err == nil {
		t.Errorf("AssumePod without a node: got nil error, want one")
	}
	if !c.IsAssumed(pod) {
		t.Errorf("IsAssumed: got false, want true")
	}
}

// TestCacheSnapshotsDoNotChange checks the copy-on-write contract: a
// snapshot keeps what it saw while the cache moves on.
func TestCacheSnapshotsDoNotChange(t *testing.T) {
	c := NewCache()
	c.SetNode(makeNode("a"))
	before := c.Snapshot()
	c.SetPod(makePod("p", requests("1", ""), onNode("a")))
	c.SetNode(makeNode("b"))
	after := c.Snapshot()
	if diff := cmp.Diff(map[string][2]int64{"a": {0, 0}}, snapshotCPU(before)); diff != "" {
		t.Errorf("old snapshot changed (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string][2]int64{"a": {1000, 1}, "b": {0, 0}}, snapshotCPU(after)); diff != "" {
		t.Errorf("new snapshot (-want +got):\n%s", diff)
	}
}

// TestCacheCountsAffinityPods checks the counters that let the
// inter-pod affinity plugin skip its scans, through a real decision: a
// bound pod's anti-affinity must still reject a matching pod.
func TestCacheCountsAffinityPods(t *testing.T) {
	c := NewCache()
	c.SetNode(makeNode("a"))
	loner := makePod("loner", onNode("a"), requiredAntiAffinity(podAffinityTerm("app", "web", corev1.LabelHostname)))
	plain := makePod("plain", onNode("a"))
	c.SetPod(loner)
	c.SetPod(plain)
	withTerms, anti := c.Snapshot().podsWithAffinity()
	if withTerms != 1 || anti != 1 {
		t.Errorf("after adding: got %d with terms, %d with required anti-affinity; want 1, 1", withTerms, anti)
	}
	state := &memState{Snapshot: c.Snapshot(), c: &cluster{}}
	r := DefaultProfile().Schedule(makePod("web", podLabels("app", "web")), state, 0)
	if r.Err == nil {
		t.Errorf("web pod: got node %q, want the bound pod's anti-affinity to reject it", r.Node)
	}
	c.RemovePod(loner)
	withTerms, anti = c.Snapshot().podsWithAffinity()
	if withTerms != 0 || anti != 0 {
		t.Errorf("after removing: got %d with terms, %d with required anti-affinity; want 0, 0", withTerms, anti)
	}
	state = &memState{Snapshot: c.Snapshot(), c: &cluster{}}
	if r := DefaultProfile().Schedule(makePod("web", podLabels("app", "web")), state, 0); r.Node != "a" {
		t.Errorf("web pod after the loner left: got %s (%v), want a", r.Node, r.Err)
	}
}

// TestSnapshotIntoReuses checks that a reused snapshot shows the nodes of
// the moment, in the room it had, and keeps no node that left.
func TestSnapshotIntoReuses(t *testing.T) {
	c := NewCache()
	c.SetNode(makeNode("a"))
	c.SetNode(makeNode("b"))
	var s Snapshot
	c.SnapshotInto(&s)
	if got := nodeNames(s.Nodes()); got != "a,b" {
		t.Fatalf("first snapshot: %s, want a,b", got)
	}
	room := &s.nodes[:cap(s.nodes)][0]
	c.RemoveNode("b")
	c.SnapshotInto(&s)
	if got := nodeNames(s.Nodes()); got != "a" {
		t.Errorf("after b left: %s, want a", got)
	}
	if &s.nodes[:cap(s.nodes)][0] != room {
		t.Errorf("the snapshot's room was not reused")
	}
	if left := s.nodes[:2][1]; left != nil {
		t.Errorf("the room past the nodes still holds %s", left.Node().Name)
	}
}

func nodeNames(nodes []*NodeInfo) string {
	var names []string
	for _, ni := range nodes {
		names = append(names, ni.Node().Name)
	}
	return strings.Join(names, ",")
}
