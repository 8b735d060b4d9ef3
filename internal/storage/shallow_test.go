package storage

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestShallowCopyRecycles checks that the copy an encoder gets is its own
// top-level struct (setting the kind leaves the shared object alone) and
// that releasing it clears the copy, not the object.
func TestShallowCopyRecycles(t *testing.T) {
	shared := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "web"}}}
	for range 3 {
		obj, release := ShallowCopy(shared)
		copied := obj.(*corev1.Pod)
		if copied == shared || copied.Name != "web" || copied.Labels["app"] != "web" {
			t.Fatalf("copy = %p %+v, want a new struct like %p", copied, copied.ObjectMeta, shared)
		}
		copied.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Pod"))
		release()
		if copied.Name != "" || copied.Labels != nil || copied.Kind != "" {
			t.Errorf("released copy = %+v, want it zeroed", copied)
		}
		if shared.Kind != "" || shared.Name != "web" || shared.Labels["app"] != "web" {
			t.Errorf("shared object = %+v, want it unchanged", shared)
		}
	}
}
