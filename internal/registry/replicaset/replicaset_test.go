package replicaset

import (
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// newReplicaSet returns a small valid ReplicaSet, defaulted as the API
// server would before validating it.
func newReplicaSet() *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.ReplicaSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
			},
		},
	}
	strategy{}.Default(rs)
	return rs
}

// summary renders errors as sorted "field type" lines, to compare with
// what a test expects.
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
		name         string
		replicas     *int32
		wantReplicas int32
	}{
		{name: "unset replicas become 1", wantReplicas: 1},
		{name: "zero replicas stay", replicas: ptr.To[int32](0), wantReplicas: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Replicas: tt.replicas,
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}
			strategy{}.Default(rs)
			if got := ptr.Deref(rs.Spec.Replicas, -1); got != tt.wantReplicas {
				t.Errorf("replicas: got %d, want %d", got, tt.wantReplicas)
			}
			if got := rs.Spec.Template.Spec.RestartPolicy; got != corev1.RestartPolicyAlways {
				t.Errorf("template restartPolicy: got %q, want Always (pod template defaults)", got)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*appsv1.ReplicaSet)
		want   []string
	}{
		{name: "valid", mutate: func(*appsv1.ReplicaSet) {}, want: []string{}},
		{name: "bad name", mutate: func(rs *appsv1.ReplicaSet) { rs.Name = "Web_1" },
			want: []string{"metadata.name FieldValueInvalid"}},
		{name: "negative replicas", mutate: func(rs *appsv1.ReplicaSet) { rs.Spec.Replicas = ptr.To[int32](-1) },
			want: []string{"spec.replicas FieldValueInvalid"}},
		{name: "missing selector", mutate: func(rs *appsv1.ReplicaSet) { rs.Spec.Selector = nil },
			want: []string{"spec.selector FieldValueRequired", "spec.template.metadata.labels FieldValueInvalid"}},
		{name: "empty selector", mutate: func(rs *appsv1.ReplicaSet) { rs.Spec.Selector = &metav1.LabelSelector{} },
			want: []string{"spec.selector FieldValueInvalid"}},
		{name: "selector does not match template", mutate: func(rs *appsv1.ReplicaSet) {
			rs.Spec.Template.Labels = map[string]string{"app": "other"}
		}, want: []string{"spec.template.metadata.labels FieldValueInvalid"}},
		{name: "template restarts never", mutate: func(rs *appsv1.ReplicaSet) { rs.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever },
			want: []string{"spec.template.spec.restartPolicy FieldValueNotSupported"}},
		{name: "template has active deadline", mutate: func(rs *appsv1.ReplicaSet) { rs.Spec.Template.Spec.ActiveDeadlineSeconds = ptr.To[int64](10) },
			want: []string{"spec.template.spec.activeDeadlineSeconds FieldValueForbidden"}},
		{name: "container without image", mutate: func(rs *appsv1.ReplicaSet) { rs.Spec.Template.Spec.Containers[0].Image = "" },
			want: []string{"spec.template.spec.containers[0].image FieldValueRequired"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := newReplicaSet()
			tt.mutate(rs)
			if diff := cmp.Diff(tt.want, summary(strategy{}.Validate(rs))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSelectorMismatchMessage(t *testing.T) {
	rs := newReplicaSet()
	rs.Spec.Template.Labels = map[string]string{"app": "other"}
	errs := strategy{}.Validate(rs)
	if len(errs) != 1 || errs[0].Detail != "`selector` does not match template `labels`" {
		t.Errorf("got %v, want the upstream selector mismatch message", errs)
	}
}

func TestValidateUpdate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*appsv1.ReplicaSet)
		want   []string
	}{
		{name: "scale", mutate: func(rs *appsv1.ReplicaSet) { rs.Spec.Replicas = ptr.To[int32](5) }, want: []string{}},
		{name: "new image", mutate: func(rs *appsv1.ReplicaSet) { rs.Spec.Template.Spec.Containers[0].Image = "nginx:1.28" }, want: []string{}},
		{name: "selector changes", mutate: func(rs *appsv1.ReplicaSet) {
			rs.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "tier": "a"}}
			rs.Spec.Template.Labels["tier"] = "a"
		}, want: []string{"spec.selector FieldValueInvalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newReplicaSet()
			old.ResourceVersion = "1"
			rs := old.DeepCopy()
			tt.mutate(rs)
			if diff := cmp.Diff(tt.want, summary(strategy{}.ValidateUpdate(rs, old))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatusSplit(t *testing.T) {
	old := newReplicaSet()
	old.Status.Replicas = 3

	created := newReplicaSet()
	created.Status.Replicas = 7
	strategy{}.PrepareForCreate(created)
	if created.Status.Replicas != 0 {
		t.Errorf("create: status.replicas got %d, want 0 (status cleared)", created.Status.Replicas)
	}

	updated := old.DeepCopy()
	updated.Status.Replicas = 9
	updated.Spec.Replicas = ptr.To[int32](4)
	strategy{}.PrepareForUpdate(updated, old)
	if updated.Status.Replicas != 3 || *updated.Spec.Replicas != 4 {
		t.Errorf("update: got status.replicas %d spec.replicas %d, want 3 and 4", updated.Status.Replicas, *updated.Spec.Replicas)
	}

	statusUpdate := old.DeepCopy()
	statusUpdate.Status.Replicas = 2
	statusUpdate.Spec.Replicas = ptr.To[int32](8)
	statusStrategy{}.PrepareForStatusUpdate(statusUpdate, old)
	if statusUpdate.Status.Replicas != 2 || *statusUpdate.Spec.Replicas != 1 {
		t.Errorf("status update: got status.replicas %d spec.replicas %d, want 2 and 1", statusUpdate.Status.Replicas, *statusUpdate.Spec.Replicas)
	}
}

func TestValidateStatusUpdate(t *testing.T) {
	tests := []struct {
		name   string
		status appsv1.ReplicaSetStatus
		want   []string
	}{
		{name: "valid", status: appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 2, AvailableReplicas: 1}, want: []string{}},
		{name: "negative observed generation", status: appsv1.ReplicaSetStatus{ObservedGeneration: -1}, want: []string{"status.observedGeneration FieldValueInvalid"}},
		{name: "more ready than replicas", status: appsv1.ReplicaSetStatus{Replicas: 1, ReadyReplicas: 2, AvailableReplicas: 1},
			want: []string{"status.readyReplicas FieldValueInvalid"}},
		{name: "more available than ready", status: appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 1, AvailableReplicas: 2},
			want: []string{"status.availableReplicas FieldValueInvalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newReplicaSet()
			old.ResourceVersion = "1"
			rs := old.DeepCopy()
			rs.Status = tt.status
			if diff := cmp.Diff(tt.want, summary(statusStrategy{}.ValidateStatusUpdate(rs, old))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScale(t *testing.T) {
	rs := newReplicaSet()
	rs.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"a", "b"}}}
	rs.Status.Replicas = 2
	scale := Kind().Scale
	scale.SetReplicas(rs, 5)
	spec, status, selector := scale.Get(rs)
	if spec != 5 || status != 2 || selector != "app=web,tier in (a,b)" {
		t.Errorf("got (%d, %d, %q), want (5, 2, %q)", spec, status, selector, "app=web,tier in (a,b)")
	}
}

func TestTableRow(t *testing.T) {
	rs := newReplicaSet()
	rs.Spec.Replicas = ptr.To[int32](3)
	rs.Spec.Template.Spec.Containers = append(rs.Spec.Template.Spec.Containers, corev1.Container{Name: "sidecar", Image: "busybox"})
	rs.Status = appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 2}
	table := Kind().Table
	got := table.Row(rs)
	want := []interface{}{"web", int64(3), int64(3), int64(2), "<unknown>", "web,sidecar", "nginx:1.27,busybox", "app=web"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}
	if len(table.Columns) != len(got) {
		t.Errorf("got %d cells for %d columns", len(got), len(table.Columns))
	}
}

func TestFields(t *testing.T) {
	rs := newReplicaSet()
	rs.Status.Replicas = 4
	want := fields.Set{"status.replicas": "4"}
	if diff := cmp.Diff(want, Kind().Fields(rs)); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	if got := Kind().Fields(&appsv1.ReplicaSet{}); len(got) != 1 {
		t.Errorf("fields of an empty object: got %v, want every supported name", got)
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
	}{"apps/v1", "replicasets", "replicaset", "ReplicaSet", []string{"rs"}, []string{"all"}, true, true, true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kind (-want +got):\n%s", diff)
	}
	if _, ok := k.New().(*appsv1.ReplicaSet); !ok {
		t.Errorf("New: got %T, want *appsv1.ReplicaSet", k.New())
	}
	if _, ok := k.NewList().(*appsv1.ReplicaSetList); !ok {
		t.Errorf("NewList: got %T, want *appsv1.ReplicaSetList", k.NewList())
	}
}
