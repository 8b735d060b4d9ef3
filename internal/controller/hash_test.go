package controller

import (
	"regexp"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestComputeHash(t *testing.T) {
	template := func(image string) *corev1.PodTemplateSpec {
		return &corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}},
		}
	}
	one, two := int32(1), int32(2)
	base := ComputeHash(template("nginx:1"), nil)
	tests := []struct {
		name       string
		hash       string
		sameAsBase bool
	}{
		{name: "same template, same hash", hash: ComputeHash(template("nginx:1"), nil), sameAsBase: true},
		{name: "other image", hash: ComputeHash(template("nginx:2"), nil)},
		{name: "collision count 1", hash: ComputeHash(template("nginx:1"), &one)},
		{name: "collision count 2", hash: ComputeHash(template("nginx:1"), &two)},
	}
	safe := regexp.MustCompile(`^[bcdfghjklmnpqrstvwxz2456789]{1,10}$`)
	if !safe.MatchString(base) {
		t.Fatalf("hash %q is not a safe-encoded string", base)
	}
	seen := map[string]string{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.hash == base; got != tc.sameAsBase {
				t.Errorf("hash %q equal to base %q: got %v, want %v", tc.hash, base, got, tc.sameAsBase)
			}
			if !tc.sameAsBase {
				if other, dup := seen[tc.hash]; dup {
					t.Errorf("hash %q also produced by %q", tc.hash, other)
				}
				seen[tc.hash] = tc.name
			}
		})
	}
}
