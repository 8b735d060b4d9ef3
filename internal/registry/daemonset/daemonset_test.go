package daemonset

import (
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// newDaemonSet returns a small valid DaemonSet, defaulted as the API
// server would before validating it.
func newDaemonSet() *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "kube-system", ResourceVersion: "1"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"kubernetes.io/os": "linux"},
					Containers:   []corev1.Container{{Name: "agent", Image: "agent:1"}},
				},
			},
		},
	}
	strategy{}.Default(ds)
	return ds
}

func summary(errs field.ErrorList) []string {
	out := []string{}
	for _, e := range errs {
		out = append(out, e.Field+" "+string(e.Type))
	}
	sort.Strings(out)
	return out
}

func TestDefault(t *testing.T) {
	tests := []struct {
		name string
		in   appsv1.DaemonSetUpdateStrategy
		want appsv1.DaemonSetUpdateStrategy
	}{
		{name: "unset", want: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr.To(intstr.FromInt32(1)), MaxSurge: ptr.To(intstr.FromInt32(0))}}},
		{name: "OnDelete", in: appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType},
			want: appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{UpdateStrategy: tt.in}}
			strategy{}.Default(ds)
			if diff := cmp.Diff(tt.want, ds.Spec.UpdateStrategy); diff != "" {
				t.Errorf("updateStrategy (-want +got):\n%s", diff)
			}
			if got := ptr.Deref(ds.Spec.RevisionHistoryLimit, 0); got != 10 {
				t.Errorf("revisionHistoryLimit: got %d, want 10", got)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*appsv1.DaemonSet)
		want   []string
	}{
		{name: "valid", mutate: func(*appsv1.DaemonSet) {}, want: []string{}},
		{name: "valid surge instead of unavailable", mutate: func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr.To(intstr.FromInt32(0)), MaxSurge: ptr.To(intstr.FromString("10%"))}
		}, want: []string{}},
		{name: "missing selector", mutate: func(ds *appsv1.DaemonSet) { ds.Spec.Selector = nil },
			want: []string{"spec.template.metadata.labels FieldValueInvalid"}},
		{name: "empty selector", mutate: func(ds *appsv1.DaemonSet) { ds.Spec.Selector = &metav1.LabelSelector{} },
			want: []string{"spec.selector FieldValueInvalid"}},
		{name: "template restarts never", mutate: func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever },
			want: []string{"spec.template.spec.restartPolicy FieldValueNotSupported"}},
		{name: "both surge and unavailable", mutate: func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromInt32(1))
		},
			want: []string{"spec.updateStrategy.rollingUpdate.maxSurge FieldValueInvalid"}},
		{name: "neither surge nor unavailable", mutate: func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(0))
		},
			want: []string{"spec.updateStrategy.rollingUpdate.maxUnavailable FieldValueRequired"}},
		{name: "rolling update missing", mutate: func(ds *appsv1.DaemonSet) { ds.Spec.UpdateStrategy.RollingUpdate = nil },
			want: []string{"spec.updateStrategy.rollingUpdate FieldValueRequired"}},
		{name: "unknown strategy", mutate: func(ds *appsv1.DaemonSet) { ds.Spec.UpdateStrategy.Type = "Canary" },
			want: []string{"spec.updateStrategy FieldValueNotSupported"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := newDaemonSet()
			tt.mutate(ds)
			if diff := cmp.Diff(tt.want, summary(strategy{}.Validate(ds))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	old := newDaemonSet()
	ds := old.DeepCopy()
	ds.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent", "v": "2"}}
	ds.Spec.Template.Labels["v"] = "2"
	if diff := cmp.Diff([]string{"spec.selector FieldValueInvalid"}, summary(strategy{}.ValidateUpdate(ds, old))); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestTemplateGeneration(t *testing.T) {
	created := newDaemonSet()
	created.Status.NumberReady = 4
	strategy{}.PrepareForCreate(created)
	if got := created.Annotations[TemplateGenerationAnnotation]; got != "1" || created.Status.NumberReady != 0 {
		t.Fatalf("create: got generation %q numberReady %d, want \"1\" and 0", got, created.Status.NumberReady)
	}

	tests := []struct {
		name   string
		mutate func(*appsv1.DaemonSet)
		want   string
	}{
		{name: "template change", mutate: func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "agent:2" }, want: "2"},
		{name: "other change", mutate: func(ds *appsv1.DaemonSet) { ds.Spec.MinReadySeconds = 5 }, want: "1"},
		{name: "client drops the annotation", mutate: func(ds *appsv1.DaemonSet) { ds.Annotations = nil }, want: "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := created.DeepCopy()
			tt.mutate(ds)
			strategy{}.PrepareForUpdate(ds, created)
			if got := ds.Annotations[TemplateGenerationAnnotation]; got != tt.want {
				t.Errorf("generation: got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	old := newDaemonSet()
	old.Status.CollisionCount = ptr.To[int32](2)
	ds := old.DeepCopy()
	ds.Spec.MinReadySeconds = 9
	ds.Status.NumberReady = 1
	statusStrategy{}.PrepareForStatusUpdate(ds, old)
	if ds.Spec.MinReadySeconds != 0 || ds.Status.NumberReady != 1 {
		t.Errorf("got minReadySeconds %d numberReady %d, want 0 and 1", ds.Spec.MinReadySeconds, ds.Status.NumberReady)
	}
	ds.Status.NumberUnavailable = -1
	ds.Status.CollisionCount = ptr.To[int32](1)
	want := []string{"status.collisionCount FieldValueInvalid", "status.numberUnavailable FieldValueInvalid"}
	if diff := cmp.Diff(want, summary(statusStrategy{}.ValidateStatusUpdate(ds, old))); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestTableRow(t *testing.T) {
	ds := newDaemonSet()
	ds.Status = appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2, UpdatedNumberScheduled: 3, NumberAvailable: 2}
	table := Kind().Table
	want := []interface{}{"agent", int64(3), int64(3), int64(2), int64(3), int64(2), "kubernetes.io/os=linux", "<unknown>", "agent", "agent:1", "app=agent"}
	got := table.Row(ds)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}
	if len(table.Columns) != len(got) {
		t.Errorf("got %d cells for %d columns", len(got), len(table.Columns))
	}
}

func TestKind(t *testing.T) {
	k := Kind()
	got := struct {
		GroupVersion, Resource, Singular, Kind string
		ShortNames, Categories                 []string
		Namespaced, HasStatus, HasScale        bool
	}{k.GroupVersion.String(), k.Resource, k.Singular, k.Kind, k.ShortNames, k.Categories, k.Namespaced, k.Status != nil, k.Scale != nil}
	want := struct {
		GroupVersion, Resource, Singular, Kind string
		ShortNames, Categories                 []string
		Namespaced, HasStatus, HasScale        bool
	}{"apps/v1", "daemonsets", "daemonset", "DaemonSet", []string{"ds"}, []string{"all"}, true, true, false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kind (-want +got):\n%s", diff)
	}
	if _, ok := k.New().(*appsv1.DaemonSet); !ok {
		t.Errorf("New: got %T, want *appsv1.DaemonSet", k.New())
	}
	if _, ok := k.NewList().(*appsv1.DaemonSetList); !ok {
		t.Errorf("NewList: got %T, want *appsv1.DaemonSetList", k.NewList())
	}
}
