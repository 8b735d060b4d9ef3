package pod

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// BenchmarkCreate measures what a pod create costs in the strategy:
// defaults, admission defaults and validation, once per API write.
func BenchmarkCreate(b *testing.B) {
	base := newPod()
	s := strategy{}
	b.ReportAllocs()
	for b.Loop() {
		pod := base.DeepCopy()
		s.Default(pod)
		s.PrepareForCreate(pod)
		if errs := s.Validate(pod); len(errs) != 0 {
			b.Fatalf("Validate: %v", errs)
		}
	}
}

// BenchmarkUpdate measures an image update, which walks the whole spec
// comparison.
func BenchmarkUpdate(b *testing.B) {
	old := newPod()
	old.ResourceVersion = "1"
	s := strategy{}
	b.ReportAllocs()
	for b.Loop() {
		pod := old.DeepCopy()
		pod.Spec.Containers[0].Image = "nginx:1.28"
		s.PrepareForUpdate(pod, old)
		if errs := s.ValidateUpdate(pod, old); len(errs) != 0 {
			b.Fatalf("ValidateUpdate: %v", errs)
		}
	}
}

// BenchmarkRow measures one kubectl get pods row.
func BenchmarkRow(b *testing.B) {
	pod := newPod()
	pod.Status.Phase = corev1.PodRunning
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{running(true)}
	b.ReportAllocs()
	for b.Loop() {
		table.Row(pod)
	}
}
