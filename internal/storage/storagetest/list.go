package storagetest

import (
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/navarch/navarch/internal/storage"
)

func names(list *corev1.PodList) []string {
	out := []string{}
	for _, p := range list.Items {
		out = append(out, p.Name)
	}
	return out
}

// createPods creates pods p00..p<n-1>; every third (p00, p03, ...) has
// app=web, the others app=db.
func createPods(t *testing.T, s storage.Interface, n int) (web []string) {
	t.Helper()
	for i := range n {
		name := fmt.Sprintf("p%02d", i)
		app := "db"
		if i%3 == 0 {
			app = "web"
			web = append(web, name)
		}
		create(t, s, newPod(name, app, ""))
	}
	return web
}

func testListSelectors(t *testing.T, h Harness) {
	s := h.Storage
	create(t, s, newPod("a-web-n1", "web", "n1"))
	create(t, s, newPod("b-web-n2", "web", "n2"))
	create(t, s, newPod("c-db-n1", "db", "n1"))
	create(t, s, newPod("d-db-n2", "db", "n2"))
	// A neighbouring namespace whose name extends the suite's.
	other := newPod("e-web-n1", "web", "n1")
	other.Namespace = namespace + "2"
	create(t, s, other)

	tests := []struct {
		name   string
		prefix string
		pred   func(t *testing.T) storage.Predicate
		want   []string
	}{
		{name: "everything in the directory", prefix: podsDir,
			pred: func(*testing.T) storage.Predicate { return storage.Predicate{} },
			want: []string{"a-web-n1", "b-web-n2", "c-db-n1", "d-db-n2"}},
		{name: "directory without trailing slash", prefix: "/registry/pods/" + namespace,
			pred: func(*testing.T) storage.Predicate { return storage.Predicate{} },
			want: []string{"a-web-n1", "b-web-n2", "c-db-n1", "d-db-n2"}},
		{name: "every namespace", prefix: "/registry/pods",
			pred: func(*testing.T) storage.Predicate { return storage.Predicate{} },
			want: []string{"a-web-n1", "b-web-n2", "c-db-n1", "d-db-n2", "e-web-n1"}},
		{name: "label selector", prefix: podsDir,
			pred: func(t *testing.T) storage.Predicate { return labelSelector(t, "app=web") },
			want: []string{"a-web-n1", "b-web-n2"}},
		{name: "set-based label selector", prefix: podsDir,
			pred: func(t *testing.T) storage.Predicate { return labelSelector(t, "app notin (web)") },
			want: []string{"c-db-n1", "d-db-n2"}},
		{name: "field selector", prefix: podsDir,
			pred: func(t *testing.T) storage.Predicate { return fieldSelector(t, "spec.nodeName=n1") },
			want: []string{"a-web-n1", "c-db-n1"}},
		{name: "label and field selectors", prefix: podsDir,
			pred: func(t *testing.T) storage.Predicate {
				p := fieldSelector(t, "spec.nodeName=n2")
				p.Label = labels.SelectorFromSet(labels.Set{"app": "db"})
				return p
			},
			want: []string{"d-db-n2"}},
		{name: "nothing matches", prefix: podsDir,
			pred: func(t *testing.T) storage.Predicate { return labelSelector(t, "app=cache") },
			want: []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			list := &corev1.PodList{}
			if err := s.List(t.Context(), tc.prefix, storage.ListOptions{Predicate: tc.pred(t)}, list); err != nil {
				t.Fatalf("List: %v", err)
			}
			if diff := cmp.Diff(tc.want, names(list)); diff != "" {
				t.Errorf("listed names (-want +got):\n%s", diff)
			}
			if got, want := revisionOf(t, list), currentRevision(t, s); got != want {
				t.Errorf("list resourceVersion = %d, want the current revision %d", got, want)
			}
			for _, p := range list.Items {
				if p.ResourceVersion == "" {
					t.Errorf("item %s has no resourceVersion", p.Name)
				}
			}
		})
	}
}

// page is what one List call of a paged walk returned.
type page struct {
	Names     []string
	Remaining *int64
	More      bool
}

