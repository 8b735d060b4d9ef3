package etcd3

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/navarch/navarch/internal/storage"
)

// The benchmarks run each measurement twice: on the in-process client of
// an embedded etcd (the default server) and on a gRPC client over TCP
// loopback (--etcd-endpoints). Run them with
//
//	go test -run '^$' -bench . -benchtime 3s ./internal/storage/etcd3/

func forEachClient(b *testing.B, bench func(b *testing.B, s *Store, client *clientv3.Client)) {
	b.Run("inprocess", func(b *testing.B) {
		client := startEtcd(b, "").Client()
		bench(b, benchStore(client), client)
	})
	b.Run("tcp", func(b *testing.B) {
		client := dial(b, startEtcd(b, "http://127.0.0.1:0").Endpoints())
		bench(b, benchStore(client), client)
	})
}

func benchStore(client *clientv3.Client) *Store {
	return New(Config{Client: client, Codec: NewCodec(testScheme)})
}

// smallPod is a pod as a small Deployment makes it: a few labels, one
// container with requests, a node.
func smallPod(i int) *corev1.Pod {
	name := "web-7d4b9c8f6d-" + strconv.Itoa(i)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "bench", Name: name, UID: types.UID(fmt.Sprintf("8f0c3a5e-0000-4000-8000-%012d", i)),
			Labels:            map[string]string{"app": "web", "pod-template-hash": "7d4b9c8f6d"},
			CreationTimestamp: metav1.Unix(1700000000, 0),
		},
		Spec: corev1.PodSpec{
			NodeName: "node-" + strconv.Itoa(i%10),
			Containers: []corev1.Container{{
				Name: "web", Image: "registry.example/web:1.2.3",
				Ports: []corev1.ContainerPort{{ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
				}},
			}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.42.0." + strconv.Itoa(i%250)},
	}
}

func podKeyOf(p *corev1.Pod) string { return "/registry/pods/" + p.Namespace + "/" + p.Name }

// seedPods writes n small pods in transactions of 100 puts.
func seedPods(b *testing.B, client *clientv3.Client, n int) {
	b.Helper()
	codec := NewCodec(testScheme)
	for start := 0; start < n; start += 100 {
		var ops []clientv3.Op
		for i := start; i < min(start+100, n); i++ {
			p := smallPod(i)
			data, err := codec.Marshal(p)
			if err != nil {
				b.Fatal(err)
			}
			ops = append(ops, clientv3.OpPut(podKeyOf(p), string(data)))
		}
		if _, err := client.Txn(b.Context()).Then(ops...).Commit(); err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
}

// BenchmarkCreate measures creates from parallel goroutines.
func BenchmarkCreate(b *testing.B) {
	forEachClient(b, func(b *testing.B, s *Store, _ *clientv3.Client) {
		var next atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			out := &corev1.Pod{}
			for pb.Next() {
				p := smallPod(int(next.Add(1)))
				if err := s.Create(b.Context(), podKeyOf(p), p, out); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
	})
}

// BenchmarkGet measures a linearizable Get of one pod.
func BenchmarkGet(b *testing.B) {
	forEachClient(b, func(b *testing.B, s *Store, _ *clientv3.Client) {
		p := smallPod(1)
		if err := s.Create(b.Context(), podKeyOf(p), p, &corev1.Pod{}); err != nil {
			b.Fatal(err)
		}
		out := &corev1.Pod{}
		b.ReportAllocs()
		for b.Loop() {
			if err := s.Get(b.Context(), podKeyOf(p), storage.GetOptions{}, out); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkList10000Pods measures a full list of 10,000 small pods.
func BenchmarkList10000Pods(b *testing.B) {
	const pods = 10000
	forEachClient(b, func(b *testing.B, s *Store, client *clientv3.Client) {
		seedPods(b, client, pods)
		b.ReportAllocs()
		for b.Loop() {
			list := &corev1.PodList{}
			if err := s.List(b.Context(), "/registry/pods/bench/", storage.ListOptions{}, list); err != nil {
				b.Fatal(err)
			}
			if len(list.Items) != pods {
				b.Fatalf("listed %d pods, want %d", len(list.Items), pods)
			}
		}
		b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N), "ms/list")
	})
}

// BenchmarkWatchLatency100Watchers measures how long an update takes to
// reach all of 100 watchers of the same directory.
func BenchmarkWatchLatency100Watchers(b *testing.B) {
	const watchers = 100
	forEachClient(b, func(b *testing.B, s *Store, _ *clientv3.Client) {
		p := smallPod(1)
		created := &corev1.Pod{}
		if err := s.Create(b.Context(), podKeyOf(p), p, created); err != nil {
			b.Fatal(err)
		}
		received := make(chan time.Time, watchers)
		for range watchers {
			w, err := s.Watch(b.Context(), "/registry/pods/bench/", storage.ListOptions{ResourceVersion: created.ResourceVersion})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(w.Stop)
			go func() {
				for e := range w.ResultChan() {
					if e.Type == watch.Modified {
						received <- time.Now()
					}
				}
			}()
		}
		var write, all, each time.Duration
		n := 0
		for b.Loop() {
			n++
			began := time.Now()
			err := s.GuaranteedUpdate(b.Context(), podKeyOf(p), &corev1.Pod{}, false, nil, func(cur runtime.Object) (runtime.Object, error) {
				pod := cur.(*corev1.Pod)
				pod.Labels["n"] = strconv.Itoa(n)
				return pod, nil
			})
			if err != nil {
				b.Fatal(err)
			}
			write += time.Since(began)
			var last time.Time
			for range watchers {
				at := <-received
				each += at.Sub(began)
				if at.After(last) {
					last = at
				}
			}
			all += last.Sub(began)
		}
		b.ReportMetric(float64(write.Microseconds())/1000/float64(n), "ms-write/op")
		b.ReportMetric(float64(all.Microseconds())/1000/float64(n), "ms-to-all-100/op")
		b.ReportMetric(float64(each.Microseconds())/1000/float64(n*watchers), "ms-to-each/op")
	})
}
