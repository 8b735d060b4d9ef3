package storagetest

import (
	"context"
	"fmt"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/navarch/navarch/internal/storage"
)

// eventTimeout bounds the wait for an event that must come.
const eventTimeout = 10 * time.Second

// event is what the suite compares of a watch.Event.
type event struct {
	Type watch.EventType
	Name string
	App  string
	RV   string
}

func summarize(t *testing.T, e watch.Event) event {
	t.Helper()
	return describe(e)
}

// describe summarizes a pod event; an event of anything else gets a Name
// that says what it carries, so that comparing it fails readably.
func describe(e watch.Event) event {
	obj := e.Object
	if c, ok := obj.(k8sruntime.CacheableObject); ok {
		// A cache shares the object; the copy is ours.
		obj = c.GetObject()
	}
	switch obj := obj.(type) {
	case *corev1.Pod:
		return event{Type: e.Type, Name: obj.Name, App: obj.Labels["app"], RV: obj.ResourceVersion}
	case *metav1.Status:
		return event{Type: e.Type, Name: fmt.Sprintf("status %d %s: %s", obj.Code, obj.Reason, obj.Message)}
	default:
		return event{Type: e.Type, Name: fmt.Sprintf("a %T", obj)}
	}
}

func startWatch(t *testing.T, s storage.Interface, prefix string, opts storage.ListOptions) watch.Interface {
	t.Helper()
	w, err := s.Watch(t.Context(), prefix, opts)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	t.Cleanup(w.Stop)
	return w
}

// next returns the next event, failing the test when none comes in time or
// the stream ends.
func next(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case e, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch ended; want another event")
		}
		return e
	case <-time.After(eventTimeout):
		t.Fatalf("no watch event within %v", eventTimeout)
		return watch.Event{}
	}
}

// nextChange is next, skipping bookmarks.
func nextChange(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	for {
		if e := next(t, w); e.Type != watch.Bookmark {
			return e
		}
	}
}

