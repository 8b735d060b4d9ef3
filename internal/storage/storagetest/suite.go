package storagetest

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/navarch/navarch/internal/storage"
)

// Harness is one fresh, empty store under test.
type Harness struct {
	// Storage is the implementation under test. It stores the
	// k8s.io/api core/v1 types.
	Storage storage.Interface
	// Compact discards the history before rev, as etcd compaction does,
	// and fails the test if it cannot.
	Compact func(rev int64)
	// BookmarkInterval is how often the store sends bookmarks to idle
	// watches; the suite waits a few of these for one. Keep it short.
	BookmarkInterval time.Duration
}

// RunTests runs the contract suite; newStore is called once per subtest
// and must return a store that holds no keys. Subtests run one at a time:
// one of them counts goroutines.
func RunTests(t *testing.T, newStore func(t *testing.T) Harness) {
	tests := []struct {
		name string
		run  func(t *testing.T, h Harness)
	}{
		{"Create", testCreate},
		{"Get", testGet},
		{"CurrentRevision", testCurrentRevision},
		{"GuaranteedUpdate", testGuaranteedUpdate},
		{"GuaranteedUpdateRetriesOnConflict", testGuaranteedUpdateRetriesOnConflict},
		{"Preconditions", testPreconditions},
		{"Delete", testDelete},
		{"DeleteRetriesOnConflict", testDeleteRetriesOnConflict},
		{"ConcurrentUpdatesLoseNothing", testConcurrentUpdates},
		{"ConcurrentCreateOneWins", testConcurrentCreate},
		{"ListSelectors", testListSelectors},
		{"ListPaging", testListPaging},
		{"ListPagingWithSelector", testListPagingWithSelector},
		{"ListContinueAfterCompaction", testListContinueAfterCompaction},
		{"ListInvalidContinue", testListInvalidContinue},
		{"ListAtResourceVersion", testListAtResourceVersion},
		{"WatchFromResourceVersion", testWatchFromResourceVersion},
		{"WatchSyntheticAdds", testWatchSyntheticAdds},
		{"WatchSendInitialEvents", testWatchSendInitialEvents},
		{"WatchBookmarks", testWatchBookmarks},
		{"WatchFilterTransitions", testWatchFilterTransitions},
		{"WatchSingleKey", testWatchSingleKey},
		{"WatchAfterCompaction", testWatchAfterCompaction},
		{"WatchManyWatchers", testWatchManyWatchers},
		{"WatchStopReleasesGoroutines", testWatchStopReleasesGoroutines},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newStore(t))
		})
	}
}

// namespace of the suite's objects; other namespaces appear only to test
// that a list or watch stays inside its directory.
const namespace = "suite"

func podKey(ns, name string) string { return "/registry/pods/" + ns + "/" + name }

// podsDir is the directory of the suite's pods, as the API server names it.
const podsDir = "/registry/pods/" + namespace + "/"

func newPod(name, app, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: namespace,
			Name:      name,
			UID:       types.UID("uid-" + name),
			Labels:    map[string]string{"app": app},
		},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "main", Image: "registry.example/" + app + ":1"}},
		},
	}
}

// podAttrs is the GetAttrs of pods: their labels, and the fields the API
// server lets a selector name.
func podAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil, errors.New("storagetest: not a pod")
	}
	return labels.Set(pod.Labels), fields.Set{
		"metadata.name":      pod.Name,
		"metadata.namespace": pod.Namespace,
		"spec.nodeName":      pod.Spec.NodeName,
		"status.phase":       string(pod.Status.Phase),
	}, nil
}

func labelSelector(t *testing.T, s string) storage.Predicate {
	t.Helper()
	sel, err := labels.Parse(s)
	if err != nil {
		t.Fatalf("labels.Parse(%q): %v", s, err)
	}
	return storage.Predicate{Label: sel, GetAttrs: podAttrs}
}

func fieldSelector(t *testing.T, s string) storage.Predicate {
	t.Helper()
	sel, err := fields.ParseSelector(s)
	if err != nil {
		t.Fatalf("fields.ParseSelector(%q): %v", s, err)
	}
	return storage.Predicate{Field: sel, GetAttrs: podAttrs}
}

func newPodObject() runtime.Object { return &corev1.Pod{} }

// create stores pod under its key and returns what the store returned.
func create(t *testing.T, s storage.Interface, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	out := &corev1.Pod{}
	if err := s.Create(t.Context(), podKey(pod.Namespace, pod.Name), pod, out); err != nil {
		t.Fatalf("Create %s: %v", pod.Name, err)
	}
	return out
}

// relabel sets the app label of a stored pod and returns the result.
func relabel(t *testing.T, s storage.Interface, name, app string) *corev1.Pod {
	t.Helper()
	return update(t, s, name, func(p *corev1.Pod) { p.Labels["app"] = app })
}

func update(t *testing.T, s storage.Interface, name string, change func(*corev1.Pod)) *corev1.Pod {
	t.Helper()
	out := &corev1.Pod{}
	err := s.GuaranteedUpdate(t.Context(), podKey(namespace, name), out, false, nil,
		func(current runtime.Object) (runtime.Object, error) {
			p := current.(*corev1.Pod)
			change(p)
			return p, nil
		})
	if err != nil {
		t.Fatalf("GuaranteedUpdate %s: %v", name, err)
	}
	return out
}

func remove(t *testing.T, s storage.Interface, name string) *corev1.Pod {
	t.Helper()
	out := &corev1.Pod{}
	if err := s.Delete(t.Context(), podKey(namespace, name), out, nil, nil); err != nil {
		t.Fatalf("Delete %s: %v", name, err)
	}
	return out
}

func currentRevision(t *testing.T, s storage.Interface) int64 {
	t.Helper()
	rev, err := s.CurrentRevision(t.Context())
	if err != nil {
		t.Fatalf("CurrentRevision: %v", err)
	}
	return rev
}

// revisionOf returns the resourceVersion of an object or a list as a
// number.
func revisionOf(t *testing.T, obj runtime.Object) int64 {
	t.Helper()
	var resourceVersion string
	if list, err := meta.ListAccessor(obj); err == nil {
		resourceVersion = list.GetResourceVersion()
	} else if accessor, err := meta.Accessor(obj); err == nil {
		resourceVersion = accessor.GetResourceVersion()
	} else {
		t.Fatalf("%T has no resourceVersion: %v", obj, err)
	}
	rev, err := strconv.ParseInt(resourceVersion, 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion of %T = %q, not a revision", obj, resourceVersion)
	}
	return rev
}

func rv(rev int64) string { return strconv.FormatInt(rev, 10) }

// wantCode fails the test unless err is a storage error with code want.
func wantCode(t *testing.T, what string, err error, want storage.ErrorCode) {
	t.Helper()
	if got := storage.CodeOf(err); got != want {
		t.Fatalf("%s: error %v (code %d), want code %d", what, err, got, want)
	}
}

// eventually polls cond until it holds, and reports whether it did before
// the timeout.
func eventually(t *testing.T, timeout time.Duration, cond func() bool) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	ticker := time.NewTicker(10 * time.Millisecond)
	defer ticker.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return false
		case <-ticker.C:
		}
	}
	return true
}
