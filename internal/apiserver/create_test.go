package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/navarch/navarch/internal/registry/builtin"
	"github.com/navarch/navarch/internal/storage"
)

// collidingStore answers the first collisions creates under prefix with
// KeyExists, as a store does whose key is taken, and records every key a
// create asked for.
type collidingStore struct {
	storage.Interface
	prefix     string
	collisions int
	keys       []string
}

func (s *collidingStore) Create(ctx context.Context, key string, obj, out runtime.Object) error {
	if !strings.HasPrefix(key, s.prefix) {
		return s.Interface.Create(ctx, key, obj, out)
	}
	s.keys = append(s.keys, key)
	if len(s.keys) <= s.collisions {
		return storage.NewError(storage.ErrCodeKeyExists, key, 0, "")
	}
	return s.Interface.Create(ctx, key, obj, out)
}

// TestCreateRetriesTakenGeneratedName checks that a create whose
// generated name is taken tries new names, up to upstream's 8 attempts,
// and that a name the client chose is never replaced.
func TestCreateRetriesTakenGeneratedName(t *testing.T) {
	post := func(t *testing.T, store storage.Interface, cm *corev1.ConfigMap) (*corev1.ConfigMap, *httptest.ResponseRecorder) {
		t.Helper()
		s, err := New(Config{Storage: store, Kinds: builtin.Kinds()})
		if err != nil {
			t.Fatal(err)
		}
		s.SetReady()
		if w := postJSON(t, s.Handler(), "/api/v1/namespaces", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}); w.Code != http.StatusCreated {
			t.Fatalf("creating the namespace: %d %s", w.Code, w.Body.String())
		}
		w := postJSON(t, s.Handler(), "/api/v1/namespaces/default/configmaps", cm)
		if w.Code != http.StatusCreated {
			return nil, w
		}
		got := &corev1.ConfigMap{}
		if err := json.Unmarshal(w.Body.Bytes(), got); err != nil {
			t.Fatal(err)
		}
		return got, w
	}
	const prefix = "/registry/configmaps/default/"
	generated := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: "gen-"},
	}

	t.Run("taken three times", func(t *testing.T) {
		store := &collidingStore{Interface: etcdStore(t), prefix: prefix, collisions: 3}
		got, w := post(t, store, generated)
		if got == nil {
			t.Fatalf("POST: %d %s, want 201", w.Code, w.Body.String())
		}
		if len(store.keys) != 4 {
			t.Fatalf("%d creates (%v), want 4", len(store.keys), store.keys)
		}
		seen := map[string]bool{}
		for _, k := range store.keys {
			if seen[k] || !strings.HasPrefix(k, prefix+"gen-") || len(k) != len(prefix+"gen-")+5 {
				t.Errorf("create of key %q: want a new gen-XXXXX each time", k)
			}
			seen[k] = true
		}
		if want := prefix + got.Name; store.keys[3] != want {
			t.Errorf("answered %q, the last key tried was %q", got.Name, store.keys[3])
		}
	})

	t.Run("taken every time", func(t *testing.T) {
		store := &collidingStore{Interface: etcdStore(t), prefix: prefix, collisions: 100}
		if got, w := post(t, store, generated); got != nil || w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), `"reason":"AlreadyExists"`) {
			t.Fatalf("POST: %d %s, want 409 AlreadyExists", w.Code, w.Body.String())
		}
		if len(store.keys) != maxNameGenerationAttempts {
			t.Errorf("%d creates, want %d", len(store.keys), maxNameGenerationAttempts)
		}
	})

	t.Run("name chosen by the client", func(t *testing.T) {
		store := &collidingStore{Interface: etcdStore(t), prefix: prefix, collisions: 1}
		named := generated.DeepCopy()
		named.Name = "mine"
		if got, w := post(t, store, named); got != nil || w.Code != http.StatusConflict {
			t.Fatalf("POST: %d %s, want 409", w.Code, w.Body.String())
		}
		if len(store.keys) != 1 {
			t.Errorf("%d creates (%v), want 1", len(store.keys), store.keys)
		}
	})
}

// postJSON POSTs obj, encoded in JSON as v1, to path on h.
func postJSON(tb testing.TB, h http.Handler, path string, obj runtime.Object) *httptest.ResponseRecorder {
	tb.Helper()
	info, _ := serializerFor(runtime.ContentTypeJSON)
	data, err := runtime.Encode(codecFor(info, corev1.SchemeGroupVersion), obj)
	if err != nil {
		tb.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(data))
	r.Header.Set("Content-Type", runtime.ContentTypeJSON)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}
