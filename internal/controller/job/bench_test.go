package job

import (
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// BenchmarkSyncJob measures one sync of a Job with 1,000 pods, half of
// them succeeded and not yet counted (the worst case: every one goes
// through the uncounted list and loses its finalizer).
func BenchmarkSyncJob(b *testing.B) {
	const pods = 1000
	job := newJob(started(time.Minute), func(j *batchv1.Job) {
		j.Spec.Completions = ptr.To[int32](2 * pods)
		j.Spec.Parallelism = ptr.To[int32](pods)
	})
	var list []*corev1.Pod
	for i := 0; i < pods; i++ {
		phase := corev1.PodRunning
		if i%2 == 0 {
			phase = corev1.PodSucceeded
		}
		list = append(list, newPod(phase, func(p *corev1.Pod) { p.Name = fmt.Sprintf("bench-%d", i) }))
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		h := newHarness(b, job, list...)
		b.StartTimer()
		if err := h.c.syncJob(b.Context(), "default/work"); err != nil {
			b.Fatal(err)
		}
	}
}
