package namespace

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func newNamespace(name string) *corev1.Namespace {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	s := strategy{}
	s.Default(ns)
	s.PrepareForCreate(ns)
	return ns
}

func fieldsOf(errs field.ErrorList) []string {
	got := []string{}
	for _, e := range errs {
		got = append(got, string(e.Type)+" "+e.Field)
	}
	return got
}

func TestCreate(t *testing.T) {
	ns := newNamespace("team-a")
	if got := ns.Labels[corev1.LabelMetadataName]; got != "team-a" {
		t.Errorf("label %s = %q, want team-a", corev1.LabelMetadataName, got)
	}
	if d := cmp.Diff([]corev1.FinalizerName{corev1.FinalizerKubernetes}, ns.Spec.Finalizers); d != "" {
		t.Errorf("finalizers (-want +got):\n%s", d)
	}
	if ns.Status.Phase != corev1.NamespaceActive {
		t.Errorf("phase = %q, want Active", ns.Status.Phase)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name       string
		nsName     string
		finalizers []corev1.FinalizerName
		want       []string
	}{
		{name: "valid", nsName: "team-a"},
		{name: "dots are not allowed", nsName: "team.a", want: []string{"FieldValueInvalid metadata.name"}},
		{name: "qualified finalizer", nsName: "a", finalizers: []corev1.FinalizerName{"example.com/cleanup"}},
		{name: "unknown short finalizer", nsName: "a", finalizers: []corev1.FinalizerName{"cleanup"}, want: []string{"FieldValueInvalid spec.finalizers"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: tt.nsName}, Spec: corev1.NamespaceSpec{Finalizers: tt.finalizers}}
			strategy{}.PrepareForCreate(ns)
			if tt.want == nil {
				tt.want = []string{}
			}
			if d := cmp.Diff(tt.want, fieldsOf(strategy{}.Validate(ns))); d != "" {
				t.Errorf("errors (-want +got):\n%s", d)
			}
		})
	}
}

func TestUpdateKeepsFinalizersAndStatus(t *testing.T) {
	old := newNamespace("a")
	old.ResourceVersion = "1"
	ns := old.DeepCopy()
	ns.Spec.Finalizers = nil
	ns.Status.Phase = corev1.NamespaceTerminating
	ns.Labels = map[string]string{"team": "x"}
	strategy{}.PrepareForUpdate(ns, old)
	if len(ns.Spec.Finalizers) != 1 || ns.Status.Phase != corev1.NamespaceActive {
		t.Errorf("finalizers %v phase %s, want kept from old", ns.Spec.Finalizers, ns.Status.Phase)
	}
	if ns.Labels[corev1.LabelMetadataName] != "a" {
		t.Errorf("labels = %v, want the name label restored", ns.Labels)
	}
	if errs := (strategy{}).ValidateUpdate(ns, old); len(errs) != 0 {
		t.Errorf("ValidateUpdate = %v, want none", errs)
	}
}

func TestStatusUpdate(t *testing.T) {
	now := metav1.Now()
	tests := []struct {
		name     string
		deleting bool
		phase    corev1.NamespacePhase
		want     []string
	}{
		{name: "active", phase: corev1.NamespaceActive},
		{name: "terminating while deleted", deleting: true, phase: corev1.NamespaceTerminating},
		{name: "terminating too early", phase: corev1.NamespaceTerminating, want: []string{"FieldValueInvalid status.Phase"}},
		{name: "active while deleted", deleting: true, phase: corev1.NamespaceActive, want: []string{"FieldValueInvalid status.Phase"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newNamespace("a")
			old.ResourceVersion = "1"
			if tt.deleting {
				old.DeletionTimestamp = &now
			}
			ns := old.DeepCopy()
			ns.Status.Phase = tt.phase
			ns.Spec.Finalizers = nil
			s := statusStrategy{}
			s.PrepareForStatusUpdate(ns, old)
			if len(ns.Spec.Finalizers) != 1 {
				t.Errorf("finalizers = %v, want spec kept from old", ns.Spec.Finalizers)
			}
			if tt.want == nil {
				tt.want = []string{}
			}
			if d := cmp.Diff(tt.want, fieldsOf(s.ValidateStatusUpdate(ns, old))); d != "" {
				t.Errorf("errors (-want +got):\n%s", d)
			}
		})
	}
}

func TestTableFieldsKind(t *testing.T) {
	ns := newNamespace("a")
	ns.CreationTimestamp = metav1.NewTime(time.Now().Add(-10 * time.Second))
	if d := cmp.Diff([]interface{}{"a", "Active", "10s"}, table.Row(ns)); d != "" {
		t.Errorf("row (-want +got):\n%s", d)
	}
	k := Kind()
	if got := k.Fields(ns)["status.phase"]; got != "Active" {
		t.Errorf("status.phase field = %q, want Active", got)
	}
	if k.Namespaced || k.ShortNames[0] != "ns" || k.Status == nil {
		t.Errorf("Kind() = %+v, want cluster-scoped ns with status", k)
	}
}
