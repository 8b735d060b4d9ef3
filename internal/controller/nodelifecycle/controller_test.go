package nodelifecycle

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

func TestEvictionTime(t *testing.T) {
	added := t0.Add(-10 * time.Second)
	seen := t0
	tests := []struct {
		name        string
		tolerations []corev1.Toleration
		taints      []corev1.Taint
		wantForever bool
		wantAt      time.Time
	}{
		{name: "no taints", wantForever: true},
		{
			name:   "untolerated taint: at once",
			taints: []corev1.Taint{noExecute("example.com/maintenance", &added)},
			wantAt: seen,
		},
		{
			name:        "toleration seconds count from timeAdded",
			tolerations: []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, ptr.To[int64](300))},
			taints:      []corev1.Taint{noExecute(corev1.TaintNodeUnreachable, &added)},
			wantAt:      added.Add(300 * time.Second),
		},
		{
			name:        "without timeAdded from first sight",
			tolerations: []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, ptr.To[int64](30))},
			taints:      []corev1.Taint{noExecute(corev1.TaintNodeUnreachable, nil)},
			wantAt:      seen.Add(30 * time.Second),
		},
		{
			name:        "no seconds: forever",
			tolerations: []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, nil)},
			taints:      []corev1.Taint{noExecute(corev1.TaintNodeUnreachable, &added)},
			wantForever: true,
		},
		{
			name:        "the shortest toleration wins",
			tolerations: []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, ptr.To[int64](300)), tolerate(corev1.TaintNodeNotReady, ptr.To[int64](20))},
			taints:      []corev1.Taint{noExecute(corev1.TaintNodeUnreachable, &added), noExecute(corev1.TaintNodeNotReady, &added)},
			wantAt:      added.Add(20 * time.Second),
		},
		{
			name:        "one untolerated taint among tolerated ones",
			tolerations: []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, nil)},
			taints:      []corev1.Taint{noExecute(corev1.TaintNodeUnreachable, &added), noExecute("example.com/drain", &added)},
			wantAt:      seen,
		},
		{
			name:        "negative seconds are zero",
			tolerations: []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, ptr.To[int64](-5))},
			taints:      []corev1.Taint{noExecute(corev1.TaintNodeUnreachable, &added)},
			wantAt:      added,
		},
		{
			name:        "an empty-key Exists toleration tolerates everything",
			tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			taints:      []corev1.Taint{noExecute("example.com/drain", &added)},
			wantForever: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := podOn("p", "n", tc.tolerations...)
			at, forever := evictionTime(klog.Background(), pod, tc.taints, seen)
			if forever != tc.wantForever {
				t.Fatalf("forever = %v, want %v", forever, tc.wantForever)
			}
			if !forever && !at.Equal(tc.wantAt) {
				t.Errorf("at = %v, want %v", at, tc.wantAt)
			}
		})
	}
}

