package metrics_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/navarch/navarch/internal/apiserver/metrics"
)

// BenchmarkListAllPods measures kubectl top pods -A on 100 nodes of 30
// pods each: the fan-out, decoding 100 summaries, and encoding 3000
// PodMetrics as JSON (the fake nodes answer at once with summaries
// encoded beforehand).
func BenchmarkListAllPods(b *testing.B) {
	stats := &fakeStats{raw: map[string][]byte{}}
	objects := &fakeObjects{}
	for n := range 100 {
		name := fmt.Sprintf("node-%03d", n)
		objects.nodes = append(objects.nodes, node(name, nil))
		sum := &statsapi.Summary{Node: statsapi.NodeStats{NodeName: name, CPU: cpu(1e9), Memory: mem(1 << 30)}}
		for p := range 30 {
			podName := fmt.Sprintf("pod-%03d-%02d", n, p)
			objects.pods = append(objects.pods, pod("default", podName, name, corev1.PodRunning, map[string]string{"app": "x"}, "app"))
			sum.Pods = append(sum.Pods, podStats("default", podName, "uid-"+podName, container("app", 1e6, 10*mib)))
		}
		data, err := json.Marshal(sum)
		if err != nil {
			b.Fatal(err)
		}
		stats.raw[name] = data
	}
	s, err := metrics.New(metrics.Config{Stats: stats, Objects: objects, Timeout: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/apis/metrics.k8s.io/v1beta1/pods", nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
		stats.askedNodes()
	}
}
