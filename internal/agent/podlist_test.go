package agent

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

func TestPodListHandler(t *testing.T) {
	store := cache.NewStore(cache.MetaNamespaceKeyFunc)
	get := func() (int, string, corev1.PodList) {
		rec := httptest.NewRecorder()
		podListHandler(store).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/pods", nil))
		var list corev1.PodList
		if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
			t.Fatalf("decoding %q: %v", rec.Body.String(), err)
		}
		return rec.Code, rec.Header().Get("Content-Type"), list
	}
	if code, _, list := get(); code != http.StatusOK || list.Kind != "PodList" || list.APIVersion != "v1" || list.Items == nil || len(list.Items) != 0 {
		t.Errorf("no pods: %d %+v, want an empty v1 PodList", code, list)
	}
	for _, p := range []struct{ ns, name string }{{"web", "b"}, {"default", "z"}, {"web", "a"}} {
		if err := store.Add(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: p.ns, Name: p.name},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}}); err != nil {
			t.Fatal(err)
		}
	}
	code, contentType, list := get()
	if code != http.StatusOK || contentType != "application/json" {
		t.Errorf("answer %d %q", code, contentType)
	}
	var got []string
	for _, p := range list.Items {
		got = append(got, p.Namespace+"/"+p.Name+" "+string(p.Status.Phase))
	}
	want := []string{"default/z Running", "web/a Running", "web/b Running"}
	if !slices.Equal(got, want) {
		t.Errorf("pods %v, want %v", got, want)
	}
}
