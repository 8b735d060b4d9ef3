package replicaset

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkSyncSteady10000 measures one sync of a ReplicaSet whose 10,000
// pods are all Running and Ready and whose status already says so: the
// work the controller repeats for every pod event of a large ReplicaSet.
//
//	go test -run '^$' -bench SyncSteady10000 -benchmem ./internal/controller/replicaset
func BenchmarkSyncSteady10000(b *testing.B) {
	const size = 10000
	rs := newRS("web", size)
	pods := newPods(rs, size, onNode, readyFor(time.Minute))
	f := newFixture(b, rs)
	for _, pod := range pods {
		if err := f.controller.podIndexer.Add(pod); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	key := rs.Namespace + "/" + rs.Name
	// The first sync writes the status; the fake clientset does not feed
	// the informer, so put the written copy there.
	if err := f.controller.sync(ctx, key); err != nil {
		b.Fatal(err)
	}
	stored, err := f.client.AppsV1().ReplicaSets(rs.Namespace).Get(ctx, rs.Name, metav1.GetOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if err := f.controller.rsIndexer.Update(stored); err != nil {
		b.Fatal(err)
	}
	if stored.Status.ReadyReplicas != size {
		b.Fatalf("ready replicas %d, want %d", stored.Status.ReadyReplicas, size)
	}
	f.client.ClearActions()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := f.controller.sync(ctx, key); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if n := len(f.client.Actions()); n != 0 {
		b.Fatalf("steady syncs made %d API calls, want none", n)
	}
	if n := len(f.podControl.Templates) + len(f.podControl.DeletePodNames) + len(f.podControl.Patches); n != 0 {
		b.Fatalf("steady syncs created or deleted %d pods", n)
	}
}
