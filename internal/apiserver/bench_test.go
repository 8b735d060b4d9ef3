package apiserver

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/navarch/navarch/internal/registry/builtin"
)

// The write-path benchmarks drive the handler of a server on an embedded
// etcd with the watch cache on, as the in-process controllers and the
// scheduler do (protobuf bodies and answers). Time per op includes etcd's
// commit and fsync, so compare B/op and allocs/op between builds, and
// ns/op only within one run:
//
//	go test -run '^$' -bench 'CreatePod|Binding|UpdatePodStatus' -benchmem -count 5 ./internal/apiserver

const benchNamespace = "bench"

// benchServer returns the handler of a server whose watch caches run and
// whose namespace benchNamespace exists.
func benchServer(b *testing.B) http.Handler {
	b.Helper()
	s := cachedServer(b)
	s.SetReady()
	h := s.Handler()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNamespace}}
	benchDo(b, h, http.MethodPost, "/api/v1/namespaces", ns, http.StatusCreated)
	return h
}

// cachedServer returns a server on an embedded etcd of its own with its
// watch caches running and filled, stopped when the test ends.
func cachedServer(tb testing.TB) *Server {
	tb.Helper()
	store := etcdStore(tb)
	// Stop the caches before etcd (cleanups run last first).
	ctx, cancel := context.WithCancel(context.Background())
	var caches sync.WaitGroup
	tb.Cleanup(func() { cancel(); caches.Wait() })
	s, err := New(Config{Storage: store, Kinds: builtin.Kinds(), WatchCache: true})
	if err != nil {
		tb.Fatal(err)
	}
	for _, c := range s.cachers {
		caches.Add(1)
		go func() {
			defer caches.Done()
			_ = c.Run(ctx)
		}()
	}
	if err := s.WaitForWatchCaches(ctx); err != nil {
		tb.Fatal(err)
	}
	return s
}

// benchDo sends obj, protobuf encoded, and fails unless the answer has code.
func benchDo(b *testing.B, h http.Handler, method, path string, obj runtime.Object, code int) {
	data, err := runtime.Encode(protobufCodec(b), obj)
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(method, path, bytes.NewReader(data))
	r.Header.Set("Content-Type", runtime.ContentTypeProtobuf)
	r.Header.Set("Accept", runtime.ContentTypeProtobuf+", "+runtime.ContentTypeJSON)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != code {
		b.Fatalf("%s %s: %d, want %d: %s", method, path, w.Code, code, w.Body.String())
	}
}

func protobufCodec(b *testing.B) runtime.Encoder {
	info, ok := serializerFor(runtime.ContentTypeProtobuf)
	if !ok {
		b.Fatal("no protobuf serializer")
	}
	return codecFor(info, corev1.SchemeGroupVersion)
}

// benchPod is a pod as a ReplicaSet of the scheduler benchmark makes it.
func benchPod(i int) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-7d4b9c8f6d-" + strconv.Itoa(i), Namespace: benchNamespace,
			Labels: map[string]string{"app": "web", "pod-template-hash": "7d4b9c8f6d"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-7d4b9c8f6d",
				UID: "8f0c3a5e-0000-4000-8000-000000000001", Controller: ptrTo(true), BlockOwnerDeletion: ptrTo(true),
			}},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "web", Image: "registry.example/web:1.2.3",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: apiresource.MustParse("10m"), corev1.ResourceMemory: apiresource.MustParse("16Mi"),
				}},
			}},
		},
	}
}

func ptrTo[T any](v T) *T { return &v }

func podsPath() string { return "/api/v1/namespaces/" + benchNamespace + "/pods" }

// BenchmarkCreatePod measures one pod create: decode, defaults,
// validation, admission, encode, the etcd write, the answer.
func BenchmarkCreatePod(b *testing.B) {
	h := benchServer(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		benchDo(b, h, http.MethodPost, podsPath(), benchPod(i), http.StatusCreated)
		i++
	}
}

