package etcd3

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	"github.com/navarch/navarch/internal/api"
	"github.com/navarch/navarch/internal/storage"
	"github.com/navarch/navarch/internal/storage/embedded"
	"github.com/navarch/navarch/internal/storage/storagetest"
)

// Short intervals keep the suite's waits for bookmarks and for revisions
// that never come short.
const (
	testBookmarkInterval = 200 * time.Millisecond
	testRevisionWait     = 300 * time.Millisecond
)

// testScheme is the API server's scheme.
var testScheme = api.Scheme

// startEtcd starts an embedded etcd in a temporary directory, closed when
// the test ends.
func startEtcd(t testing.TB, clientURL string) *embedded.Etcd {
	t.Helper()
	e, err := embedded.Start(t.Context(), embedded.Config{DataDir: t.TempDir(), ClientURL: clientURL, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("embedded.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("close etcd: %v", err)
		}
	})
	return e
}

// dial returns a plain gRPC client of endpoints, closed when the test ends.
func dial(t testing.TB, endpoints []string) *clientv3.Client {
	t.Helper()
	client, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("clientv3.New(%v): %v", endpoints, err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

func newTestStore(client *clientv3.Client) *Store {
	return New(Config{
		Client:           client,
		Codec:            NewCodec(testScheme),
		BookmarkInterval: testBookmarkInterval,
		RevisionWait:     testRevisionWait,
	})
}

func harness(t *testing.T, client *clientv3.Client) storagetest.Harness {
	return storagetest.Harness{
		Storage: newTestStore(client),
		Compact: func(rev int64) {
			t.Helper()
			if _, err := client.Compact(t.Context(), rev); err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
				t.Fatalf("compact to %d: %v", rev, err)
			}
		},
		BookmarkInterval: testBookmarkInterval,
	}
}

// TestStoreInProcess runs the contract suite on the in-process client of
// an embedded etcd, as `navarch server` does by default.
func TestStoreInProcess(t *testing.T) {
	storagetest.RunTests(t, func(t *testing.T) storagetest.Harness {
		return harness(t, startEtcd(t, "").Client())
	})
}

// TestStoreOverTCP runs the contract suite on a gRPC client of an etcd
// listening on loopback, as `navarch server --etcd-endpoints` does.
func TestStoreOverTCP(t *testing.T) {
	storagetest.RunTests(t, func(t *testing.T) storagetest.Harness {
		e := startEtcd(t, "http://127.0.0.1:0")
		return harness(t, dial(t, e.Endpoints()))
	})
}

// TestStoreWithJSONCodec runs the suite with a codec other than Codec
// (JSON from apimachinery), which takes the Store's generic decode paths.
func TestStoreWithJSONCodec(t *testing.T) {
	codecs := serializer.NewCodecFactory(testScheme)
	json, ok := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), runtime.ContentTypeJSON)
	if !ok {
		t.Fatal("no JSON serializer")
	}
	codec := codecs.CodecForVersions(json.Serializer, json.Serializer, corev1.SchemeGroupVersion, corev1.SchemeGroupVersion)
	storagetest.RunTests(t, func(t *testing.T) storagetest.Harness {
		h := harness(t, startEtcd(t, "").Client())
		h.Storage = New(Config{Client: h.Storage.(*Store).client, Codec: codec,
			BookmarkInterval: testBookmarkInterval, RevisionWait: testRevisionWait})
		return h
	})
}

func TestDataSurvivesRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etcd")
	open := func() *embedded.Etcd {
		e, err := embedded.Start(t.Context(), embedded.Config{DataDir: dir, Logger: zap.NewNop()})
		if err != nil {
			t.Fatalf("embedded.Start: %v", err)
		}
		return e
	}
	first := open()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "kept", Labels: map[string]string{"a": "b"}}}
	created := &corev1.Pod{}
	if err := newTestStore(first.Client()).Create(t.Context(), "/registry/pods/ns/kept", pod, created); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	second := open()
	defer second.Close()
	got := &corev1.Pod{}
	if err := newTestStore(second.Client()).Get(t.Context(), "/registry/pods/ns/kept", storage.GetOptions{}, got); err != nil {
		t.Fatalf("Get after restart: %v", err)
	}
	if got.ResourceVersion != created.ResourceVersion || got.Labels["a"] != "b" {
		t.Errorf("after restart got rv %s labels %v, want rv %s labels %v", got.ResourceVersion, got.Labels, created.ResourceVersion, pod.Labels)
	}
}
