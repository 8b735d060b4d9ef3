package etcd3

import (
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/navarch/navarch/internal/storage"
)

// TestGuaranteedUpdateCachedStaleGuess checks that an update starting from
// a stale cached object ends as one from a fresh read: applied on the
// current object, tryUpdate's verdict and no-ops taken on it, one write.
func TestGuaranteedUpdateCachedStaleGuess(t *testing.T) {
	s := newTestStore(startEtcd(t, "").Client())
	const key = "/registry/pods/ns/web"
	mk := func(uid string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: types.UID(uid),
			Labels: map[string]string{"app": "v1"}}}
	}
	errRefused := errors.New("refused")
	tests := []struct {
		name          string
		preconditions *storage.Preconditions
		tryUpdate     storage.UpdateFunc
		wantErr       error
		wantWrite     bool
		wantLabels    map[string]string
	}{
		{
			name: "change applies to the current object",
			tryUpdate: func(cur runtime.Object) (runtime.Object, error) {
				cur.(*corev1.Pod).Labels["mine"] = "yes"
				return cur, nil
			},
			wantWrite:  true,
			wantLabels: map[string]string{"app": "v2", "mine": "yes"},
		},
		{
			name: "a refusal of the stale object is asked again of the current one",
			tryUpdate: func(cur runtime.Object) (runtime.Object, error) {
				p := cur.(*corev1.Pod)
				if p.Labels["app"] != "v2" {
					return nil, errRefused
				}
				p.Labels["mine"] = "yes"
				return p, nil
			},
			wantWrite:  true,
			wantLabels: map[string]string{"app": "v2", "mine": "yes"},
		},
		{
			name:       "no change against the stale object writes nothing",
			tryUpdate:  func(cur runtime.Object) (runtime.Object, error) { return cur, nil },
			wantLabels: map[string]string{"app": "v2"},
		},
		{
			name: "a refusal of the current object is returned",
			tryUpdate: func(runtime.Object) (runtime.Object, error) {
				return nil, errRefused
			},
			wantErr: errRefused,
		},
		{
			name:          "preconditions hold on the current object",
			preconditions: storage.NewUIDPreconditions("new"),
			tryUpdate: func(cur runtime.Object) (runtime.Object, error) {
				cur.(*corev1.Pod).Labels["mine"] = "yes"
				return cur, nil
			},
			wantWrite:  true,
			wantLabels: map[string]string{"app": "v2", "mine": "yes"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The cache saw the pod with UID "old"; it was recreated as
			// "new" and changed since.
			if err := s.Delete(t.Context(), key, &corev1.Pod{}, nil, nil); err != nil && !storage.IsNotFound(err) {
				t.Fatal(err)
			}
			stale := &corev1.Pod{}
			if err := s.Create(t.Context(), key, mk("old"), stale); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(t.Context(), key, &corev1.Pod{}, nil, nil); err != nil {
				t.Fatal(err)
			}
			current := &corev1.Pod{}
			if err := s.Create(t.Context(), key, mk("new"), current); err != nil {
				t.Fatal(err)
			}
			err := s.GuaranteedUpdate(t.Context(), key, current, false, nil, func(cur runtime.Object) (runtime.Object, error) {
				cur.(*corev1.Pod).Labels["app"] = "v2"
				return cur, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			before, _ := s.CurrentRevision(t.Context())
			staleCopy := stale.DeepCopy()
			out := &corev1.Pod{}
			err = s.GuaranteedUpdateCached(t.Context(), key, out, false, tc.preconditions, tc.tryUpdate, stale)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("GuaranteedUpdateCached: %v", err)
			}
			after, _ := s.CurrentRevision(t.Context())
			if wrote := after != before; wrote != tc.wantWrite {
				t.Errorf("revision %d -> %d: wrote %v, want %v", before, after, wrote, tc.wantWrite)
			}
			if out.UID != "new" || len(out.Labels) != len(tc.wantLabels) {
				t.Errorf("out = uid %s labels %v, want uid new labels %v", out.UID, out.Labels, tc.wantLabels)
			}
			for k, v := range tc.wantLabels {
				if out.Labels[k] != v {
					t.Errorf("out labels %v, want %v", out.Labels, tc.wantLabels)
				}
			}
			if !tc.wantWrite && out.ResourceVersion != current.ResourceVersion {
				t.Errorf("out rv %s, want the unchanged %s", out.ResourceVersion, current.ResourceVersion)
			}
			if staleCopy.ResourceVersion != stale.ResourceVersion || len(staleCopy.Labels) != len(stale.Labels) {
				t.Errorf("the cached object was modified")
			}
		})
	}
}