func TestDesiredTaints(t *testing.T) {
	now := metav1.NewTime(t0)
	earlier := metav1.NewTime(t0.Add(-time.Minute))
	withReady := func(status corev1.ConditionStatus, taints ...corev1.Taint) *corev1.Node {
		n := readyNode("n", t0)
		n.Status.Conditions[0].Status = status
		n.Spec.Taints = taints
		return n
	}
	tests := []struct {
		name string
		node *corev1.Node
		want []corev1.Taint
	}{
		{
			name: "ready node loses the not-ready taint it registered with",
			node: withReady(corev1.ConditionTrue, corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule}),
		},
		{
			name: "unknown node is unreachable",
			node: withReady(corev1.ConditionUnknown),
			want: []corev1.Taint{
				{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule},
				{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &now},
			},
		},
		{
			name: "not ready node, existing taints keep their time, others' taints stay",
			node: withReady(corev1.ConditionFalse,
				corev1.Taint{Key: "example.com/gpu", Effect: corev1.TaintEffectNoSchedule},
				corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute, TimeAdded: &earlier},
				corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &earlier}),
			want: []corev1.Taint{
				{Key: "example.com/gpu", Effect: corev1.TaintEffectNoSchedule},
				{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule},
				{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute, TimeAdded: &earlier},
			},
		},
		{
			name: "pressure and unschedulable",
			node: func() *corev1.Node {
				n := withReady(corev1.ConditionTrue)
				n.Status.Conditions[1].Status = corev1.ConditionTrue
				n.Spec.Unschedulable = true
				return n
			}(),
			want: []corev1.Taint{
				{Key: corev1.TaintNodeMemoryPressure, Effect: corev1.TaintEffectNoSchedule},
				{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := desiredTaints(tc.node, now)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("taints (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSyncTaintsWritesNode(t *testing.T) {
	node := readyNode("n", t0)
	node.Status.Conditions[0].Status = corev1.ConditionUnknown
	f := newFixture(t, []*corev1.Node{node}, nil, nil)
	if err := f.controller.syncTaints(context.Background(), "n"); err != nil {
		t.Fatal(err)
	}
	actions := f.client.Actions()
	if len(actions) != 1 || !actions[0].Matches("update", "nodes") {
		t.Fatalf("actions = %v, want one node update", actions)
	}
	updated := actions[0].(clienttesting.UpdateAction).GetObject().(*corev1.Node)
	if len(noExecuteTaints(updated.Spec.Taints)) != 1 || updated.Spec.Taints[1].Key != corev1.TaintNodeUnreachable {
		t.Errorf("taints = %+v, want unreachable NoSchedule and NoExecute", updated.Spec.Taints)
	}

	// Up to date: no write.
	f = newFixture(t, []*corev1.Node{updated}, nil, nil)
	if err := f.controller.syncTaints(context.Background(), "n"); err != nil {
		t.Fatal(err)
	}
	if actions := f.client.Actions(); len(actions) != 0 {
		t.Errorf("actions = %v, want none", actions)
	}
}

func TestMonitorMarksSilentNodeUnknown(t *testing.T) {
	node := readyNode("n", t0)
	ready := podOn("web", "n")
	f := newFixture(t, []*corev1.Node{node}, nil, []*corev1.Pod{ready, podOn("elsewhere", "other")})
	ctx := context.Background()

	// First sight, then 39 s of silence: nothing happens.
	if err := f.controller.monitor(ctx); err != nil {
		t.Fatal(err)
	}
	f.clock.Step(39 * time.Second)
	if err := f.controller.monitor(ctx); err != nil {
		t.Fatal(err)
	}
	if actions := f.client.Actions(); len(actions) != 0 {
		t.Fatalf("actions within the grace period = %v, want none", actions)
	}

	// Past 40 s: the node is Unknown and its pod not ready.
	f.clock.Step(2 * time.Second)
	if err := f.controller.monitor(ctx); err != nil {
		t.Fatal(err)
	}
	var nodeUpdate *corev1.Node
	var podUpdates []string
	for _, action := range f.client.Actions() {
		switch {
		case action.Matches("update", "nodes") && action.GetSubresource() == "status":
			nodeUpdate = action.(clienttesting.UpdateAction).GetObject().(*corev1.Node)
		case action.Matches("update", "pods") && action.GetSubresource() == "status":
			p := action.(clienttesting.UpdateAction).GetObject().(*corev1.Pod)
			podUpdates = append(podUpdates, p.Name)
			if c := p.Status.Conditions[0]; c.Status != corev1.ConditionFalse {
				t.Errorf("pod %s Ready = %s, want False", p.Name, c.Status)
			}
		default:
			t.Errorf("unexpected action %v", action)
		}
	}
	if nodeUpdate == nil {
		t.Fatal("no node status update")
	}
	got := condition(nodeUpdate, corev1.NodeReady)
	want := corev1.NodeCondition{
		Type: corev1.NodeReady, Status: corev1.ConditionUnknown,
		Reason: "NodeStatusUnknown", Message: "Kubelet stopped posting node status.",
		LastHeartbeatTime: metav1.NewTime(t0), LastTransitionTime: metav1.NewTime(t0.Add(41 * time.Second)),
	}
	if diff := cmp.Diff(want, *got); diff != "" {
		t.Errorf("Ready condition (-want +got):\n%s", diff)
	}
	if c := condition(nodeUpdate, corev1.NodeDiskPressure); c == nil || c.Status != corev1.ConditionUnknown || c.Reason != "NodeStatusNeverUpdated" {
		t.Errorf("DiskPressure = %+v, want Unknown, never updated", c)
	}
	if diff := cmp.Diff([]string{"web"}, podUpdates); diff != "" {
		t.Errorf("pods marked not ready (-want +got):\n%s", diff)
	}
	wantEvents := []string{"Normal NodeNotReady Node n status is now: NodeNotReady", "Warning NodeNotReady Node is not ready"}
	if diff := cmp.Diff(wantEvents, f.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestMonitorLeaseKeepsNodeAlive(t *testing.T) {
	node := readyNode("n", t0)
	f := newFixture(t, []*corev1.Node{node}, nil, nil)
	ctx := context.Background()
	if err := f.controller.monitor(ctx); err != nil {
		t.Fatal(err)
	}
	// The status heartbeat never changes, but the Lease is renewed every
	// 10 s: the node stays as it is for minutes.
	for i := 1; i <= 12; i++ {
		f.clock.Step(10 * time.Second)
		f.put(t, f.leases, lease("n", f.clock.Now()))
		if err := f.controller.monitor(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if actions := f.client.Actions(); len(actions) != 0 {
		t.Fatalf("actions = %v, want none while the lease is renewed", actions)
	}
	// Renewals stop: 40 s later it is Unknown.
	f.clock.Step(41 * time.Second)
	if err := f.controller.monitor(ctx); err != nil {
		t.Fatal(err)
	}
	if actions := f.client.Actions(); len(actions) != 1 || !actions[0].Matches("update", "nodes") {
		t.Errorf("actions = %v, want the node status update", actions)
	}
}

func TestMonitorNodeThatNeverReported(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "new", CreationTimestamp: metav1.NewTime(t0)}}
	f := newFixture(t, []*corev1.Node{node}, nil, nil)
	ctx := context.Background()
	if err := f.controller.monitor(ctx); err != nil {
		t.Fatal(err)
	}
	f.clock.Step(50 * time.Second) // past the grace period, within the startup grace period
	if err := f.controller.monitor(ctx); err != nil {
		t.Fatal(err)
	}
	if actions := f.client.Actions(); len(actions) != 0 {
		t.Fatalf("actions within the startup grace period = %v, want none", actions)
	}
	f.clock.Step(11 * time.Second)
	if err := f.controller.monitor(ctx); err != nil {
		t.Fatal(err)
	}
	actions := f.client.Actions()
	if len(actions) != 1 {
		t.Fatalf("actions = %v, want one node status update", actions)
	}
	updated := actions[0].(clienttesting.UpdateAction).GetObject().(*corev1.Node)
	if c := condition(updated, corev1.NodeReady); c == nil || c.Status != corev1.ConditionUnknown || c.Message != "Kubelet never posted node status." {
		t.Errorf("Ready = %+v, want Unknown, never posted", c)
	}
	if events := f.events(); len(events) != 0 {
		t.Errorf("events = %v, want none (the node was never ready)", events)
	}
}

func TestSyncEviction(t *testing.T) {
	added := t0
	unreachable := func() *corev1.Node {
		n := readyNode("n", t0)
		n.Status.Conditions[0].Status = corev1.ConditionUnknown
		n.Spec.Taints = []corev1.Taint{noExecute(corev1.TaintNodeUnreachable, &added)}
		return n
	}
	tests := []struct {
		name       string
		node       *corev1.Node
		pod        *corev1.Pod
		after      time.Duration
		wantEvict  bool
		wantQueued bool
	}{
		{
			name:       "within the toleration: waits",
			node:       unreachable(),
			pod:        podOn("p", "n", tolerate(corev1.TaintNodeUnreachable, ptr.To[int64](300))),
			after:      10 * time.Second,
			wantQueued: true,
		},
		{
			name:      "toleration run out: evicted",
			node:      unreachable(),
			pod:       podOn("p", "n", tolerate(corev1.TaintNodeUnreachable, ptr.To[int64](300))),
			after:     301 * time.Second,
			wantEvict: true,
		},
		{
			name:      "no matching toleration: evicted at once",
			node:      unreachable(),
			pod:       podOn("p", "n", tolerate(corev1.TaintNodeNotReady, ptr.To[int64](300))),
			wantEvict: true,
		},
		{
			name:  "tolerated forever",
			node:  unreachable(),
			pod:   podOn("p", "n", tolerate(corev1.TaintNodeUnreachable, nil)),
			after: time.Hour,
		},
		{
			name: "healthy node",
			node: readyNode("n", t0),
			pod:  podOn("p", "n"),
		},
		{
			name: "terminating pod is left alone",
			node: unreachable(),
			pod: func() *corev1.Pod {
				p := podOn("p", "n")
				p.DeletionTimestamp = &metav1.Time{Time: t0}
				return p
			}(),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, []*corev1.Node{tc.node}, nil, []*corev1.Pod{tc.pod})
			f.clock.Step(tc.after)
			if err := f.controller.syncEviction(context.Background(), "ns/p"); err != nil {
				t.Fatal(err)
			}
			var evicted bool
			for _, action := range f.client.Actions() {
				switch {
				case action.Matches("update", "pods") && action.GetSubresource() == "status":
					p := action.(clienttesting.UpdateAction).GetObject().(*corev1.Pod)
					c := p.Status.Conditions[len(p.Status.Conditions)-1]
					if c.Type != corev1.DisruptionTarget || c.Reason != "DeletionByTaintManager" {
						t.Errorf("condition = %+v, want DisruptionTarget by the taint manager", c)
					}
				case action.Matches("delete", "pods"):
					evicted = true
				default:
					t.Errorf("unexpected action %v", action)
				}
			}
			if evicted != tc.wantEvict {
				t.Errorf("evicted = %v, want %v", evicted, tc.wantEvict)
			}
			f.controller.mu.Lock()
			_, queued := f.controller.scheduled["ns/p"]
			f.controller.mu.Unlock()
			if queued != tc.wantQueued {
				t.Errorf("scheduled = %v, want %v", queued, tc.wantQueued)
			}
			if tc.wantEvict {
				if diff := cmp.Diff([]string{"Normal TaintManagerEviction Marking for deletion Pod ns/p"}, f.events()); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestSyncEvictionCancelled(t *testing.T) {
	added := t0
	node := readyNode("n", t0)
	node.Spec.Taints = []corev1.Taint{noExecute(corev1.TaintNodeUnreachable, &added)}
	pod := podOn("p", "n", tolerate(corev1.TaintNodeUnreachable, ptr.To[int64](300)))
	f := newFixture(t, []*corev1.Node{node}, nil, []*corev1.Pod{pod})
	ctx := context.Background()
	if err := f.controller.syncEviction(ctx, "ns/p"); err != nil {
		t.Fatal(err)
	}
	// The node comes back: the taint goes before the toleration runs out.
	healthy := node.DeepCopy()
	healthy.Spec.Taints = nil
	f.put(t, f.nodes, healthy)
	f.clock.Step(time.Minute)
	if err := f.controller.syncEviction(ctx, "ns/p"); err != nil {
		t.Fatal(err)
	}
	if actions := f.client.Actions(); len(actions) != 0 {
		t.Errorf("actions = %v, want none", actions)
	}
	if diff := cmp.Diff([]string{"Normal TaintManagerEviction Cancelling deletion of Pod ns/p"}, f.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}
