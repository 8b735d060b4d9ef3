package scheduler

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkCacheSetPodStatus measures the cache's part of a bound pod's
// status update (the informer's SetPod of a newer object).
func BenchmarkCacheSetPodStatus(b *testing.B) {
	c := NewCache()
	c.SetNode(makeNode("a"))
	pod := makePod("p", requests("500m", "1Gi"), onNode("a"))
	pod.OwnerReferences = []metav1.OwnerReference{{UID: "rs-1", Controller: new(true)}}
	c.SetPod(pod)
	pods := []*corev1.Pod{pod.DeepCopy(), pod.DeepCopy()}
	pods[1].Status.Phase = corev1.PodRunning
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.SetPod(pods[i%2])
		i++
	}
}
