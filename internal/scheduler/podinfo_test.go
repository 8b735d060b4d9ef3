package scheduler

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestRefreshPodInfo checks that a newer object of a pod keeps the
// requests computed for the older one only when nothing they derive from
// changed, and always takes the newer object and its owner.
func TestRefreshPodInfo(t *testing.T) {
	base := makePod("p", requests("500m", "1Gi"), onNode("a"))
	base.OwnerReferences = []metav1.OwnerReference{{UID: "rs-1", Controller: new(true)}}
	// A host port, so that a reused PodInfo shows: it shares the ports.
	base.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 9090}}
	tests := []struct {
		name       string
		change     func(p *corev1.Pod)
		wantReused bool
		wantCPU    int64
		wantOwner  string
	}{
		{name: "status change", change: func(p *corev1.Pod) { p.Status.Phase = corev1.PodRunning }, wantReused: true, wantCPU: 500, wantOwner: "rs-1"},
		{name: "same quantity written differently", change: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("0.5")
		}, wantReused: true, wantCPU: 500, wantOwner: "rs-1"},
		{name: "new owner", change: func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{UID: "rs-2", Controller: new(true)}}
		}, wantReused: true, wantCPU: 500, wantOwner: "rs-2"},
		{name: "orphaned", change: func(p *corev1.Pod) { p.OwnerReferences = nil }, wantReused: true, wantCPU: 500},
		{name: "resized", change: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("700m")
		}, wantCPU: 700, wantOwner: "rs-1"},
		{name: "new request", change: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests["example.com/gpu"] = resource.MustParse("1")
		}, wantCPU: 500, wantOwner: "rs-1"},
		{name: "host port", change: func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports[0].HostPort = 8080
		}, wantCPU: 500, wantOwner: "rs-1"},
		{name: "overhead", change: func(p *corev1.Pod) {
			p.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}
		}, wantCPU: 600, wantOwner: "rs-1"},
		{name: "affinity", change: func(p *corev1.Pod) { p.Spec.Affinity = &corev1.Affinity{} }, wantCPU: 500, wantOwner: "rs-1"},
		{name: "another pod", change: func(p *corev1.Pod) { p.UID = "other" }, wantCPU: 500, wantOwner: "rs-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := NewPodInfo(base)
			pod := base.DeepCopy()
			tc.change(pod)
			got := refreshPodInfo(old, pod)
			if got.Pod != pod {
				t.Fatal("the PodInfo is not for the newer object")
			}
			if want := NewPodInfo(pod); got.Requests.MilliCPU != want.Requests.MilliCPU || got.NonZeroMemory != want.NonZeroMemory ||
				!slices.Equal(got.ports, want.ports) || got.owner != want.owner {
				t.Errorf("got requests %+v ports %v owner %q, NewPodInfo gives %+v %v %q",
					got.Requests, got.ports, got.owner, want.Requests, want.ports, want.owner)
			}
			if got.Requests.MilliCPU != tc.wantCPU || string(got.owner) != tc.wantOwner {
				t.Errorf("cpu %d owner %q, want %d %q", got.Requests.MilliCPU, got.owner, tc.wantCPU, tc.wantOwner)
			}
			if reused := &got.ports[0] == &old.ports[0]; reused != tc.wantReused {
				t.Errorf("reused %v, want %v", reused, tc.wantReused)
			}
			if old.Pod != base || old.owner != "rs-1" {
				t.Error("the older PodInfo changed")
			}
		})
	}
}
