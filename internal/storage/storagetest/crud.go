package storagetest

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/navarch/navarch/internal/storage"
)

func testCreate(t *testing.T, h Harness) {
	s := h.Storage
	t.Run("new key", func(t *testing.T) {
		in := newPod("web", "web", "n1")
		out := create(t, s, in)
		if got, want := revisionOf(t, out), currentRevision(t, s); got != want {
			t.Errorf("created resourceVersion = %d, want the current revision %d", got, want)
		}
		if out.Name != "web" || out.Spec.NodeName != "n1" || out.Labels["app"] != "web" {
			t.Errorf("created object = %s/%s node %q labels %v, want web node n1 app=web", out.Namespace, out.Name, out.Spec.NodeName, out.Labels)
		}
		got := &corev1.Pod{}
		if err := s.Get(t.Context(), podKey(namespace, "web"), storage.GetOptions{}, got); err != nil {
			t.Fatalf("Get: %v", err)
		}
		if got.ResourceVersion != out.ResourceVersion || got.Spec.Containers[0].Image != in.Spec.Containers[0].Image {
			t.Errorf("Get = rv %s image %s, want rv %s image %s", got.ResourceVersion, got.Spec.Containers[0].Image,
				out.ResourceVersion, in.Spec.Containers[0].Image)
		}
	})
	t.Run("existing key", func(t *testing.T) {
		err := s.Create(t.Context(), podKey(namespace, "web"), newPod("web", "other", ""), &corev1.Pod{})
		wantCode(t, "second Create", err, storage.ErrCodeKeyExists)
	})
	t.Run("resourceVersion of the input is not stored", func(t *testing.T) {
		in := newPod("versioned", "web", "")
		in.ResourceVersion = "99999"
		out := create(t, s, in)
		if in.ResourceVersion != "99999" {
			t.Errorf("Create changed the input's resourceVersion to %q", in.ResourceVersion)
		}
		if got, want := revisionOf(t, out), currentRevision(t, s); got != want {
			t.Errorf("resourceVersion = %d, want the revision of the write %d", got, want)
		}
	})
}

func testGet(t *testing.T, h Harness) {
	s := h.Storage
	first := create(t, s, newPod("web", "v1", ""))
	latest := relabel(t, s, "web", "v2")
	future := rv(revisionOf(t, latest) + 100)
	tests := []struct {
		name            string
		key             string
		resourceVersion string
		wantApp         string
		wantCode        storage.ErrorCode
	}{
		{name: "newest", key: podKey(namespace, "web"), wantApp: "v2"},
		{name: "any", key: podKey(namespace, "web"), resourceVersion: "0", wantApp: "v2"},
		{name: "not older than the first write", key: podKey(namespace, "web"), resourceVersion: first.ResourceVersion, wantApp: "v2"},
		{name: "not older than the last write", key: podKey(namespace, "web"), resourceVersion: latest.ResourceVersion, wantApp: "v2"},
		{name: "newer than the store", key: podKey(namespace, "web"), resourceVersion: future, wantCode: storage.ErrCodeResourceVersionTooLarge},
		{name: "not a revision", key: podKey(namespace, "web"), resourceVersion: "abc", wantCode: storage.ErrCodeInvalidResourceVersion},
		{name: "missing key", key: podKey(namespace, "nope"), wantCode: storage.ErrCodeKeyNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := &corev1.Pod{}
			err := s.Get(t.Context(), tc.key, storage.GetOptions{ResourceVersion: tc.resourceVersion}, got)
			if tc.wantCode != 0 {
				wantCode(t, "Get", err, tc.wantCode)
				return
			}
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if got.Labels["app"] != tc.wantApp || got.ResourceVersion != latest.ResourceVersion {
				t.Errorf("Get = app %q rv %s, want app %q rv %s", got.Labels["app"], got.ResourceVersion, tc.wantApp, latest.ResourceVersion)
			}
		})
	}
}

