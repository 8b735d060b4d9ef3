package cacher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/navarch/navarch/internal/api"
	"github.com/navarch/navarch/internal/storage"
	"github.com/navarch/navarch/internal/storage/embedded"
	"github.com/navarch/navarch/internal/storage/etcd3"
	"github.com/navarch/navarch/internal/storage/storagetest"
)

const testBookmarkInterval = 200 * time.Millisecond

func startEtcd(t testing.TB) *clientv3.Client {
	t.Helper()
	e, err := embedded.Start(t.Context(), embedded.Config{DataDir: t.TempDir(), Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("embedded.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("close etcd: %v", err)
		}
	})
	return e.Client()
}

func podKeyOf(obj runtime.Object) (string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return "", fmt.Errorf("not a pod: %T", obj)
	}
	return "/registry/pods/" + pod.Namespace + "/" + pod.Name, nil
}

// startCacher runs a cacher of pods over store until the test ends and
// waits until it is ready.
func startCacher(t testing.TB, store storage.Interface, historySize int) *Cacher {
	t.Helper()
	c := New(Config{
		Storage:          store,
		Prefix:           "/registry/pods/",
		NewObject:        func() runtime.Object { return &corev1.Pod{} },
		NewList:          func() runtime.Object { return &corev1.PodList{} },
		KeyOf:            podKeyOf,
		HistorySize:      historySize,
		BookmarkInterval: testBookmarkInterval,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-c.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("cache not ready within 10s")
	}
	return c
}

func newStore(client *clientv3.Client, bookmarkInterval time.Duration) *etcd3.Store {
	return etcd3.New(etcd3.Config{
		Client:           client,
		Codec:            etcd3.NewCodec(api.Scheme),
		BookmarkInterval: bookmarkInterval,
		RevisionWait:     300 * time.Millisecond,
	})
}

// TestCacherContract runs the storage contract suite on a cacher over
// etcd3: served from the cache, watches must behave as etcd3's.
func TestCacherContract(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded etcd per subtest")
	}
	storagetest.RunTests(t, func(t *testing.T) storagetest.Harness {
		client := startEtcd(t)
		return storagetest.Harness{
			Storage: startCacher(t, newStore(client, testBookmarkInterval), 0),
			Compact: func(rev int64) {
				t.Helper()
				if _, err := client.Compact(t.Context(), rev); err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
					t.Fatalf("compact to %d: %v", rev, err)
				}
			},
			BookmarkInterval: testBookmarkInterval,
		}
	})
}

func pod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}},
	}
}

func create(t *testing.T, s storage.Interface, name string) *corev1.Pod {
	t.Helper()
	out := &corev1.Pod{}
	if err := s.Create(t.Context(), "/registry/pods/ns/"+name, pod(name), out); err != nil {
		t.Fatalf("Create %s: %v", name, err)
	}
	return out
}

func next(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case e, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch ended")
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
		return watch.Event{}
	}
}

func nameOf(t *testing.T, obj runtime.Object) string {
	t.Helper()
	if c, ok := obj.(runtime.CacheableObject); ok {
		obj = c.GetObject()
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		t.Fatalf("event object %T, want a pod", obj)
	}
	return p.Name
}

// countingEncoder counts the encodings it performs.
type countingEncoder struct{ calls atomic.Int32 }

func (e *countingEncoder) encode(obj runtime.Object, w io.Writer) error {
	e.calls.Add(1)
	_, err := fmt.Fprintf(w, "%s", obj.(*corev1.Pod).Name)
	return err
}