func expectEvents(t *testing.T, w watch.Interface, want []event) {
	t.Helper()
	var got []event
	for range want {
		got = append(got, summarize(t, nextChange(t, w)))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// expectEnd waits for the stream to close.
func expectEnd(t *testing.T, w watch.Interface) {
	t.Helper()
	deadline := time.After(eventTimeout)
	for {
		select {
		case e, ok := <-w.ResultChan():
			if !ok {
				return
			}
			if e.Type != watch.Bookmark {
				t.Errorf("got a %s event, want the stream to end", e.Type)
			}
		case <-deadline:
			t.Fatalf("watch did not end within %v", eventTimeout)
		}
	}
}

// expectClosed waits for a stopped stream to close, discarding what it
// still had buffered.
func expectClosed(t *testing.T, w watch.Interface) {
	t.Helper()
	deadline := time.After(eventTimeout)
	for {
		select {
		case _, ok := <-w.ResultChan():
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("stopped watch still open after %v", eventTimeout)
		}
	}
}

func testWatchFromResourceVersion(t *testing.T, h Harness) {
	s := h.Storage
	created := create(t, s, newPod("web", "v1", ""))
	v2 := relabel(t, s, "web", "v2")

	t.Run("replays changes after the revision", func(t *testing.T) {
		w := startWatch(t, s, podsDir, storage.ListOptions{ResourceVersion: created.ResourceVersion})
		expectEvents(t, w, []event{{watch.Modified, "web", "v2", v2.ResourceVersion}})
	})
	t.Run("streams new changes", func(t *testing.T) {
		w := startWatch(t, s, podsDir, storage.ListOptions{ResourceVersion: v2.ResourceVersion})
		v3 := relabel(t, s, "web", "v3")
		deleted := remove(t, s, "web")
		other := create(t, s, newPod("other", "db", ""))
		expectEvents(t, w, []event{
			{watch.Modified, "web", "v3", v3.ResourceVersion},
			{watch.Deleted, "web", "v3", deleted.ResourceVersion},
			{watch.Added, "other", "db", other.ResourceVersion},
		})
	})
	t.Run("ends with its context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		w, err := s.Watch(ctx, podsDir, storage.ListOptions{ResourceVersion: v2.ResourceVersion})
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		cancel()
		expectEnd(t, w)
	})
}

func testWatchSyntheticAdds(t *testing.T, h Harness) {
	s := h.Storage
	a := create(t, s, newPod("a", "web", ""))
	b := create(t, s, newPod("b", "db", ""))
	for _, resourceVersion := range []string{"", "0"} {
		t.Run(fmt.Sprintf("resourceVersion %q", resourceVersion), func(t *testing.T) {
			w := startWatch(t, s, podsDir, storage.ListOptions{ResourceVersion: resourceVersion})
			c := create(t, s, newPod("c"+resourceVersion, "web", ""))
			expectEvents(t, w, []event{
				{watch.Added, "a", "web", a.ResourceVersion},
				{watch.Added, "b", "db", b.ResourceVersion},
				{watch.Added, c.Name, "web", c.ResourceVersion},
			})
			remove(t, s, c.Name)
		})
	}
	t.Run("with a selector", func(t *testing.T) {
		w := startWatch(t, s, podsDir, storage.ListOptions{Predicate: labelSelector(t, "app=db")})
		d := create(t, s, newPod("d", "db", ""))
		expectEvents(t, w, []event{
			{watch.Added, "b", "db", b.ResourceVersion},
			{watch.Added, "d", "db", d.ResourceVersion},
		})
	})
	t.Run("SendInitialEvents false", func(t *testing.T) {
		no := false
		w := startWatch(t, s, podsDir, storage.ListOptions{SendInitialEvents: &no})
		e := create(t, s, newPod("e", "db", ""))
		expectEvents(t, w, []event{{watch.Added, "e", "db", e.ResourceVersion}})
	})
}

func testWatchSendInitialEvents(t *testing.T, h Harness) {
	s := h.Storage
	a := create(t, s, newPod("a", "web", ""))
	b := create(t, s, newPod("b", "web", ""))
	yes := true
	tests := []struct {
		name            string
		resourceVersion string
	}{
		{name: "newest", resourceVersion: ""},
		{name: "any", resourceVersion: "0"},
		{name: "not older than a revision", resourceVersion: a.ResourceVersion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			listRV := currentRevision(t, s)
			w := startWatch(t, s, podsDir, storage.ListOptions{
				ResourceVersion:     tc.resourceVersion,
				SendInitialEvents:   &yes,
				AllowWatchBookmarks: true,
				NewObject:           newPodObject,
			})
			expectEvents(t, w, []event{
				{watch.Added, "a", "web", a.ResourceVersion},
				{watch.Added, "b", "web", b.ResourceVersion},
			})
			e := next(t, w)
			pod, ok := e.Object.(*corev1.Pod)
			if e.Type != watch.Bookmark || !ok {
				t.Fatalf("after the initial events got %s %T, want a Bookmark of a *corev1.Pod", e.Type, e.Object)
			}
			if pod.Annotations[metav1.InitialEventsAnnotationKey] != "true" {
				t.Errorf("bookmark annotations = %v, want %s=true", pod.Annotations, metav1.InitialEventsAnnotationKey)
			}
			if got := revisionOf(t, pod); got < listRV {
				t.Errorf("bookmark resourceVersion = %d, want at least the revision %d at the watch's start", got, listRV)
			}
			c := create(t, s, newPod("c-"+tc.name, "web", ""))
			expectEvents(t, w, []event{{watch.Added, c.Name, "web", c.ResourceVersion}})
			remove(t, s, c.Name)
		})
	}
}

func testWatchBookmarks(t *testing.T, h Harness) {
	s := h.Storage
	wait := max(5*h.BookmarkInterval, eventTimeout)
	start := create(t, s, newPod("a", "web", ""))

	t.Run("idle stream gets bookmarks", func(t *testing.T) {
		w := startWatch(t, s, podsDir, storage.ListOptions{
			ResourceVersion: start.ResourceVersion, AllowWatchBookmarks: true, NewObject: newPodObject,
		})
		for i := range 2 {
			select {
			case e, ok := <-w.ResultChan():
				if !ok {
					t.Fatal("watch ended")
				}
				pod, isPod := e.Object.(*corev1.Pod)
				if e.Type != watch.Bookmark || !isPod {
					t.Fatalf("event %d = %s %T, want a Bookmark of a *corev1.Pod", i+1, e.Type, e.Object)
				}
				if got := revisionOf(t, pod); got < revisionOf(t, start) {
					t.Errorf("bookmark resourceVersion = %d, want at least the start %s", got, start.ResourceVersion)
				}
			case <-time.After(wait):
				t.Fatalf("no bookmark %d within %v with bookmark interval %v", i+1, wait, h.BookmarkInterval)
			}
		}
		b := create(t, s, newPod("b", "web", ""))
		expectEvents(t, w, []event{{watch.Added, "b", "web", b.ResourceVersion}})
		for {
			e := next(t, w)
			if e.Type == watch.Bookmark {
				if got := revisionOf(t, e.Object); got < revisionOf(t, b) {
					t.Errorf("bookmark after an event at %s has resourceVersion %d", b.ResourceVersion, got)
				}
				break
			}
		}
	})
	t.Run("no bookmarks unless allowed", func(t *testing.T) {
		w := startWatch(t, s, podsDir, storage.ListOptions{ResourceVersion: rv(currentRevision(t, s))})
		// Give bookmarks, if any were wrongly sent, time to come first.
		time.Sleep(3 * h.BookmarkInterval)
		c := create(t, s, newPod("c", "web", ""))
		if got := summarize(t, next(t, w)); got != (event{watch.Added, "c", "web", c.ResourceVersion}) {
			t.Errorf("first event = %+v, want the Added of c", got)
		}
	})
}