func testCurrentRevision(t *testing.T, h Harness) {
	s := h.Storage
	before := currentRevision(t, s)
	created := create(t, s, newPod("web", "web", ""))
	after := currentRevision(t, s)
	if after <= before || after != revisionOf(t, created) {
		t.Errorf("CurrentRevision = %d before and %d after a write at %s, want it to move to the write's revision",
			before, after, created.ResourceVersion)
	}
}

func testGuaranteedUpdate(t *testing.T, h Harness) {
	s := h.Storage
	create(t, s, newPod("web", "v1", ""))
	errSentinel := errors.New("update refused")
	tests := []struct {
		name           string
		key            string
		ignoreNotFound bool
		tryUpdate      storage.UpdateFunc
		wantCode       storage.ErrorCode
		wantErr        error
		wantApp        string
		wantWrite      bool
	}{
		{
			name: "changes the object",
			key:  podKey(namespace, "web"),
			tryUpdate: func(cur runtime.Object) (runtime.Object, error) {
				cur.(*corev1.Pod).Labels["app"] = "v2"
				return cur, nil
			},
			wantApp:   "v2",
			wantWrite: true,
		},
		{
			name:      "no change writes nothing",
			key:       podKey(namespace, "web"),
			tryUpdate: func(cur runtime.Object) (runtime.Object, error) { return cur, nil },
			wantApp:   "v2",
		},
		{
			name: "an equal new object writes nothing",
			key:  podKey(namespace, "web"),
			tryUpdate: func(cur runtime.Object) (runtime.Object, error) {
				return cur.DeepCopyObject(), nil
			},
			wantApp: "v2",
		},
		{
			name:      "error from tryUpdate is returned as is",
			key:       podKey(namespace, "web"),
			tryUpdate: func(runtime.Object) (runtime.Object, error) { return nil, errSentinel },
			wantErr:   errSentinel,
		},
		{
			name: "missing key",
			key:  podKey(namespace, "nope"),
			tryUpdate: func(cur runtime.Object) (runtime.Object, error) {
				t.Errorf("tryUpdate called for a missing key")
				return cur, nil
			},
			wantCode: storage.ErrCodeKeyNotFound,
		},
		{
			name:           "missing key with ignoreNotFound creates it",
			key:            podKey(namespace, "made"),
			ignoreNotFound: true,
			tryUpdate: func(cur runtime.Object) (runtime.Object, error) {
				if p := cur.(*corev1.Pod); p.Name != "" || p.ResourceVersion != "" {
					t.Errorf("tryUpdate got %s rv %q for a missing key, want a zero object", p.Name, p.ResourceVersion)
				}
				return newPod("made", "made", ""), nil
			},
			wantApp:   "made",
			wantWrite: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := currentRevision(t, s)
			out := &corev1.Pod{}
			err := s.GuaranteedUpdate(t.Context(), tc.key, out, tc.ignoreNotFound, nil, tc.tryUpdate)
			switch {
			case tc.wantCode != 0:
				wantCode(t, "GuaranteedUpdate", err, tc.wantCode)
				return
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("GuaranteedUpdate error = %v, want %v", err, tc.wantErr)
				}
				return
			case err != nil:
				t.Fatalf("GuaranteedUpdate: %v", err)
			}
			after := currentRevision(t, s)
			if out.Labels["app"] != tc.wantApp {
				t.Errorf("out app = %q, want %q", out.Labels["app"], tc.wantApp)
			}
			if tc.wantWrite {
				if after == before || revisionOf(t, out) != after {
					t.Errorf("revision %d -> %d, out rv %s; want one write whose revision out carries", before, after, out.ResourceVersion)
				}
				return
			}
			if after != before {
				t.Errorf("revision %d -> %d; want no write", before, after)
			}
			stored := &corev1.Pod{}
			if err := s.Get(t.Context(), tc.key, storage.GetOptions{}, stored); err != nil {
				t.Fatalf("Get: %v", err)
			}
			if out.ResourceVersion != stored.ResourceVersion {
				t.Errorf("out rv = %s, want the unchanged stored rv %s", out.ResourceVersion, stored.ResourceVersion)
			}
		})
	}
}

