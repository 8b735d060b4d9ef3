package scheduler

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestScheduleFilters drives one decision per case and compares the chosen
// node, or the FailedScheduling message, with what upstream produces.
func TestScheduleFilters(t *testing.T) {
	boundClaim := makeClaim("data", "local", "pv-b")
	wffc := makeClass("local-path", "navarch.io/local-path", storagev1.VolumeBindingWaitForFirstConsumer)
	staticOnly := makeClass("local", "kubernetes.io/no-provisioner", storagev1.VolumeBindingWaitForFirstConsumer)
	immediate := makeClass("fast", "example.com/fast", storagev1.VolumeBindingImmediate)
	pinned := makeClaim("pinned", "local-path", "")
	pinned.Annotations = map[string]string{AnnSelectedNode: "b"}

	tests := []struct {
		name    string
		cluster cluster
		pod     *corev1.Pod
		want    string
	}{
		{
			name:    "fits the only node",
			cluster: cluster{nodes: []*corev1.Node{makeNode("a")}},
			pod:     makePod("p", requests("1", "1Gi")),
			want:    "a",
		},
		{
			name: "upstream's example message: taint and insufficient cpu",
			cluster: cluster{nodes: []*corev1.Node{
				makeNode("a", withTaint("dedicated", "gpu", corev1.TaintEffectNoSchedule)),
				makeNode("b", withAllocatable("1", "8Gi", "110")),
				makeNode("c", withAllocatable("1", "8Gi", "110")),
			}},
			pod: makePod("p", requests("2", "")),
			want: "error: 0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu. " +
				"preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.",
		},
		{
			name: "toleration admits the tainted node",
			cluster: cluster{nodes: []*corev1.Node{
				makeNode("a", withTaint("dedicated", "gpu", corev1.TaintEffectNoSchedule)),
				makeNode("b", withAllocatable("1", "8Gi", "110")),
			}},
			pod:  makePod("p", requests("2", ""), toleration("dedicated", "gpu", corev1.TaintEffectNoSchedule)),
			want: "a",
		},
		{
			name: "NoExecute taints reject too, PreferNoSchedule does not",
			cluster: cluster{nodes: []*corev1.Node{
				makeNode("a", withTaint("k", "", corev1.TaintEffectNoExecute)),
				makeNode("b", withTaint("k", "", corev1.TaintEffectPreferNoSchedule)),
			}},
			pod:  makePod("p"),
			want: "b",
		},
		{
			name: "cpu and memory both short, and resources counted from bound pods",
			cluster: cluster{
				nodes: []*corev1.Node{makeNode("a", withAllocatable("2", "2Gi", "110"))},
				pods:  []*corev1.Pod{makePod("big", onNode("a"), requests("1500m", "1536Mi"))},
			},
			pod: makePod("p", requests("1", "1Gi")),
			want: "error: 0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory. " +
				"preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
		},
		{
			name: "pod count",
			cluster: cluster{
				nodes: []*corev1.Node{makeNode("a", withAllocatable("4", "8Gi", "1"))},
				pods:  []*corev1.Pod{makePod("other", onNode("a"))},
			},
			pod: makePod("p"),
			want: "error: 0/1 nodes are available: 1 Too many pods. " +
				"preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
		},
		{
			name: "cordoned node is skipped",
			cluster: cluster{nodes: []*corev1.Node{
				makeNode("a", cordoned),
				makeNode("b"),
			}},
			pod:  makePod("p"),
			want: "b",
		},
		{
			name:    "cordoned node message",
			cluster: cluster{nodes: []*corev1.Node{makeNode("a", cordoned)}},
			pod:     makePod("p"),
			want: "error: 0/1 nodes are available: 1 node(s) were unschedulable. " +
				"preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
		},
		{
			name: "not ready and unknown nodes count as tainted",
			cluster: cluster{nodes: []*corev1.Node{
				makeNode("a", withReady(corev1.ConditionFalse)),
				makeNode("b", withReady(corev1.ConditionUnknown)),
			}},
			pod: makePod("p"),
			want: "error: 0/2 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, " +
				"1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }. " +
				"preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
		},
		{
			name: "a pod tolerating everything goes to a node that is not ready",
			cluster: cluster{nodes: []*corev1.Node{
				makeNode("a", withReady(corev1.ConditionFalse)),
			}},
			pod: makePod("cni", func(p *corev1.Pod) {
				p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
			}),
			want: "a",
		},
		{
			name: "nodeSelector",
			cluster: cluster{nodes: []*corev1.Node{
				makeNode("a"), makeNode("b", withNodeLabel("disk", "ssd")),
			}},
			pod:  makePod("p", nodeSelector("disk", "ssd")),
			want: "b",
		},
		{
			name:    "nodeSelector message",
			cluster: cluster{nodes: []*corev1.Node{makeNode("a"), makeNode("b")}},
			pod:     makePod("p", nodeSelector("disk", "ssd")),
			want: "error: 0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. " +
				"preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
		},
		{
			name: "required node affinity",
			cluster: cluster{nodes: []*corev1.Node{
				makeNode("a", withNodeLabel("zone", "x")), makeNode("b", withNodeLabel("zone", "y")),
			}},
			pod:  makePod("p", nodeAffinityRequired("zone", "y")),
			want: "b",
		},
		{
			name: "host port taken",
			cluster: cluster{
				nodes: []*corev1.Node{makeNode("a"), makeNode("b")},
				pods:  []*corev1.Pod{makePod("web", onNode("a"), withHostPort(8080))},
			},
			pod:  makePod("p", withHostPort(8080)),
			want: "b",
		},
		{
			name: "host port message",
			cluster: cluster{
				nodes: []*corev1.Node{makeNode("a")},
				pods:  []*corev1.Pod{makePod("web", onNode("a"), withHostPort(8080))},
			},
			pod: makePod("p", withHostPort(8080)),
			want: "error: 0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports. " +
				"preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
		},
		{
			name: "anti-affinity by hostname avoids the node with a matching pod",
			cluster: cluster{
				nodes: []*corev1.Node{makeNode("a"), makeNode("b")},
				pods:  []*corev1.Pod{makePod("web-1", onNode("a"), podLabels("app", "web"))},
			},
			pod:  makePod("web-2", podLabels("app", "web"), requiredAntiAffinity(podAffinityTerm("app", "web", corev1.LabelHostname))),
			want: "b",
		},
		{
			name: "anti-affinity message",
			cluster: cluster{
				nodes: []*corev1.Node{makeNode("a")},
				pods:  []*corev1.Pod{makePod("web-1", onNode("a"), podLabels("app", "web"))},
			},
			pod: makePod("web-2", podLabels("app", "web"), requiredAntiAffinity(podAffinityTerm("app", "web", corev1.LabelHostname))),
			want: "error: 0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules. " +
				"preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
		},
		{
			name: "a bound pod's anti-affinity keeps matching pods away",
			cluster: cluster{
				nodes: []*corev1.Node{makeNode("a")},
				pods: []*corev1.Pod{makePod("loner", onNode("a"),
					requiredAntiAffinity(podAffinityTerm("app", "web", corev1.LabelHostname)))},
			},
			pod: makePod("web", podLabels("app", "web")),
			want: "error: 0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules. " +
				"preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
		},
		{
			name: "affinity follows the matching pod",
			cluster: cluster{
				nodes: []*corev1.Node{makeNode("a"), makeNode("b"), makeNode("c")},
				pods:  []*corev1.Pod{makePod("db", onNode("b"), podLabels("app", "db"))},
			},
			pod:  makePod("web", requiredAffinity(podAffinityTerm("app", "db", corev1.LabelHostname))),
			want: "b",
		},
		{
			name:    "affinity without a matching pod",
			cluster: cluster{nodes: []*corev1.Node{makeNode("a"), makeNode("b")}},
			pod:     makePod("web", requiredAffinity(podAffinityTerm("app", "db", corev1.LabelHostname))),
			want: "error: 0/2 nodes are available: 2 node(s) didn't match pod affinity rules. " +
				"preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
		},
		{
			name:    "the first pod of a self-affine group goes anywhere",
			cluster: cluster{nodes: []*corev1.Node{makeNode("a")}},
			pod:     makePod("web", podLabels("app", "web"), requiredAffinity(podAffinityTerm("app", "web", corev1.LabelHostname))),
			want:    "a",
		},
		{
			name: "affinity in another namespace does not count",
			cluster: cluster{
				nodes: []*corev1.Node{makeNode("a")},
				pods: []*corev1.Pod{makePod("db", onNode("a"), podLabels("app", "db"), func(p *corev1.Pod) {
					p.Namespace = "other"
				})},
			},
			pod: makePod("web", requiredAffinity(podAffinityTerm("app", "db", corev1.LabelHostname))),
			want: "error: 0/1 nodes are available: 1 node(s) didn't match pod affinity rules. " +
				"preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
		},
		{
			name:    "missing claim rejects before any node",
			cluster: cluster{nodes: []*corev1.Node{makeNode("a"), makeNode("b")}},
			pod:     makePod("p", claimVolume("data")),
			want: `error: 0/2 nodes are available: persistentvolumeclaim "data" not found. ` +
				"preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
		},
		{
			name: "bound local volume pins the pod to its node",
			cluster: cluster{
				nodes:   []*corev1.Node{makeNode("a"), makeNode("b")},
				claims:  []*corev1.PersistentVolumeClaim{boundClaim},
				volumes: []*corev1.PersistentVolume{localVolume("pv-b", "local", "b", boundClaim)},
			},
			pod:  makePod("p", claimVolume("data")),
			want: "b",
		},
		{
			name: "bound local volume on a node that does not fit",
			cluster: cluster{
				nodes:   []*corev1.Node{makeNode("a"), makeNode("b", withAllocatable("1", "1Gi", "110"))},
				claims:  []*corev1.PersistentVolumeClaim{boundClaim},
				volumes: []*corev1.PersistentVolume{localVolume("pv-b", "local", "b", boundClaim)},
			},
			pod: makePod("p", claimVolume("data"), requests("2", "")),
			want: "error: 0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had volume node affinity conflict. " +
				"preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.",
		},
		{
			name: "claim bound to a missing volume",
			cluster: cluster{
				nodes:  []*corev1.Node{makeNode("a")},
				claims: []*corev1.PersistentVolumeClaim{boundClaim},
			},
			pod: makePod("p", claimVolume("data")),
			want: "error: 0/1 nodes are available: 1 node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s). " +
				"preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
		},
		{
			name: "unbound immediate claim",
			cluster: cluster{
				nodes:   []*corev1.Node{makeNode("a")},
				claims:  []*corev1.PersistentVolumeClaim{makeClaim("data", "fast", "")},
				classes: []*storagev1.StorageClass{immediate},
			},
			pod: makePod("p", claimVolume("data")),
			want: "error: 0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. " +
				"preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
		},
		{
			name: "unbound WaitForFirstConsumer claim: choose a node and ask for a volume there",
			cluster: cluster{
				nodes:   []*corev1.Node{makeNode("a")},
				claims:  []*corev1.PersistentVolumeClaim{makeClaim("data", "local-path", "")},
				classes: []*storagev1.StorageClass{wffc},
			},
			pod:  makePod("p", claimVolume("data")),
			want: "a (select node for [data])",
		},
		{
			name: "a claim without a class uses the default class",
			cluster: cluster{
				nodes:  []*corev1.Node{makeNode("a")},
				claims: []*corev1.PersistentVolumeClaim{makeClaim("data", "", "")},
				classes: []*storagev1.StorageClass{func() *storagev1.StorageClass {
					c := wffc.DeepCopy()
					c.Annotations = map[string]string{annDefaultStorageClass: "true"}
					return c
				}()},
			},
			pod:  makePod("p", claimVolume("data")),
			want: "a (select node for [data])",
		},
		{
			name: "static local volumes: only the node that has an available one",
			cluster: cluster{
				nodes:   []*corev1.Node{makeNode("a"), makeNode("b"), makeNode("c")},
				claims:  []*corev1.PersistentVolumeClaim{makeClaim("data", "local", "")},
				volumes: []*corev1.PersistentVolume{localVolume("pv-c", "local", "c", nil)},
				classes: []*storagev1.StorageClass{staticOnly},
			},
			pod:  makePod("p", claimVolume("data")),
			want: "c (select node for [data])",
		},
		{
			name: "static local volumes: none available",
			cluster: cluster{
				nodes:   []*corev1.Node{makeNode("a")},
				claims:  []*corev1.PersistentVolumeClaim{makeClaim("data", "local", "")},
				classes: []*storagev1.StorageClass{staticOnly},
			},
			pod: makePod("p", claimVolume("data")),
			want: "error: 0/1 nodes are available: 1 node(s) didn't find available persistent volumes to bind. " +
				"preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
		},
		{
			name: "a claim with a selected node keeps the pod there",
			cluster: cluster{
				nodes:   []*corev1.Node{makeNode("a"), makeNode("b"), makeNode("c")},
				claims:  []*corev1.PersistentVolumeClaim{pinned},
				classes: []*storagev1.StorageClass{wffc},
			},
			pod:  makePod("p", claimVolume("pinned")),
			want: "b (select node for [pinned])",
		},
		{
			name: "preemptionPolicy Never",
			cluster: cluster{nodes: []*corev1.Node{
				makeNode("a", withAllocatable("1", "8Gi", "110")),
			}},
			pod: makePod("p", requests("2", ""), func(p *corev1.Pod) {
				never := corev1.PreemptNever
				p.Spec.PreemptionPolicy = &never
			}),
			want: "error: 0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.",
		},
		{
			name:    "no nodes at all",
			cluster: cluster{},
			pod:     makePod("p"),
			want:    "error: no nodes available to schedule pods",
		},
		{
			name:    "extended resources",
			cluster: cluster{nodes: []*corev1.Node{makeNode("a")}},
			pod: makePod("p", func(p *corev1.Pod) {
				p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{"example.com/gpu": resource.MustParse("1")}
			}),
			want: "error: 0/1 nodes are available: 1 Insufficient example.com/gpu. " +
				"preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := resultString(DefaultProfile().Schedule(tc.pod, tc.cluster.state(), 0))
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestScheduleScores checks that scoring picks the node upstream's default
// plugins prefer among nodes that all fit.
func TestScheduleScores(t *testing.T) {
	tests := []struct {
		name    string
		cluster cluster
		pod     *corev1.Pod
		want    string
	}{
		{
			name: "least allocated",
			cluster: cluster{
				nodes: []*corev1.Node{makeNode("a"), makeNode("b")},
				pods:  []*corev1.Pod{makePod("busy", onNode("a"), requests("2", "4Gi"))},
			},
			pod:  makePod("p", requests("100m", "100Mi")),
			want: "b",
		},
		{
			name: "best-effort pods spread by their default requests",
			cluster: cluster{
				nodes: []*corev1.Node{makeNode("a"), makeNode("b")},
				pods:  []*corev1.Pod{makePod("x", onNode("a")), makePod("y", onNode("a"))},
			},
			pod:  makePod("p"),
			want: "b",
		},
		{
			name:    "preferred node affinity",
			cluster: cluster{nodes: []*corev1.Node{makeNode("a"), makeNode("b", withNodeLabel("disk", "ssd"))}},
			pod:     makePod("p", nodeAffinityPreferred(50, "disk", "ssd")),
			want:    "b",
		},
		{
			name: "pods of one owner spread across nodes",
			cluster: cluster{
				nodes: []*corev1.Node{makeNode("a"), makeNode("b", withAllocatable("1", "1Gi", "110"))},
				pods:  []*corev1.Pod{makePod("rs-1", onNode("a"), ownedBy("rs-uid"))},
			},
			// Node b is much smaller, so least-allocated alone would pick a.
			pod:  makePod("rs-2", ownedBy("rs-uid")),
			want: "b",
		},
		{
			name: "preferred pod affinity",
			cluster: cluster{
				nodes: []*corev1.Node{makeNode("a"), makeNode("b"), makeNode("c")},
				pods:  []*corev1.Pod{makePod("cache", onNode("c"), podLabels("app", "cache"))},
			},
			pod:  makePod("web", preferredAffinity(100, podAffinityTerm("app", "cache", corev1.LabelHostname))),
			want: "c",
		},
		{
			name: "PreferNoSchedule taint avoided",
			cluster: cluster{nodes: []*corev1.Node{
				makeNode("a", withTaint("spot", "true", corev1.TaintEffectPreferNoSchedule)), makeNode("b"),
			}},
			pod:  makePod("p"),
			want: "b",
		},
		{
			name: "zones spread pods of one owner",
			cluster: cluster{
				nodes: []*corev1.Node{
					makeNode("a1", withNodeLabel(corev1.LabelTopologyZone, "a")),
					makeNode("a2", withNodeLabel(corev1.LabelTopologyZone, "a")),
					makeNode("b1", withNodeLabel(corev1.LabelTopologyZone, "b")),
				},
				pods: []*corev1.Pod{makePod("rs-1", onNode("a1"), ownedBy("rs-uid"))},
			},
			pod:  makePod("rs-2", ownedBy("rs-uid")),
			want: "b1",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := resultString(DefaultProfile().Schedule(tc.pod, tc.cluster.state(), 0))
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// TestScheduleRotatesStart checks that among equal nodes the first one
// from the start index wins, so that rotating the start spreads pods.
func TestScheduleRotatesStart(t *testing.T) {
	c := cluster{nodes: []*corev1.Node{makeNode("a"), makeNode("b"), makeNode("c")}}
	state := c.state()
	for start, want := range []string{"a", "b", "c", "a"} {
		if r := DefaultProfile().Schedule(makePod("p"), state, start); r.Node != want {
			t.Errorf("start %d: got %s, want %s", start, r.Node, want)
		}
	}
}

func TestNumFeasibleNodesToFind(t *testing.T) {
	tests := []struct {
		name          string
		nodes, pct    int
		want          int
		wantEvaluated int
	}{
		{name: "small clusters: all", nodes: 50, want: 50},
		{name: "100 nodes adaptive", nodes: 100, want: 100},
		{name: "1000 nodes adaptive: 42%", nodes: 1000, want: 420},
		{name: "5000 nodes adaptive: 10%", nodes: 5000, want: 500},
		{name: "10000 nodes adaptive: floor 5%", nodes: 10000, want: 500},
		{name: "explicit 100%", nodes: 1000, pct: 100, want: 1000},
		{name: "explicit share, at least 100", nodes: 1000, pct: 1, want: 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := numFeasibleNodesToFind(tc.nodes, tc.pct); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}

// TestScheduleStopsAtEnoughFeasibleNodes checks the search bound on a
// large cluster, and that a pod no node fits is checked on every node.
func TestScheduleStopsAtEnoughFeasibleNodes(t *testing.T) {
	var nodes []*corev1.Node
	for i := 0; i < 1000; i++ {
		nodes = append(nodes, makeNode(nodeName(i)))
	}
	c := cluster{nodes: nodes}
	state := c.state()
	if r := DefaultProfile().Schedule(makePod("p"), state, 0); r.Evaluated != 420 || r.Feasible != 420 {
		t.Errorf("fitting pod: evaluated %d, feasible %d; want 420, 420", r.Evaluated, r.Feasible)
	}
	r := DefaultProfile().Schedule(makePod("p", requests("100", "")), state, 0)
	if r.Evaluated != 1000 {
		t.Errorf("unschedulable pod: evaluated %d, want 1000", r.Evaluated)
	}
	want := "0/1000 nodes are available: 1000 Insufficient cpu. preemption: 0/1000 nodes are available: 1000 No preemption victims found for incoming pod."
	if r.Err == nil || r.Err.Error() != want {
		t.Errorf("got %v, want %s", r.Err, want)
	}
}

func TestFitErrorHistogramSortsAsStrings(t *testing.T) {
	// Upstream sorts "count reason" strings, so 10 comes before 2.
	f := &FitError{NumAllNodes: 12, NodeStatuses: map[string]*Status{}}
	for i := 0; i < 10; i++ {
		f.NodeStatuses[nodeName(i)] = NewStatus(Unschedulable, "Insufficient cpu")
	}
	f.NodeStatuses["x"] = NewStatus(UnschedulableAndUnresolvable, "node(s) were unschedulable")
	f.NodeStatuses["y"] = NewStatus(UnschedulableAndUnresolvable, "node(s) were unschedulable")
	want := "0/12 nodes are available: 10 Insufficient cpu, 2 node(s) were unschedulable. " +
		"preemption: 0/12 nodes are available: 10 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling."
	if got := f.Error(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got, want := f.UnschedulablePlugins(), []string(nil); len(got) != 0 {
		t.Errorf("statuses without plugins: got %v, want %v", got, want)
	}
}

func TestFitErrorNamesRejectingPlugins(t *testing.T) {
	c := cluster{nodes: []*corev1.Node{
		makeNode("a", withTaint("k", "v", corev1.TaintEffectNoSchedule)),
		makeNode("b", withAllocatable("1", "1Gi", "110")),
	}}
	r := DefaultProfile().Schedule(makePod("p", requests("2", "")), c.state(), 0)
	fe, ok := r.Err.(*FitError)
	if !ok {
		t.Fatalf("got %v, want a *FitError", r.Err)
	}
	got := fe.UnschedulablePlugins()
	want := []string{nameNodeResourcesFit, nameTaintToleration}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestInvalidAffinitySelectorIsAnError(t *testing.T) {
	c := cluster{nodes: []*corev1.Node{makeNode("a")}}
	pod := makePod("p", requiredAffinity(corev1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Bogus"}}},
		TopologyKey:   corev1.LabelHostname,
	}))
	r := DefaultProfile().Schedule(pod, c.state(), 0)
	if r.Err == nil {
		t.Fatalf("got node %q, want an error", r.Node)
	}
	if _, isFit := r.Err.(*FitError); isFit {
		t.Errorf("got a FitError %q, want a plain error", r.Err)
	}
}

func nodeName(i int) string { return fmt.Sprintf("node-%04d", i) }

// BenchmarkSchedule1000Nodes times one decision on 1,000 nodes holding
// 10,000 pods (10 each), for a plain pod and for one with pod
// anti-affinity (which scans every bound pod).
func BenchmarkSchedule1000Nodes(b *testing.B) {
	var c cluster
	for i := 0; i < 1000; i++ {
		c.nodes = append(c.nodes, makeNode(nodeName(i)))
		for j := 0; j < 10; j++ {
			c.pods = append(c.pods, makePod(fmt.Sprintf("p-%d-%d", i, j), onNode(nodeName(i)),
				requests("100m", "64Mi"), ownedBy(fmt.Sprintf("8a3c5d3e-0f6b-4c1e-9d57-%012d", j)), podLabels("app", fmt.Sprintf("app-%d", j))))
		}
	}
	state := c.state()
	for _, bc := range []struct {
		name string
		pod  *corev1.Pod
	}{
		{name: "plain", pod: makePod("new", requests("100m", "64Mi"), ownedBy(fmt.Sprintf("8a3c5d3e-0f6b-4c1e-9d57-%012d", 1)))},
		{name: "anti-affinity", pod: makePod("new", requests("100m", "64Mi"), podLabels("app", "web"),
			requiredAntiAffinity(podAffinityTerm("app", "web", corev1.LabelHostname)))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			profile := DefaultProfile()
			info := NewPodInfo(bc.pod)
			start := 0
			b.ReportAllocs()
			for b.Loop() {
				r := profile.ScheduleInfo(info, state, start)
				if r.Err != nil {
					b.Fatalf("Schedule: %v", r.Err)
				}
				start = (start + r.Evaluated) % 1000
			}
		})
	}
}
