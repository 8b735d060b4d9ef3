package replicaset

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// queued waits up to deadline for key to be the one item ready in the
// queue and takes it out, reporting whether it came.
func queued(t *testing.T, c *Controller, key string, deadline time.Duration) bool {
	t.Helper()
	end := time.Now().Add(deadline)
	for c.queue.Len() == 0 {
		if time.Now().After(end) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	got, _ := c.queue.Get()
	c.queue.Done(got)
	if got != key {
		t.Fatalf("queued %q, want %q", got, key)
	}
	return true
}

func TestPodEventsBatchedByCountCost(t *testing.T) {
	rs := newRS("web", 2)
	pods := newPods(rs, 2, onNode)
	const key = "ns/web"
	running := func(p *corev1.Pod) *corev1.Pod {
		cur := p.DeepCopy()
		cur.ResourceVersion = "2"
		cur.Status.Phase = corev1.PodRunning
		return cur
	}

	t.Run("status change waits for the batch", func(t *testing.T) {
		f := newFixture(t, objects(rs, pods)...)
		f.controller.setCountCost(key, 6*time.Millisecond) // batch: 300ms
		start := time.Now()
		f.controller.updatePod(pods[0], running(pods[0]))
		f.controller.updatePod(pods[1], running(pods[1]))
		if n := f.controller.queue.Len(); n != 0 {
			t.Fatalf("queue length right after status changes = %d, want 0 (batched)", n)
		}
		if !queued(t, f.controller, key, 10*time.Second) {
			t.Fatal("status change never queued the ReplicaSet")
		}
		if waited := time.Since(start); waited < 250*time.Millisecond {
			t.Errorf("queued after %v, want about the 300ms batch", waited)
		}
		if queued(t, f.controller, key, 500*time.Millisecond) {
			t.Errorf("two status changes in one batch queued the ReplicaSet twice")
		}
	})

	t.Run("label change is queued at once", func(t *testing.T) {
		f := newFixture(t, objects(rs, pods)...)
		f.controller.setCountCost(key, time.Minute)
		cur := pods[0].DeepCopy()
		cur.ResourceVersion = "2"
		cur.Labels = map[string]string{"app": "other"}
		f.controller.updatePod(pods[0], cur)
		if n := f.controller.queue.Len(); n != 1 {
			t.Fatalf("queue length after a label change = %d, want 1", n)
		}
	})

	t.Run("create that fulfils expectations is queued at once", func(t *testing.T) {
		f := newFixture(t, rs)
		f.controller.setCountCost(key, time.Minute)
		f.controller.expectations.ExpectCreations(key, 2)
		f.controller.addPod(pods[0])
		if n := f.controller.queue.Len(); n != 0 {
			t.Fatalf("queue length after 1 of 2 expected creates = %d, want 0 (batched)", n)
		}
		f.controller.addPod(pods[1])
		if n := f.controller.queue.Len(); n != 1 {
			t.Fatalf("queue length after 2 of 2 expected creates = %d, want 1", n)
		}
	})

	t.Run("deletion by someone else is queued at once", func(t *testing.T) {
		f := newFixture(t, objects(rs, pods)...)
		f.controller.setCountCost(key, time.Minute)
		f.controller.deletePod(pods[0])
		if n := f.controller.queue.Len(); n != 1 {
			t.Fatalf("queue length after an unexpected deletion = %d, want 1", n)
		}
	})
}

func TestReplicaSetUpdatesBatchedWhenStatusOnly(t *testing.T) {
	const key = "ns/web"
	old := newRS("web", 2)
	old.ResourceVersion, old.Generation = "1", 1
	for _, tc := range []struct {
		name    string
		change  func(rs *appsv1.ReplicaSet)
		batched bool
	}{
		{"status", func(rs *appsv1.ReplicaSet) { rs.Status.ReadyReplicas = 2 }, true},
		{"spec (generation)", func(rs *appsv1.ReplicaSet) { rs.Spec.Replicas, rs.Generation = ptr.To[int32](3), 2 }, false},
		{"deletion", func(rs *appsv1.ReplicaSet) { rs.DeletionTimestamp = &metav1.Time{Time: time.Now()} }, false},
		{"labels", func(rs *appsv1.ReplicaSet) { rs.Labels = map[string]string{"tier": "web"} }, false},
		{"annotations", func(rs *appsv1.ReplicaSet) { rs.Annotations = map[string]string{"a": "b"} }, false},
		{"owner", func(rs *appsv1.ReplicaSet) {
			rs.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "d1"}}
		}, false},
		{"finalizers", func(rs *appsv1.ReplicaSet) { rs.Finalizers = []string{"foregroundDeletion"} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, old)
			f.controller.setCountCost(key, time.Minute) // batch: maxStatusBatch
			cur := old.DeepCopy()
			cur.ResourceVersion = "2"
			tc.change(cur)
			f.controller.updateReplicaSet(old, cur)
			if got, want := f.controller.queue.Len(), map[bool]int{true: 0, false: 1}[tc.batched]; got != want {
				t.Fatalf("queue length right after the update = %d, want %d (batched: %v)", got, want, tc.batched)
			}
			if tc.batched && !queued(t, f.controller, key, 10*time.Second) {
				t.Fatal("status change never queued the ReplicaSet")
			}
		})
	}
	t.Run("same resourceVersion", func(t *testing.T) {
		f := newFixture(t, old)
		f.controller.setCountCost(key, time.Minute)
		f.controller.updateReplicaSet(old, old.DeepCopy())
		if n := f.controller.queue.Len(); n != 1 {
			t.Fatalf("queue length after a resync = %d, want 1", n)
		}
	})
}

func TestStatusBatchBounds(t *testing.T) {
	f := newFixture(t, newRS("web", 1))
	for _, tc := range []struct {
		cost, want time.Duration
	}{
		{0, 0},
		{50 * time.Microsecond, 2500 * time.Microsecond},
		{10 * time.Millisecond, 500 * time.Millisecond},
		{time.Minute, maxStatusBatch},
	} {
		f.controller.setCountCost("ns/web", tc.cost)
		if got := f.controller.statusBatch("ns/web"); got != tc.want {
			t.Errorf("count of %v: batch %v, want %v", tc.cost, got, tc.want)
		}
	}
	f.controller.setCountCost("ns/web", -1)
	if _, kept := f.controller.countCost["ns/web"]; kept {
		t.Errorf("cost kept after the ReplicaSet is gone")
	}
}
