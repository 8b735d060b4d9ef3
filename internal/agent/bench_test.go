package agent

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkSyncPodSteadyState measures one sync of a running pod that
// needs nothing (what every relist-triggered or periodic sync costs the
// agent, without the runtime's own latency): run with
// go test -bench SyncPod -benchmem ./internal/agent/
func BenchmarkSyncPodSteadyState(b *testing.B) {
	h := newSyncHarness(b)
	h.runtime.AddImage("localhost/app:1")
	pod, err := h.client.CoreV1().Pods("default").Create(context.Background(), testPod("bench"), metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := h.syncer.syncPod(context.Background(), pod); err != nil {
		b.Fatal(err)
	}
	current, err := h.client.CoreV1().Pods("default").Get(context.Background(), "bench", metav1.GetOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := h.syncer.syncPod(context.Background(), current); err != nil {
			b.Fatal(err)
		}
	}
}