// listPages walks a paged list to its end, checking that every page is
// read at the first page's revision, and returns the pages.
func listPages(t *testing.T, s storage.Interface, pred storage.Predicate, between func()) []page {
	t.Helper()
	var pages []page
	var listRV string
	for {
		list := &corev1.PodList{}
		if err := s.List(t.Context(), podsDir, storage.ListOptions{Predicate: pred}, list); err != nil {
			t.Fatalf("List page %d: %v", len(pages)+1, err)
		}
		if listRV == "" {
			listRV = list.ResourceVersion
		} else if list.ResourceVersion != listRV {
			t.Errorf("page %d resourceVersion = %s, want the first page's %s", len(pages)+1, list.ResourceVersion, listRV)
		}
		pages = append(pages, page{Names: names(list), Remaining: list.RemainingItemCount, More: list.Continue != ""})
		if list.Continue == "" || len(pages) > 100 {
			return pages
		}
		pred.Continue = list.Continue
		if between != nil {
			between()
		}
	}
}

func ptr(n int64) *int64 { return &n }

func testListPaging(t *testing.T, h Harness) {
	s := h.Storage
	createPods(t, s, 10)
	written := false
	pages := listPages(t, s, storage.Predicate{Limit: 3}, func() {
		if written {
			return
		}
		written = true
		// Changes after the first page stay out of the later ones.
		create(t, s, newPod("p99", "web", ""))
		remove(t, s, "p05")
	})
	want := []page{
		{Names: []string{"p00", "p01", "p02"}, Remaining: ptr(7), More: true},
		{Names: []string{"p03", "p04", "p05"}, Remaining: ptr(4), More: true},
		{Names: []string{"p06", "p07", "p08"}, Remaining: ptr(1), More: true},
		{Names: []string{"p09"}},
	}
	if diff := cmp.Diff(want, pages); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}

	t.Run("limit beyond the end", func(t *testing.T) {
		pages := listPages(t, s, storage.Predicate{Limit: 100}, nil)
		if len(pages) != 1 || pages[0].More || pages[0].Remaining != nil || len(pages[0].Names) != 10 {
			t.Errorf("pages = %+v, want one page of 10 without continue or remaining count", pages)
		}
	})
	t.Run("limit equal to the count", func(t *testing.T) {
		pages := listPages(t, s, storage.Predicate{Limit: 10}, nil)
		if len(pages) != 1 || pages[0].More || len(pages[0].Names) != 10 {
			t.Errorf("pages = %+v, want one page of 10 without continue", pages)
		}
	})
}

func testListPagingWithSelector(t *testing.T, h Harness) {
	s := h.Storage
	web := createPods(t, s, 20) // p00 p03 p06 p09 p12 p15 p18
	pred := labelSelector(t, "app=web")
	pred.Limit = 2
	pages := listPages(t, s, pred, nil)
	var got []string
	for i, p := range pages {
		got = append(got, p.Names...)
		if p.Remaining != nil {
			t.Errorf("page %d remainingItemCount = %d, want none with a selector", i+1, *p.Remaining)
		}
		if p.More && len(p.Names) != 2 {
			t.Errorf("page %d has %d items and a continue token; a selector must not leave pages short", i+1, len(p.Names))
		}
	}
	if diff := cmp.Diff(web, got); diff != "" {
		t.Errorf("names across pages (-want +got):\n%s", diff)
	}
	if len(pages) < 4 {
		t.Errorf("%d pages for %d items with limit 2, want at least 4", len(pages), len(web))
	}
}

func testListContinueAfterCompaction(t *testing.T, h Harness) {
	s := h.Storage
	createPods(t, s, 5)
	first := &corev1.PodList{}
	if err := s.List(t.Context(), podsDir, storage.ListOptions{Predicate: storage.Predicate{Limit: 2}}, first); err != nil {
		t.Fatalf("List: %v", err)
	}
	if first.Continue == "" {
		t.Fatal("first page has no continue token")
	}
	create(t, s, newPod("later", "web", ""))
	h.Compact(currentRevision(t, s))
	err := s.List(t.Context(), podsDir, storage.ListOptions{Predicate: storage.Predicate{Limit: 2, Continue: first.Continue}}, &corev1.PodList{})
	wantCode(t, "List with a compacted continue token", err, storage.ErrCodeExpired)
}

