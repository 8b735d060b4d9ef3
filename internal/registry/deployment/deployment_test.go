package deployment

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

// newDeployment returns a small valid Deployment, defaulted as the API
// server would before validating it.
func newDeployment() *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: "1"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
			},
		},
	}
	strategy{}.Default(d)
	return d
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
		in   appsv1.DeploymentSpec
		want appsv1.DeploymentSpec
	}{
		{
			name: "empty spec",
			want: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](1),
				Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromString("25%")), MaxSurge: ptr.To(intstr.FromString("25%"))}},
				RevisionHistoryLimit:    ptr.To[int32](10),
				ProgressDeadlineSeconds: ptr.To[int32](600),
			},
		},
		{
			name: "recreate gets no rolling update",
			in:   appsv1.DeploymentSpec{Replicas: ptr.To[int32](0), Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}},
			want: appsv1.DeploymentSpec{
				Replicas:                ptr.To[int32](0),
				Strategy:                appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
				RevisionHistoryLimit:    ptr.To[int32](10),
				ProgressDeadlineSeconds: ptr.To[int32](600),
			},
		},
		{
			name: "partial rolling update keeps what is set",
			in: appsv1.DeploymentSpec{Strategy: appsv1.DeploymentStrategy{RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxSurge: ptr.To(intstr.FromInt32(2))}}},
			want: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](1),
				Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromString("25%")), MaxSurge: ptr.To(intstr.FromInt32(2))}},
				RevisionHistoryLimit:    ptr.To[int32](10),
				ProgressDeadlineSeconds: ptr.To[int32](600),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &appsv1.Deployment{Spec: tt.in}
			strategy{}.Default(d)
			d.Spec.Template = corev1.PodTemplateSpec{} // pod defaults are the pod package's
			if diff := cmp.Diff(tt.want, d.Spec); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*appsv1.Deployment)
		want   []string
	}{
		{name: "valid", mutate: func(*appsv1.Deployment) {}, want: []string{}},
		{name: "valid recreate", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
		}, want: []string{}},
		{name: "negative replicas", mutate: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](-1) },
			want: []string{"spec.replicas FieldValueInvalid"}},
		{name: "missing selector", mutate: func(d *appsv1.Deployment) { d.Spec.Selector = nil },
			want: []string{"spec.selector FieldValueRequired", "spec.template.metadata.labels FieldValueInvalid"}},
		{name: "selector does not match template", mutate: func(d *appsv1.Deployment) { d.Spec.Template.Labels = nil },
			want: []string{"spec.template.metadata.labels FieldValueInvalid"}},
		{name: "template restarts on failure", mutate: func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure },
			want: []string{"spec.template.spec.restartPolicy FieldValueNotSupported"}},
		{name: "surge and unavailable both zero", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.FromInt32(0)), MaxUnavailable: ptr.To(intstr.FromString("0%"))}
		}, want: []string{"spec.strategy.rollingUpdate.maxUnavailable FieldValueInvalid"}},
		{name: "bad percentage", mutate: func(d *appsv1.Deployment) { d.Spec.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromString("lots")) },
			want: []string{"spec.strategy.rollingUpdate.maxSurge FieldValueInvalid"}},
		{name: "unavailable above 100%", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromString("110%"))
		},
			want: []string{"spec.strategy.rollingUpdate.maxUnavailable FieldValueInvalid"}},
		{name: "negative surge", mutate: func(d *appsv1.Deployment) { d.Spec.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromInt32(-1)) },
			want: []string{"spec.strategy.rollingUpdate.maxSurge FieldValueInvalid"}},
		{name: "recreate with rolling update", mutate: func(d *appsv1.Deployment) { d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType },
			want: []string{"spec.strategy.rollingUpdate FieldValueForbidden"}},
		{name: "unknown strategy", mutate: func(d *appsv1.Deployment) { d.Spec.Strategy.Type = "BlueGreen" },
			want: []string{"spec.strategy FieldValueNotSupported"}},
		{name: "deadline not above minReadySeconds", mutate: func(d *appsv1.Deployment) {
			d.Spec.MinReadySeconds = 600
		}, want: []string{"spec.progressDeadlineSeconds FieldValueInvalid"}},
		{name: "negative revision history", mutate: func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = ptr.To[int32](-1) },
			want: []string{"spec.revisionHistoryLimit FieldValueInvalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDeployment()
			tt.mutate(d)
			if diff := cmp.Diff(tt.want, summary(strategy{}.Validate(d))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*appsv1.Deployment)
		want   []string
	}{
		{name: "new image", mutate: func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "nginx:1.28" }, want: []string{}},
		{name: "selector changes", mutate: func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchLabels = map[string]string{"app": "web", "v": "2"}
			d.Spec.Template.Labels["v"] = "2"
		}, want: []string{"spec.selector FieldValueInvalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newDeployment()
			d := old.DeepCopy()
			tt.mutate(d)
			if diff := cmp.Diff(tt.want, summary(strategy{}.ValidateUpdate(d, old))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrepareForUpdate(t *testing.T) {
	tests := []struct {
		name           string
		mutate         func(*appsv1.Deployment)
		wantGeneration int64
	}{
		{name: "annotation change bumps generation", mutate: func(d *appsv1.Deployment) {
			d.Annotations = map[string]string{"kubernetes.io/change-cause": "rollout"}
		}, wantGeneration: 4},
		{name: "label change keeps generation", mutate: func(d *appsv1.Deployment) { d.Labels = map[string]string{"a": "b"} }, wantGeneration: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newDeployment()
			old.Generation = 3
			old.Status.Replicas = 2
			d := old.DeepCopy()
			d.Status.Replicas = 7
			tt.mutate(d)
			strategy{}.PrepareForUpdate(d, old)
			if d.Generation != tt.wantGeneration {
				t.Errorf("generation: got %d, want %d", d.Generation, tt.wantGeneration)
			}
			if d.Status.Replicas != 2 {
				t.Errorf("status.replicas: got %d, want the stored 2", d.Status.Replicas)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	old := newDeployment()
	old.Status = appsv1.DeploymentStatus{Replicas: 2, CollisionCount: ptr.To[int32](2)}

	d := old.DeepCopy()
	d.Spec.Replicas = ptr.To[int32](9)
	d.Status.ReadyReplicas = 2
	statusStrategy{}.PrepareForStatusUpdate(d, old)
	if *d.Spec.Replicas != 1 || d.Status.ReadyReplicas != 2 {
		t.Errorf("status update: got spec.replicas %d status.readyReplicas %d, want 1 and 2", *d.Spec.Replicas, d.Status.ReadyReplicas)
	}

	tests := []struct {
		name   string
		status appsv1.DeploymentStatus
		want   []string
	}{
		{name: "valid", status: appsv1.DeploymentStatus{Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 1, CollisionCount: ptr.To[int32](2)}, want: []string{}},
		{name: "collision count decremented", status: appsv1.DeploymentStatus{Replicas: 2, CollisionCount: ptr.To[int32](1)},
			want: []string{"status.collisionCount FieldValueInvalid"}},
		{name: "updated above replicas", status: appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 2, CollisionCount: ptr.To[int32](2)},
			want: []string{"status.updatedReplicas FieldValueInvalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := old.DeepCopy()
			d.Status = tt.status
			if diff := cmp.Diff(tt.want, summary(statusStrategy{}.ValidateStatusUpdate(d, old))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScale(t *testing.T) {
	d := newDeployment()
	d.Status.Replicas = 1
	scale := Kind().Scale
	scale.SetReplicas(d, 3)
	if spec, status, selector := scale.Get(d); spec != 3 || status != 1 || selector != "app=web" {
		t.Errorf("got (%d, %d, %q), want (3, 1, %q)", spec, status, selector, "app=web")
	}
}

func TestTableRow(t *testing.T) {
	d := newDeployment()
	d.Spec.Replicas = ptr.To[int32](3)
	d.Status = appsv1.DeploymentStatus{Replicas: 3, ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2}
	table := Kind().Table
	got := table.Row(d)
	want := []interface{}{"web", "2/3", int64(3), int64(2), "<unknown>", "web", "nginx:1.27", "app=web"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}
	var names []string
	for _, c := range table.Columns {
		names = append(names, c.Name)
	}
	wantNames := []string{"Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"}
	if diff := cmp.Diff(wantNames, names); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
}

func TestIntOrPercent(t *testing.T) {
	tests := []struct {
		name      string
		value     intstr.IntOrString
		wantValue int
		wantErrs  int
	}{
		{name: "integer", value: intstr.FromInt32(3), wantValue: 3},
		{name: "percent", value: intstr.FromString("25%"), wantValue: 25},
		{name: "not a percent", value: intstr.FromString("25"), wantValue: 0, wantErrs: 1},
		{name: "negative", value: intstr.FromInt32(-2), wantValue: -2, wantErrs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IntOrPercentValue(tt.value); got != tt.wantValue {
				t.Errorf("value: got %d, want %d", got, tt.wantValue)
			}
			if got := ValidatePositiveIntOrPercent(tt.value, field.NewPath("x")); len(got) != tt.wantErrs {
				t.Errorf("errors: got %v, want %d", got, tt.wantErrs)
			}
		})
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
	}{"apps/v1", "deployments", "deployment", "Deployment", []string{"deploy"}, []string{"all"}, true, true, true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kind (-want +got):\n%s", diff)
	}
	if _, ok := k.New().(*appsv1.Deployment); !ok {
		t.Errorf("New: got %T, want *appsv1.Deployment", k.New())
	}
	if _, ok := k.NewList().(*appsv1.DeploymentList); !ok {
		t.Errorf("NewList: got %T, want *appsv1.DeploymentList", k.NewList())
	}
}
