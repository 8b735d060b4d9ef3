package apiserver

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// TestLocalListerWatcher checks the in-process informers' source: a list
// from storage, then a watch of the watch cache's objects that honours
// selectors, the client's timeout and Stop.
func TestLocalListerWatcher(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := cachedServer(t)
	s.SetReady()
	post := func(path string, obj runtime.Object) {
		t.Helper()
		if w := postJSON(t, s.Handler(), path, obj); w.Code != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", path, w.Code, w.Body.String())
		}
	}
	pod := func(name, app string) *corev1.Pod {
		return &corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": app}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "web:1"}}},
		}
	}
	post("/api/v1/namespaces", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}})
	post("/api/v1/namespaces/ns/pods", pod("a", "web"))

	if _, err := s.LocalListerWatcher(schema.GroupVersionResource{Version: "v1", Resource: "widgets"}); err == nil {
		t.Error("LocalListerWatcher of an unknown resource: no error")
	}
	lw, err := s.LocalListerWatcher(corev1.SchemeGroupVersion.WithResource("pods"))
	if err != nil {
		t.Fatal(err)
	}
	lwc := lw.(cache.ListerWatcherWithContext)
	listed, err := lwc.ListWithContext(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	list, ok := listed.(*corev1.PodList)
	if !ok || len(list.Items) != 1 || list.Items[0].Name != "a" || list.ResourceVersion == "" {
		t.Fatalf("list: %#v, want a PodList of pod a with a resourceVersion", listed)
	}
	if _, err := lwc.ListWithContext(ctx, metav1.ListOptions{LabelSelector: "app in (web"}); !apierrors.IsBadRequest(err) {
		t.Errorf("list with a bad selector: %v, want BadRequest", err)
	}

	w, err := lwc.WatchWithContext(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion, LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	post("/api/v1/namespaces/ns/pods", pod("b", "db"))
	post("/api/v1/namespaces/ns/pods", pod("c", "web"))
	select {
	case ev := <-w.ResultChan():
		got, ok := ev.Object.(*corev1.Pod)
		if ev.Type != watch.Added || !ok || got.Name != "c" || got.Namespace != "ns" {
			t.Fatalf("watch event %s %T %v, want ADDED of pod ns/c", ev.Type, ev.Object, ev.Object)
		}
	case <-ctx.Done():
		t.Fatal("no watch event for pod c")
	}
	w.Stop()
	for range w.ResultChan() {
	}

	timeout := int64(1)
	w, err = lwc.WatchWithContext(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion, TimeoutSeconds: &timeout, LabelSelector: "app=none"})
	if err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case _, open := <-w.ResultChan():
			if !open {
				return
			}
		case <-ctx.Done():
			t.Fatal("a watch with timeoutSeconds 1 did not end")
		}
	}
}

// TestLocalCreate checks that a create in process gets what a POST gets:
// defaults, a generated name, validation and its errors.
func TestLocalCreate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := cachedServer(t)
	s.SetReady()
	pods := corev1.SchemeGroupVersion.WithResource("pods")
	newPod := func() *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "web-", Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "web:1"}}},
		}
	}
	if _, err := s.LocalCreate(ctx, pods, "ns", newPod()); !apierrors.IsNotFound(err) {
		t.Errorf("create in a namespace that does not exist: %v, want NotFound", err)
	}
	if _, err := s.LocalCreate(ctx, corev1.SchemeGroupVersion.WithResource("namespaces"), "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LocalCreate(ctx, pods, "", newPod()); !apierrors.IsNotFound(err) {
		t.Errorf("create of a namespaced kind without a namespace: %v, want NotFound", err)
	}

	pod := newPod()
	out, err := s.LocalCreate(ctx, pods, "ns", pod)
	if err != nil {
		t.Fatal(err)
	}
	created := out.(*corev1.Pod)
	if len(pod.Name) != len("web-")+5 || created.Name != pod.Name || created.UID == "" || created.ResourceVersion == "" {
		t.Fatalf("created %q (uid %q, resourceVersion %q) from generateName web-", created.Name, created.UID, created.ResourceVersion)
	}
	r := httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/ns/pods/"+pod.Name, nil)
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("GET of the pod created: %d %s", w.Code, w.Body.String())
	}
	if !bytes.Contains(w.Body.Bytes(), []byte(`"terminationMessagePath":"/dev/termination-log"`)) {
		t.Errorf("the pod created was not defaulted: %s", w.Body.String())
	}

	bad := newPod()
	bad.Spec.Containers[0].Name = "Not_A_Name"
	_, err = s.LocalCreate(ctx, pods, "ns", bad)
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.containers[0].name") {
		t.Errorf("create of an invalid pod: %v, want Invalid naming spec.containers[0].name", err)
	}
}

// TestLocalBind checks that a binding in process does what a POST of
// pods/binding does: nodeName and the PodScheduled condition set once,
// then Conflict; a target that is not a node refused.
func TestLocalBind(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := cachedServer(t)
	s.SetReady()
	if _, err := s.LocalCreate(ctx, corev1.SchemeGroupVersion.WithResource("namespaces"), "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "web:1"}}},
	}
	if _, err := s.LocalCreate(ctx, corev1.SchemeGroupVersion.WithResource("pods"), "ns", pod); err != nil {
		t.Fatal(err)
	}
	bindTo := func(kind, node string) error {
		return s.LocalBind(ctx, "ns", &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Target:     corev1.ObjectReference{Kind: kind, Name: node},
		})
	}
	if err := bindTo("Pod", "a"); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "target.kind") {
		t.Errorf("binding to a Pod: %v, want Invalid naming target.kind", err)
	}
	if err := bindTo("Node", "a"); err != nil {
		t.Fatal(err)
	}
	if err := bindTo("Node", "b"); !apierrors.IsConflict(err) {
		t.Errorf("binding again: %v, want Conflict", err)
	}
	if err := s.LocalBind(ctx, "ns", &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "gone"}, Target: corev1.ObjectReference{Name: "a"}}); !apierrors.IsNotFound(err) {
		t.Errorf("binding a pod that does not exist: %v, want NotFound", err)
	}
	r := httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/ns/pods/web", nil)
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	if !bytes.Contains(w.Body.Bytes(), []byte(`"nodeName":"a"`)) || !bytes.Contains(w.Body.Bytes(), []byte(`"type":"PodScheduled","status":"True"`)) {
		t.Errorf("the pod after binding: %s", w.Body.String())
	}
}