// TestWatchersShareOneEncoding checks that watchers receive one shared
// object per change, which one encoder encodes once for all of them.
func TestWatchersShareOneEncoding(t *testing.T) {
	store := newStore(startEtcd(t), time.Minute)
	c := startCacher(t, store, 0)
	from, err := c.CurrentRevision(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ws []watch.Interface
	for range 3 {
		w, err := c.Watch(t.Context(), "/registry/pods/", storage.ListOptions{ResourceVersion: fmt.Sprint(from)})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		ws = append(ws, w)
	}
	create(t, c, "web")
	enc := &countingEncoder{}
	var first runtime.Object
	for i, w := range ws {
		e := next(t, w)
		co, ok := e.Object.(runtime.CacheableObject)
		if e.Type != watch.Added || !ok {
			t.Fatalf("watcher %d got %s %T, want Added of a runtime.CacheableObject", i, e.Type, e.Object)
		}
		if first == nil {
			first = e.Object
		} else if e.Object != first {
			t.Errorf("watcher %d got another object than watcher 0", i)
		}
		var buf bytes.Buffer
		if err := co.CacheEncode("test", enc.encode, &buf); err != nil {
			t.Fatalf("CacheEncode: %v", err)
		}
		if buf.String() != "web" {
			t.Errorf("watcher %d encoding = %q, want %q", i, buf.String(), "web")
		}
	}
	if got := enc.calls.Load(); got != 1 {
		t.Errorf("encoder called %d times for 3 watchers, want once", got)
	}
	// The copy a consumer gets is its own.
	copied := first.(runtime.CacheableObject).GetObject().(*corev1.Pod)
	copied.Labels["app"] = "changed"
	if again := first.(runtime.CacheableObject).GetObject().(*corev1.Pod); again.Labels["app"] != "web" {
		t.Errorf("changing GetObject's copy changed the shared object")
	}
}

// TestSlowWatcherIsDropped checks that a watcher that does not read ends
// once it falls too far behind, while the others get every change.
func TestSlowWatcherIsDropped(t *testing.T) {
	if testing.Short() {
		t.Skip("writes more than a thousand objects")
	}
	store := newStore(startEtcd(t), time.Minute)
	c := startCacher(t, store, 0)
	slow, err := c.Watch(t.Context(), "/registry/pods/", storage.ListOptions{ResourceVersion: "0", SendInitialEvents: new(bool)})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Stop()
	fast, err := c.Watch(t.Context(), "/registry/pods/", storage.ListOptions{ResourceVersion: "0", SendInitialEvents: new(bool)})
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Stop()
	n := watcherInput + resultBuffer + 50
	got := make(chan int, 1)
	go func() {
		count := 0
		for e := range fast.ResultChan() {
			if e.Type == watch.Added {
				count++
				if count == n {
					break
				}
			}
		}
		got <- count
	}()
	for i := range n {
		create(t, store, fmt.Sprintf("p%04d", i))
	}
	select {
	case count := <-got:
		if count != n {
			t.Errorf("fast watcher got %d Added events, want %d", count, n)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("fast watcher did not get every change within 30s")
	}
	// The slow one's stream ends after what it had buffered.
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-slow.ResultChan():
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("slow watcher was not dropped")
		}
	}
}