func testWatchFilterTransitions(t *testing.T, h Harness) {
	s := h.Storage
	tests := []struct {
		name string
		pred func(t *testing.T) storage.Predicate
		// enter and leave make a pod match the selector or stop matching.
		enter, leave func(p *corev1.Pod)
	}{
		{
			name:  "label selector",
			pred:  func(t *testing.T) storage.Predicate { return labelSelector(t, "app=web") },
			enter: func(p *corev1.Pod) { p.Labels["app"] = "web" },
			leave: func(p *corev1.Pod) { p.Labels["app"] = "db" },
		},
		{
			name:  "field selector",
			pred:  func(t *testing.T) storage.Predicate { return fieldSelector(t, "spec.nodeName=n1") },
			enter: func(p *corev1.Pod) { p.Spec.NodeName = "n1" },
			leave: func(p *corev1.Pod) { p.Spec.NodeName = "n2" },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Pods of their own namespace, stored under its directory.
			ns := tc.name[:5]
			in := func(name string) *corev1.Pod {
				p := newPod(name, "", "")
				p.Namespace = ns
				tc.enter(p)
				return p
			}
			out := func(name string) *corev1.Pod {
				p := newPod(name, "", "")
				p.Namespace = ns
				tc.leave(p)
				return p
			}
			prefix := "/registry/pods/" + ns + "/"
			key := func(p *corev1.Pod) string { return prefix + p.Name }
			mk := func(p *corev1.Pod) *corev1.Pod {
				got := &corev1.Pod{}
				if err := s.Create(t.Context(), key(p), p, got); err != nil {
					t.Fatalf("Create %s: %v", p.Name, err)
				}
				return got
			}
			change := func(name string, f func(*corev1.Pod)) *corev1.Pod {
				got := &corev1.Pod{}
				err := s.GuaranteedUpdate(t.Context(), prefix+name, got, false, nil,
					func(cur k8sruntime.Object) (k8sruntime.Object, error) {
						f(cur.(*corev1.Pod))
						return cur, nil
					})
				if err != nil {
					t.Fatalf("GuaranteedUpdate %s: %v", name, err)
				}
				return got
			}
			del := func(name string) *corev1.Pod {
				got := &corev1.Pod{}
				if err := s.Delete(t.Context(), prefix+name, got, nil, nil); err != nil {
					t.Fatalf("Delete %s: %v", name, err)
				}
				return got
			}
			summary := func(e watch.EventType, p *corev1.Pod, rev string) event {
				return event{e, p.Name, p.Labels["app"], rev}
			}

			w := startWatch(t, s, prefix, storage.ListOptions{ResourceVersion: rv(currentRevision(t, s)), Predicate: tc.pred(t)})
			added := mk(in("x"))
			left := change("x", tc.leave)
			back := change("x", tc.enter)
			touched := change("x", func(p *corev1.Pod) { p.Labels["touched"] = "yes" })
			mk(out("never"))
			change("never", func(p *corev1.Pod) { p.Labels["touched"] = "yes" })
			deleted := del("x")
			del("never")
			end := mk(in("end"))
			expectEvents(t, w, []event{
				summary(watch.Added, added, added.ResourceVersion),
				// The object as it was while it matched, at the revision
				// that made it stop matching.
				summary(watch.Deleted, added, left.ResourceVersion),
				summary(watch.Added, back, back.ResourceVersion),
				summary(watch.Modified, touched, touched.ResourceVersion),
				summary(watch.Deleted, touched, deleted.ResourceVersion),
				summary(watch.Added, end, end.ResourceVersion),
			})
		})
	}
}

