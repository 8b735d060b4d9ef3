package etcd3

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestKeyRangeCovers(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		key    string
		want   bool
	}{
		{"directory: child", "/registry/pods/ns/", "/registry/pods/ns/web", true},
		{"directory: grandchild", "/registry/pods/", "/registry/pods/ns/web", true},
		{"object: itself", "/registry/pods/ns/web", "/registry/pods/ns/web", true},
		{"object: below it", "/registry/pods/ns/web", "/registry/pods/ns/web/status", true},
		{"object: sibling with dash", "/registry/pods/ns/web", "/registry/pods/ns/web-1", false},
		{"object: sibling with dot", "/registry/pods/ns/web", "/registry/pods/ns/web.1", false},
		{"no slash: namespace dir", "/registry/pods/ns", "/registry/pods/ns/web", true},
		{"no slash: longer namespace", "/registry/pods/ns", "/registry/pods/ns2/web", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newKeyRange(tc.prefix)
			inRange := tc.key >= r.start && (r.end == "\x00" || tc.key < r.end)
			if got := inRange && r.covers([]byte(tc.key)); got != tc.want {
				t.Errorf("watch of %q covers %q = %v, want %v (range [%q, %q))", tc.prefix, tc.key, got, tc.want, r.start, r.end)
			}
		})
	}
}

func TestDirectory(t *testing.T) {
	for _, tc := range []struct{ prefix, want string }{
		{"/registry/pods", "/registry/pods/"},
		{"/registry/pods/", "/registry/pods/"},
	} {
		if got := directory(tc.prefix); got != tc.want {
			t.Errorf("directory(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}
}

func TestContinueTokenRoundTrip(t *testing.T) {
	want := continueToken{APIVersion: "meta.k8s.io/v1", ResourceVersion: 42, StartKey: "ns/web\x00"}
	s, err := encodeContinue(want)
	if err != nil {
		t.Fatalf("encodeContinue: %v", err)
	}
	got, err := decodeContinue(s)
	if err != nil {
		t.Fatalf("decodeContinue(%q): %v", s, err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("token (-want +got):\n%s", diff)
	}
}