func testGuaranteedUpdateRetriesOnConflict(t *testing.T, h Harness) {
	s := h.Storage
	create(t, s, newPod("web", "web", ""))
	calls := 0
	out := &corev1.Pod{}
	err := s.GuaranteedUpdate(t.Context(), podKey(namespace, "web"), out, false, nil,
		func(cur runtime.Object) (runtime.Object, error) {
			calls++
			if calls == 1 {
				// Another writer gets in between this read and its write.
				update(t, s, "web", func(p *corev1.Pod) { p.Labels["other"] = "yes" })
			}
			p := cur.(*corev1.Pod)
			p.Labels["mine"] = "yes"
			return p, nil
		})
	if err != nil {
		t.Fatalf("GuaranteedUpdate: %v", err)
	}
	if calls != 2 {
		t.Errorf("tryUpdate called %d times, want 2 (once more after losing the race)", calls)
	}
	if out.Labels["other"] != "yes" || out.Labels["mine"] != "yes" {
		t.Errorf("labels = %v, want both the other writer's and this one's", out.Labels)
	}
}

func testPreconditions(t *testing.T, h Harness) {
	s := h.Storage
	wrongUID := types.UID("someone-else")
	wrongRV := "1"
	tests := []struct {
		name          string
		preconditions func(current *corev1.Pod) *storage.Preconditions
		wantCode      storage.ErrorCode
	}{
		{name: "none", preconditions: func(*corev1.Pod) *storage.Preconditions { return nil }},
		{name: "matching uid", preconditions: func(p *corev1.Pod) *storage.Preconditions { return storage.NewUIDPreconditions(p.UID) }},
		{name: "matching resourceVersion", preconditions: func(p *corev1.Pod) *storage.Preconditions {
			return &storage.Preconditions{ResourceVersion: &p.ResourceVersion}
		}},
		{name: "both matching", preconditions: func(p *corev1.Pod) *storage.Preconditions {
			return &storage.Preconditions{UID: &p.UID, ResourceVersion: &p.ResourceVersion}
		}},
		{name: "wrong uid", preconditions: func(*corev1.Pod) *storage.Preconditions { return &storage.Preconditions{UID: &wrongUID} },
			wantCode: storage.ErrCodePreconditionFailed},
		{name: "wrong resourceVersion", preconditions: func(*corev1.Pod) *storage.Preconditions {
			return &storage.Preconditions{ResourceVersion: &wrongRV}
		}, wantCode: storage.ErrCodePreconditionFailed},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := "web-" + strconv.Itoa(i)
			key := podKey(namespace, name)
			current := create(t, s, newPod(name, "v1", ""))

			err := s.GuaranteedUpdate(t.Context(), key, &corev1.Pod{}, false, tc.preconditions(current),
				func(cur runtime.Object) (runtime.Object, error) {
					cur.(*corev1.Pod).Labels["app"] = "v2"
					return cur, nil
				})
			if tc.wantCode != 0 {
				wantCode(t, "GuaranteedUpdate", err, tc.wantCode)
			} else if err != nil {
				t.Fatalf("GuaranteedUpdate: %v", err)
			}

			stored := &corev1.Pod{}
			if err := s.Get(t.Context(), key, storage.GetOptions{}, stored); err != nil {
				t.Fatalf("Get: %v", err)
			}
			err = s.Delete(t.Context(), key, &corev1.Pod{}, tc.preconditions(stored), nil)
			if tc.wantCode != 0 {
				wantCode(t, "Delete", err, tc.wantCode)
			} else if err != nil {
				t.Fatalf("Delete: %v", err)
			}
		})
	}
}