func testListInvalidContinue(t *testing.T, h Harness) {
	s := h.Storage
	createPods(t, s, 3)
	valid := &corev1.PodList{}
	if err := s.List(t.Context(), podsDir, storage.ListOptions{Predicate: storage.Predicate{Limit: 1}}, valid); err != nil {
		t.Fatalf("List: %v", err)
	}
	tests := []struct {
		name            string
		token           string
		resourceVersion string
	}{
		{name: "not base64", token: "%%%not-base64%%%"},
		{name: "not json", token: base64.RawURLEncoding.EncodeToString([]byte("hello"))},
		{name: "empty object", token: base64.RawURLEncoding.EncodeToString([]byte("{}"))},
		{name: "unknown version", token: base64.RawURLEncoding.EncodeToString([]byte(`{"v":"v9","rv":5,"start":"x"}`))},
		{name: "with a resourceVersion", token: valid.Continue, resourceVersion: valid.ResourceVersion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := storage.ListOptions{ResourceVersion: tc.resourceVersion, Predicate: storage.Predicate{Limit: 1, Continue: tc.token}}
			err := s.List(t.Context(), podsDir, opts, &corev1.PodList{})
			wantCode(t, "List", err, storage.ErrCodeInvalidContinue)
		})
	}
}

func testListAtResourceVersion(t *testing.T, h Harness) {
	s := h.Storage
	a := create(t, s, newPod("a", "web", ""))
	b := create(t, s, newPod("b", "web", ""))
	deleted := remove(t, s, "a")
	revA, revB, revDel := revisionOf(t, a), revisionOf(t, b), revisionOf(t, deleted)
	future := rv(revDel + 100)

	tests := []struct {
		name            string
		resourceVersion string
		match           metav1.ResourceVersionMatch
		limit           int64
		want            []string
		wantRV          int64 // 0: the current revision
		wantCode        storage.ErrorCode
	}{
		{name: "exact first write", resourceVersion: rv(revA), match: metav1.ResourceVersionMatchExact, want: []string{"a"}, wantRV: revA},
		{name: "exact second write", resourceVersion: rv(revB), match: metav1.ResourceVersionMatchExact, want: []string{"a", "b"}, wantRV: revB},
		{name: "exact with a limit", resourceVersion: rv(revB), match: metav1.ResourceVersionMatchExact, limit: 1, want: []string{"a"}, wantRV: revB},
		{name: "exact after the delete", resourceVersion: rv(revDel), match: metav1.ResourceVersionMatchExact, want: []string{"b"}, wantRV: revDel},
		{name: "not older than", resourceVersion: rv(revA), match: metav1.ResourceVersionMatchNotOlderThan, want: []string{"b"}},
		{name: "rv without match", resourceVersion: rv(revA), want: []string{"b"}},
		{name: "any", resourceVersion: "0", want: []string{"b"}},
		{name: "newest", want: []string{"b"}},
		{name: "exact in the future", resourceVersion: future, match: metav1.ResourceVersionMatchExact, wantCode: storage.ErrCodeResourceVersionTooLarge},
		{name: "not older than the future", resourceVersion: future, match: metav1.ResourceVersionMatchNotOlderThan, wantCode: storage.ErrCodeResourceVersionTooLarge},
		{name: "not a revision", resourceVersion: "x1", wantCode: storage.ErrCodeInvalidResourceVersion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			list := &corev1.PodList{}
			opts := storage.ListOptions{ResourceVersion: tc.resourceVersion, ResourceVersionMatch: tc.match, Predicate: storage.Predicate{Limit: tc.limit}}
			err := s.List(t.Context(), podsDir, opts, list)
			if tc.wantCode != 0 {
				wantCode(t, "List", err, tc.wantCode)
				return
			}
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if diff := cmp.Diff(tc.want, names(list)); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
			wantRV := tc.wantRV
			if wantRV == 0 {
				wantRV = currentRevision(t, s)
			}
			if got := revisionOf(t, list); got != wantRV {
				t.Errorf("list resourceVersion = %d, want %d", got, wantRV)
			}
		})
	}

	t.Run("exact after compaction", func(t *testing.T) {
		h.Compact(revDel)
		opts := storage.ListOptions{ResourceVersion: rv(revA), ResourceVersionMatch: metav1.ResourceVersionMatchExact}
		err := s.List(t.Context(), podsDir, opts, &corev1.PodList{})
		wantCode(t, "List at a compacted revision", err, storage.ErrCodeExpired)
	})
}