// TestWatchOlderThanHistory checks that a watch from a revision the
// history no longer holds is served by the store, with every change.
func TestWatchOlderThanHistory(t *testing.T) {
	store := newStore(startEtcd(t), time.Minute)
	c := startCacher(t, store, 2)
	first := create(t, c, "a")
	for _, name := range []string{"b", "c", "d"} {
		create(t, c, name)
	}
	// The cache applies changes asynchronously: wait until it rolled over
	// past first (historyStart is the newest revision dropped; once it is
	// first's, c is applied but d may not be, and a watch from first is
	// still one the history serves).
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		rolled := c.historyStart > mustRev(t, first)
		c.mu.Unlock()
		if rolled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("history did not roll over")
		}
		time.Sleep(10 * time.Millisecond)
	}
	w, err := c.Watch(t.Context(), "/registry/pods/", storage.ListOptions{ResourceVersion: first.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, fromCache := w.(*cacheWatcher); fromCache {
		t.Error("watch older than the history was served by the cache")
	}
	for _, want := range []string{"b", "c", "d"} {
		if got := nameOf(t, next(t, w).Object); got != want {
			t.Errorf("event for %s, want %s", got, want)
		}
	}
}

func mustRev(t *testing.T, p *corev1.Pod) int64 {
	t.Helper()
	var rev int64
	if _, err := fmt.Sscan(p.ResourceVersion, &rev); err != nil {
		t.Fatalf("resourceVersion %q: %v", p.ResourceVersion, err)
	}
	return rev
}

// TestInitialEventsCatchUpThroughProgress checks that a watch with initial
// events does not wait for a bookmark interval when the store moved on
// through other keys: the cache asks its watch for progress.
func TestInitialEventsCatchUpThroughProgress(t *testing.T) {
	client := startEtcd(t)
	// Bookmarks of the wrapped watch only on request.
	store := newStore(client, time.Hour)
	c := startCacher(t, store, 0)
	create(t, c, "a")
	// Writes outside the cached directory move the store's revision.
	var last int64
	for i := range 3 {
		resp, err := client.Put(t.Context(), fmt.Sprintf("/registry/configmaps/ns/x%d", i), "v")
		if err != nil {
			t.Fatal(err)
		}
		last = resp.Header.Revision
	}
	yes := true
	start := time.Now()
	w, err := c.Watch(t.Context(), "/registry/pods/", storage.ListOptions{
		SendInitialEvents: &yes, AllowWatchBookmarks: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, fromCache := w.(*cacheWatcher); !fromCache {
		t.Fatalf("watch went to the store after %v; want it served by the cache", time.Since(start))
	}
	if got := nameOf(t, next(t, w).Object); got != "a" {
		t.Errorf("initial event for %s, want a", got)
	}
	e := next(t, w)
	p, ok := e.Object.(*corev1.Pod)
	if e.Type != watch.Bookmark || !ok {
		t.Fatalf("got %s %T, want the initial-events-end bookmark", e.Type, e.Object)
	}
	if rev := mustRev(t, p); rev < last {
		t.Errorf("initial-events-end bookmark at %d, want at least the store's revision %d", rev, last)
	}
}

// TestCached checks the cache's read of one key: what it holds, shared,
// and false for keys it does not hold.
func TestCached(t *testing.T) {
	store := newStore(startEtcd(t), time.Minute)
	c := startCacher(t, store, 0)
	created := create(t, c, "web")
	deadline := time.Now().Add(10 * time.Second)
	for {
		obj, ok := c.Cached("/registry/pods/ns/web")
		if ok {
			if p := obj.(*corev1.Pod); p.ResourceVersion != created.ResourceVersion {
				t.Errorf("Cached = rv %s, want %s", p.ResourceVersion, created.ResourceVersion)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cache did not get the pod")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, ok := c.Cached("/registry/pods/ns/nope"); ok {
		t.Error("Cached found a key never written")
	}
}

// TestConcurrentEncodingsLeaveTheObjectAlone encodes one shared object with
// the API server's encoders at once, while others read it: run with -race,
// it shows the encoders write nothing the readers see.
func TestConcurrentEncodingsLeaveTheObjectAlone(t *testing.T) {
	p := pod("web")
	p.ResourceVersion = "7"
	p.Annotations = map[string]string{"a": "b"}
	p.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Pod"))
	o := newCachingObject(p)
	var encoders []runtime.Encoder
	for _, info := range api.Codecs.SupportedMediaTypes() {
		encoders = append(encoders, api.Codecs.EncoderForVersion(info.Serializer, corev1.SchemeGroupVersion))
	}
	done := make(chan []byte, 2*len(encoders))
	for range 2 {
		for _, enc := range encoders {
			go func() {
				var buf bytes.Buffer
				if err := enc.Encode(o, &buf); err != nil {
					t.Errorf("Encode: %v", err)
				}
				done <- buf.Bytes()
			}()
		}
	}
	for range 2 * len(encoders) {
		_ = p.Labels["app"] + p.Annotations["a"] + p.Spec.Containers[0].Image + p.ResourceVersion + p.Kind
		<-done
	}
	if p.Labels["app"] != "web" || p.ResourceVersion != "7" || p.Kind != "Pod" {
		t.Errorf("object changed by encoding: %+v", p.ObjectMeta)
	}
}