func testDelete(t *testing.T, h Harness) {
	s := h.Storage
	create(t, s, newPod("web", "v1", ""))
	last := relabel(t, s, "web", "v2")

	errRefused := errors.New("delete refused")
	err := s.Delete(t.Context(), podKey(namespace, "web"), &corev1.Pod{}, nil,
		func(_ context.Context, cur runtime.Object) error {
			if got := cur.(*corev1.Pod).ResourceVersion; got != last.ResourceVersion {
				t.Errorf("validate got rv %s, want the current %s", got, last.ResourceVersion)
			}
			return errRefused
		})
	if !errors.Is(err, errRefused) {
		t.Fatalf("Delete with a refusing validate = %v, want %v", err, errRefused)
	}

	out := remove(t, s, "web")
	if out.Labels["app"] != "v2" {
		t.Errorf("deleted object app = %q, want the last state's %q", out.Labels["app"], "v2")
	}
	if got, want := revisionOf(t, out), currentRevision(t, s); got != want || got <= revisionOf(t, last) {
		t.Errorf("deleted object rv = %d, want the deleting revision %d (after %s)", got, want, last.ResourceVersion)
	}
	err = s.Get(t.Context(), podKey(namespace, "web"), storage.GetOptions{}, &corev1.Pod{})
	wantCode(t, "Get after Delete", err, storage.ErrCodeKeyNotFound)
	err = s.Delete(t.Context(), podKey(namespace, "web"), &corev1.Pod{}, nil, nil)
	wantCode(t, "second Delete", err, storage.ErrCodeKeyNotFound)
}

func testDeleteRetriesOnConflict(t *testing.T, h Harness) {
	s := h.Storage
	create(t, s, newPod("web", "v1", ""))
	calls := 0
	out := &corev1.Pod{}
	err := s.Delete(t.Context(), podKey(namespace, "web"), out, nil, func(_ context.Context, cur runtime.Object) error {
		calls++
		if calls == 1 {
			relabel(t, s, "web", "v2")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if calls != 2 || out.Labels["app"] != "v2" {
		t.Errorf("validate called %d times, deleted app %q; want 2 calls and the state written in between (v2)", calls, out.Labels["app"])
	}
}

func testConcurrentUpdates(t *testing.T, h Harness) {
	s := h.Storage
	const workers, increments = 20, 5
	key := "/registry/configmaps/" + namespace + "/counter"
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "counter"}, Data: map[string]string{"n": "0"}}
	if err := s.Create(t.Context(), key, cm, &corev1.ConfigMap{}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*increments)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range increments {
				errs <- s.GuaranteedUpdate(t.Context(), key, &corev1.ConfigMap{}, false, nil,
					func(cur runtime.Object) (runtime.Object, error) {
						c := cur.(*corev1.ConfigMap)
						n, err := strconv.Atoi(c.Data["n"])
						if err != nil {
							return nil, err
						}
						c.Data["n"] = strconv.Itoa(n + 1)
						return c, nil
					})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("GuaranteedUpdate: %v", err)
		}
	}
	got := &corev1.ConfigMap{}
	if err := s.Get(t.Context(), key, storage.GetOptions{}, got); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if want := strconv.Itoa(workers * increments); got.Data["n"] != want {
		t.Errorf("counter = %s, want %s", got.Data["n"], want)
	}
}

func testConcurrentCreate(t *testing.T, h Harness) {
	s := h.Storage
	const racers = 10
	results := make(chan error, racers)
	for i := range racers {
		go func() {
			results <- s.Create(t.Context(), podKey(namespace, "contested"), newPod("contested", strconv.Itoa(i), ""), &corev1.Pod{})
		}()
	}
	wins, exists := 0, 0
	for range racers {
		switch err := <-results; {
		case err == nil:
			wins++
		case storage.IsExists(err):
			exists++
		default:
			t.Errorf("Create: %v", err)
		}
	}
	if wins != 1 || exists != racers-1 {
		t.Errorf("%d creates won and %d found the key, want 1 and %d", wins, exists, racers-1)
	}
}