func TestWithoutResourceVersion(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", ResourceVersion: "5", Labels: map[string]string{"a": "b"}}}
	stored, release := withoutResourceVersion(p)
	got := stored.(*corev1.Pod)
	if got == p || got.ResourceVersion != "" || got.Labels["a"] != "b" || got.Name != "web" {
		t.Errorf("copy = %p %+v, want a new object without resourceVersion", got, got.ObjectMeta)
	}
	if p.ResourceVersion != "5" {
		t.Errorf("original resourceVersion = %q, want it unchanged", p.ResourceVersion)
	}
	release()
	// The recycled copy holds on to nothing, and the original is intact.
	if got.Name != "" || got.Labels != nil {
		t.Errorf("released copy = %+v, want it zeroed", got.ObjectMeta)
	}
	if p.Name != "web" || p.Labels["a"] != "b" || p.ResourceVersion != "5" {
		t.Errorf("original = %+v, want it unchanged", p.ObjectMeta)
	}
	// An object without an ObjectMeta field is deep-copied.
	u := &unstructured.Unstructured{}
	u.SetName("web")
	u.SetResourceVersion("9")
	storedU, release := withoutResourceVersion(u)
	if storedU == u || storedU.(*unstructured.Unstructured).GetResourceVersion() != "" || u.GetResourceVersion() != "9" {
		t.Errorf("unstructured copy = %v, original %v", storedU, u)
	}
	release()
}

// TestGuaranteedUpdateCachedCurrentGuess checks the no-op test against a
// current cached object, which is measured before it is encoded: an
// update that changes nothing writes nothing, and changes that keep the
// encoding's length (or change it) are written.
func TestGuaranteedUpdateCachedCurrentGuess(t *testing.T) {
	s := newTestStore(startEtcd(t, "").Client())
	const key = "/registry/pods/ns/web"
	cached := &corev1.Pod{}
	if err := s.Create(t.Context(), key, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web",
		Labels: map[string]string{"app": "v1"}}}, cached); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		label     string
		wantWrite bool
	}{
		{"the same label writes nothing", "v1", false},
		{"a label of the same length is written", "v2", true},
		{"a longer label is written", "v10", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := &corev1.Pod{}
			err := s.GuaranteedUpdateCached(t.Context(), key, out, false, nil, func(cur runtime.Object) (runtime.Object, error) {
				cur.(*corev1.Pod).Labels["app"] = tc.label
				return cur, nil
			}, cached)
			if err != nil {
				t.Fatalf("GuaranteedUpdateCached: %v", err)
			}
			if wrote := out.ResourceVersion != cached.ResourceVersion; wrote != tc.wantWrite {
				t.Errorf("resourceVersion %s -> %s: wrote %v, want %v", cached.ResourceVersion, out.ResourceVersion, wrote, tc.wantWrite)
			}
			read := &corev1.Pod{}
			if err := s.Get(t.Context(), key, storage.GetOptions{}, read); err != nil {
				t.Fatal(err)
			}
			if read.Labels["app"] != tc.label || read.ResourceVersion != out.ResourceVersion {
				t.Errorf("stored label %q at %s, want %q at %s", read.Labels["app"], read.ResourceVersion, tc.label, out.ResourceVersion)
			}
			if cached.Labels["app"] != "v1" && tc.name == "the same label writes nothing" {
				t.Errorf("the cached object was modified")
			}
			cached = out
		})
	}
}
