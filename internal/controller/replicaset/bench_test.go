package replicaset_test

import (
	"context"
	"github.com/navarch/navarch/internal/controller/replicaset"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/test/framework"
)

// BenchmarkScaleUp1000 measures how fast the controller creates pods: one
// op scales a ReplicaSet from 0 to 1000 replicas and waits until its
// status counts them, then scales it back to 0. It reports pods created
// per second.
//
//	go test -run '^$' -bench ScaleUp1000 -benchtime 3x ./internal/controller/replicaset
func BenchmarkScaleUp1000(b *testing.B) {
	const size = 1000
	client, ns := startCluster(b)
	ctx := context.Background()
	rs := replicaset.NewRSForTest("web", 0)
	rs.ObjectMeta = metav1.ObjectMeta{Name: "web", Namespace: ns}
	if _, err := client.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	scale := func(n int32) {
		got, err := client.AppsV1().ReplicaSets(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		got.Spec.Replicas = ptr.To(n)
		if _, err := client.AppsV1().ReplicaSets(ns).Update(ctx, got, metav1.UpdateOptions{}); err != nil {
			b.Fatal(err)
		}
		framework.WaitFor(b, 5*time.Minute, "scaled", func() (bool, error) {
			got, err := client.AppsV1().ReplicaSets(ns).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return got.Status.ObservedGeneration == got.Generation && got.Status.Replicas == n, nil
		})
	}
	var creating time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		scale(size)
		creating += time.Since(start)
		scale(0)
	}
	b.ReportMetric(float64(size*b.N)/creating.Seconds(), "pods/s")
}
