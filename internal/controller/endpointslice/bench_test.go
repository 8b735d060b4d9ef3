package endpointslice

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

// BenchmarkSteadySync measures one sync of a Service with 1000 ready pods
// whose slices are already up to date: the cost paid on every pod event.
// Run: go test -run '^$' -bench SteadySync ./internal/controller/endpointslice/
func BenchmarkSteadySync(b *testing.B) {
	svc := service("web")
	var pods []*corev1.Pod
	for i := range 1000 {
		pods = append(pods, pod(fmt.Sprintf("p%04d", i), fmt.Sprintf("10.1.%d.%d", i/250, i%250)))
	}
	first := newFixture(b, []*corev1.Service{svc}, pods, zoneA, nil)
	if err := first.controller.sync(context.Background(), "ns/web"); err != nil {
		b.Fatal(err)
	}
	// The slices as the API server stored them, in the cache.
	var stored []*discoveryv1.EndpointSlice
	for i, s := range writesOf(first.client).created {
		s = s.DeepCopy()
		s.Name = fmt.Sprintf("%s%05d", s.GenerateName, i)
		s.UID = types.UID("uid-" + s.Name)
		stored = append(stored, s)
	}
	f := newFixture(b, []*corev1.Service{svc}, pods, zoneA, stored)
	b.ResetTimer()
	for b.Loop() {
		if err := f.controller.sync(context.Background(), "ns/web"); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if w := writesOf(f.client); len(w.created)+len(w.updated)+len(w.deleted) != 0 {
		b.Fatalf("steady sync wrote: %v", w)
	}
	b.ReportMetric(float64(len(stored)), "slices")
}
