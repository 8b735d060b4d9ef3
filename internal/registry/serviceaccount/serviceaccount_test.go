package serviceaccount

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		saName  string
		wantErr string
	}{
		{name: "valid", saName: "builder"},
		{name: "dotted", saName: "ci.builder"},
		{name: "upper case", saName: "Builder", wantErr: "metadata.name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: tt.saName, Namespace: "default"}}
			errs := strategy{}.Validate(sa)
			var got string
			if len(errs) > 0 {
				got = errs[0].Field
			}
			if got != tt.wantErr || len(errs) > 1 {
				t.Errorf("errors = %v, want one at %q (or none)", errs, tt.wantErr)
			}
		})
	}
}

func TestUpdateKeepsNamespace(t *testing.T) {
	old := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "sa", Namespace: "a", ResourceVersion: "1"}}
	sa := old.DeepCopy()
	sa.Namespace = "b"
	errs := strategy{}.ValidateUpdate(sa, old)
	if len(errs) == 0 || errs[0].Field != "metadata.namespace" {
		t.Errorf("errors = %v, want metadata.namespace immutable", errs)
	}
}

func TestTableAndKind(t *testing.T) {
	sa := &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "default", CreationTimestamp: metav1.NewTime(time.Now().Add(-48 * time.Hour))},
		Secrets:    []corev1.ObjectReference{{Name: "token"}},
	}
	if d := cmp.Diff([]interface{}{"default", int64(1), "2d"}, table.Row(sa)); d != "" {
		t.Errorf("row (-want +got):\n%s", d)
	}
	if k := Kind(); k.Resource != "serviceaccounts" || k.ShortNames[0] != "sa" {
		t.Errorf("Kind() = %+v", k)
	}
}
