package apiserver

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/navarch/navarch/internal/api"
	"github.com/navarch/navarch/internal/registry/builtin"
	"github.com/navarch/navarch/internal/storage"
	"github.com/navarch/navarch/internal/storage/embedded"
	"github.com/navarch/navarch/internal/storage/etcd3"
)

// etcdStore returns a store on an embedded etcd of its own, closed when
// the test ends.
func etcdStore(tb testing.TB) storage.Interface {
	tb.Helper()
	etcd, err := embedded.Start(context.Background(), embedded.Config{DataDir: tb.TempDir(), Logger: zap.NewNop()})
	if err != nil {
		tb.Fatalf("embedded.Start: %v", err)
	}
	tb.Cleanup(func() { _ = etcd.Close() })
	return etcd3.New(etcd3.Config{Client: etcd.Client(), Codec: etcd3.NewCodec(api.Scheme)})
}

// retryingStore runs every update's tryUpdate twice, as a store does that
// lost a race to a concurrent write: the first result is dropped, the
// second written. It records what each attempt returned.
type retryingStore struct {
	storage.Interface
	attempts []runtime.Object
}

func (s *retryingStore) GuaranteedUpdate(ctx context.Context, key string, out runtime.Object, ignoreNotFound bool,
	preconditions *storage.Preconditions, tryUpdate storage.UpdateFunc) error {
	return s.Interface.GuaranteedUpdate(ctx, key, out, ignoreNotFound, preconditions, func(current runtime.Object) (runtime.Object, error) {
		lost, err := tryUpdate(current.DeepCopyObject())
		if err != nil {
			return nil, err
		}
		s.attempts = append(s.attempts, lost)
		written, err := tryUpdate(current)
		if err == nil {
			s.attempts = append(s.attempts, written)
		}
		return written, err
	})
}

// TestUpdateRetryDecodesBodyAgain checks that a PUT whose write is retried
// hands each attempt an object of its own made from the body: the update
// rules of the lost attempt do not leak into the written one.
func TestUpdateRetryDecodesBodyAgain(t *testing.T) {
	store := &retryingStore{Interface: etcdStore(t)}
	s, err := New(Config{Storage: store, Kinds: builtin.Kinds()})
	if err != nil {
		t.Fatal(err)
	}
	s.SetReady()
	h := s.Handler()
	do := func(method, path string, obj runtime.Object, code int) []byte {
		t.Helper()
		info, _ := serializerFor(runtime.ContentTypeProtobuf)
		data, err := runtime.Encode(codecFor(info, corev1.SchemeGroupVersion), obj)
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest(method, path, bytes.NewReader(data))
		r.Header.Set("Content-Type", runtime.ContentTypeProtobuf)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != code {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, w.Code, code, w.Body.String())
		}
		return w.Body.Bytes()
	}
	do(http.MethodPost, "/api/v1/namespaces", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}}, http.StatusCreated)
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:1"}}},
	}
	do(http.MethodPost, "/api/v1/namespaces/ns/pods", pod, http.StatusCreated)
	// The body names no namespace: the server fills it in, on every attempt.
	update := pod.DeepCopy()
	update.Namespace = ""
	update.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.0.7"}
	do(http.MethodPut, "/api/v1/namespaces/ns/pods/web/status", update, http.StatusOK)

	if len(store.attempts) != 2 {
		t.Fatalf("%d attempts recorded, want 2", len(store.attempts))
	}
	if store.attempts[0] == store.attempts[1] {
		t.Errorf("both attempts returned the same object %p", store.attempts[0])
	}
	for i, a := range store.attempts {
		p := a.(*corev1.Pod)
		if p.Namespace != "ns" || p.Status.Phase != corev1.PodRunning || p.Status.PodIP != "10.244.0.7" {
			t.Errorf("attempt %d wrote %s/%s phase %s podIP %s, want ns/web Running 10.244.0.7", i, p.Namespace, p.Name, p.Status.Phase, p.Status.PodIP)
		}
	}
	read := &corev1.Pod{}
	if err := store.Get(context.Background(), "/registry/pods/ns/web", storage.GetOptions{}, read); err != nil {
		t.Fatal(err)
	}
	if read.Status.Phase != corev1.PodRunning || read.Status.PodIP != "10.244.0.7" {
		t.Errorf("stored status %+v, want Running at 10.244.0.7", read.Status)
	}
}