func testWatchSingleKey(t *testing.T, h Harness) {
	s := h.Storage
	w := startWatch(t, s, podKey(namespace, "web"), storage.ListOptions{ResourceVersion: rv(currentRevision(t, s))})
	create(t, s, newPod("web-1", "web", ""))
	create(t, s, newPod("webx", "web", ""))
	web := create(t, s, newPod("web", "web", ""))
	expectEvents(t, w, []event{{watch.Added, "web", "web", web.ResourceVersion}})
}

func testWatchAfterCompaction(t *testing.T, h Harness) {
	s := h.Storage
	old := create(t, s, newPod("web", "v1", ""))
	for _, app := range []string{"v2", "v3", "v4"} {
		relabel(t, s, "web", app)
	}
	h.Compact(currentRevision(t, s))

	w := startWatch(t, s, podsDir, storage.ListOptions{ResourceVersion: old.ResourceVersion})
	e := next(t, w)
	status, ok := e.Object.(*metav1.Status)
	if e.Type != watch.Error || !ok {
		t.Fatalf("first event = %s %T, want an Error with a *metav1.Status", e.Type, e.Object)
	}
	if status.Code != 410 || status.Reason != metav1.StatusReasonExpired {
		t.Errorf("status = %d %s, want 410 %s", status.Code, status.Reason, metav1.StatusReasonExpired)
	}
	expectEnd(t, w)

	t.Run("a watch from now still works", func(t *testing.T) {
		w := startWatch(t, s, podsDir, storage.ListOptions{ResourceVersion: rv(currentRevision(t, s))})
		v5 := relabel(t, s, "web", "v5")
		expectEvents(t, w, []event{{watch.Modified, "web", "v5", v5.ResourceVersion}})
	})
}

func testWatchManyWatchers(t *testing.T, h Harness) {
	s := h.Storage
	const watchers = 100
	from := rv(currentRevision(t, s))
	ws := make([]watch.Interface, watchers)
	for i := range ws {
		ws[i] = startWatch(t, s, podsDir, storage.ListOptions{ResourceVersion: from, AllowWatchBookmarks: i%2 == 0})
	}
	web := create(t, s, newPod("web", "web", ""))
	want := event{watch.Added, "web", "web", web.ResourceVersion}
	var wg sync.WaitGroup
	got := make([]event, watchers)
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case e, ok := <-w.ResultChan():
				for ok && e.Type == watch.Bookmark {
					e, ok = <-w.ResultChan()
				}
				if ok {
					got[i] = describe(e)
				}
			case <-time.After(eventTimeout):
			}
		}()
	}
	wg.Wait()
	for i, e := range got {
		if e != want {
			t.Errorf("watcher %d got %+v, want %+v", i, e, want)
		}
	}
}

func testWatchStopReleasesGoroutines(t *testing.T, h Harness) {
	s := h.Storage
	const watchers = 50
	create(t, s, newPod("seed", "web", ""))
	baseline := runtime.NumGoroutine()
	yes := true
	ws := make([]watch.Interface, watchers)
	for i := range ws {
		opts := storage.ListOptions{AllowWatchBookmarks: i%2 == 0, NewObject: newPodObject}
		switch i % 3 {
		case 0:
			opts.ResourceVersion = rv(currentRevision(t, s))
		case 1:
			opts.SendInitialEvents = &yes
		}
		if i%5 == 0 {
			opts.Predicate = labelSelector(t, "app=web")
		}
		w, err := s.Watch(t.Context(), podsDir, opts)
		if err != nil {
			t.Fatalf("Watch %d: %v", i, err)
		}
		ws[i] = w
	}
	// More events than a watch buffers, none of them read: every stream is
	// blocked on its consumer when it is stopped.
	for i := range 150 {
		create(t, s, newPod(fmt.Sprintf("p%03d", i), "web", ""))
	}
	for _, w := range ws {
		w.Stop()
	}
	for _, w := range ws {
		expectClosed(t, w)
	}
	// Goroutines of the etcd client and server come and go; a leak of one
	// per watch would stand far above this slack.
	const slack = 10
	if !eventually(t, 20*time.Second, func() bool { return runtime.NumGoroutine() <= baseline+slack }) {
		var stacks strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
		t.Fatalf("%d goroutines 20s after stopping %d watches, want at most %d (%d before them + %d); goroutines:\n%s",
			runtime.NumGoroutine(), watchers, baseline+slack, baseline, slack, stacks.String())
	}
}