// BenchmarkBinding measures one pods/binding (the scheduler's write).
func BenchmarkBinding(b *testing.B) {
	h := benchServer(b)
	const pods = 2000
	for i := range pods {
		benchDo(b, h, http.MethodPost, podsPath(), benchPod(i), http.StatusCreated)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == pods {
			b.Fatalf("more than %d bindings; raise pods", pods)
		}
		name := "web-7d4b9c8f6d-" + strconv.Itoa(i)
		binding := &corev1.Binding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Binding"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: benchNamespace},
			Target:     corev1.ObjectReference{Kind: "Node", Name: "node-" + strconv.Itoa(i%1000)},
		}
		benchDo(b, h, http.MethodPost, podsPath()+"/"+name+"/binding", binding, http.StatusCreated)
		i++
	}
}

// BenchmarkUpdatePodStatus measures one pods/status update (a node
// agent reporting a pod Running), starting from the stored pod.
func BenchmarkUpdatePodStatus(b *testing.B) {
	h := benchServer(b)
	const pods = 2000
	var stored []*corev1.Pod
	for i := range pods {
		benchDo(b, h, http.MethodPost, podsPath(), benchPod(i), http.StatusCreated)
		pod := benchPod(i)
		stored = append(stored, pod)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == pods {
			b.Fatalf("more than %d updates; raise pods", pods)
		}
		pod := stored[i].DeepCopy()
		pod.Spec.NodeName = ""
		pod.Status = corev1.PodStatus{
			Phase:  corev1.PodRunning,
			HostIP: "10.0.0.1", PodIP: "10.244.0." + strconv.Itoa(i%250+1),
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: "web", Image: "registry.example/web:1.2.3", Ready: true,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
			}},
		}
		benchDo(b, h, http.MethodPut, podsPath()+"/"+pod.Name+"/status", pod, http.StatusOK)
		i++
	}
}

// BenchmarkWatchFanOut measures one pod create seen by 4 protobuf pod
// watchers (the in-process informers' share of a create): the create, the
// watch cache's decode, one encoding of the pod and a frame per watcher.
// The watchers read the frames without decoding them.
func BenchmarkWatchFanOut(b *testing.B) {
	h := benchServer(b)
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	const watchers = 4
	frames := make(chan error, watchers*16)
	for range watchers {
		req, err := http.NewRequest(http.MethodGet, srv.URL+podsPath()+"?watch=1", nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Accept", runtime.ContentTypeProtobuf+";stream=watch")
		resp, err := srv.Client().Do(req)
		if err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("watch: %s", resp.Status)
		}
		b.Cleanup(func() { _ = resp.Body.Close() })
		go func() {
			// Length-delimited frames: a 4-byte big-endian length, then
			// the event.
			var header [4]byte
			body := make([]byte, 64<<10)
			for {
				if _, err := io.ReadFull(resp.Body, header[:]); err != nil {
					frames <- err
					return
				}
				n := binary.BigEndian.Uint32(header[:])
				if int(n) > len(body) {
					body = make([]byte, n)
				}
				if _, err := io.ReadFull(resp.Body, body[:n]); err != nil {
					frames <- err
					return
				}
				frames <- nil
			}
		}()
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		benchDo(b, h, http.MethodPost, podsPath(), benchPod(i), http.StatusCreated)
		for range watchers {
			if err := <-frames; err != nil {
				b.Fatalf("watch: %v", err)
			}
		}
		i++
	}
}

// BenchmarkPodAttrs measures the labels and fields a pod watch with a
// selector (every node agent's) evaluates for each pod event.
func BenchmarkPodAttrs(b *testing.B) {
	res := podResource(b)
	pod := benchPod(0)
	pod.Spec.NodeName = "node-1"
	pod.Status.PodIPs = []corev1.PodIP{{IP: "10.244.1.7"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, fs, err := res.attrs(pod); err != nil || fs["spec.nodeName"] != "node-1" || fs["metadata.name"] != pod.Name {
			b.Fatalf("attrs: %v %v", fs, err)
		}
	}
}
