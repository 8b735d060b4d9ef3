package agent

import (
	"context"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/navarch/navarch/internal/agent/cri/fakecri"
)

func TestPodWorkersSyncAndEnd(t *testing.T) {
	var mu sync.Mutex
	syncs := map[types.UID]int{}
	done := make(chan types.UID, 10)
	workers := newPodWorkers(func(_ context.Context, uid types.UID) (syncResult, bool, error) {
		mu.Lock()
		defer mu.Unlock()
		syncs[uid]++
		if uid == "finished" {
			done <- uid
			return syncResult{}, true, nil
		}
		if syncs[uid] == 1 {
			// Ask for one more sync soon.
			return syncResult{requeueAfter: 10 * time.Millisecond}, false, nil
		}
		done <- uid
		return syncResult{}, false, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	workers.wake(ctx, "requeued")
	workers.wake(ctx, "finished")
	got := map[types.UID]bool{}
	deadline := time.After(10 * time.Second)
	for len(got) < 2 {
		select {
		case uid := <-done:
			got[uid] = true
		case <-deadline:
			t.Fatalf("workers synced %v, want requeued (twice) and finished", got)
		}
	}
	// The finished pod's worker ends by itself.
	for start := time.Now(); ; {
		workers.mu.Lock()
		_, running := workers.workers["finished"]
		workers.mu.Unlock()
		if !running {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the worker of a finished pod did not end")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	workers.wait()
	mu.Lock()
	defer mu.Unlock()
	if syncs["requeued"] != 2 {
		t.Errorf("requeued pod synced %d times, want 2", syncs["requeued"])
	}
}

func TestRelistWakesChangedPods(t *testing.T) {
	rt := fakecri.New()
	var woken []types.UID
	r := &relister{runtime: rt, wake: func(uid types.UID) { woken = append(woken, uid) }}
	ctx := context.Background()
	labels := func(uid string) map[string]string {
		return map[string]string{"io.kubernetes.pod.uid": uid, "io.navarch.managed-by": "navarch-agent"}
	}
	id, _ := rt.RunPodSandbox(ctx, &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "a"}, Labels: labels("a")})
	if _, err := rt.RunPodSandbox(ctx, &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "b"}, Labels: labels("b")}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name   string
		change func()
		want   []types.UID
	}{
		{name: "first relist wakes every pod", change: func() {}, want: []types.UID{"a", "b"}},
		{name: "nothing changed", change: func() {}, want: nil},
		{name: "sandbox stopped", change: func() { _ = rt.StopPodSandbox(ctx, id) }, want: []types.UID{"a"}},
		{name: "sandbox removed", change: func() { _ = rt.RemovePodSandbox(ctx, id) }, want: []types.UID{"a"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			woken = nil
			s.change()
			if err := r.relist(ctx); err != nil {
				t.Fatal(err)
			}
			if !equalUnordered(woken, s.want) {
				t.Errorf("woken = %v, want %v", woken, s.want)
			}
		})
	}
}

func equalUnordered(a, b []types.UID) bool {
	if len(a) != len(b) {
		return false
	}
	count := map[types.UID]int{}
	for _, x := range a {
		count[x]++
	}
	for _, x := range b {
		count[x]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}
