package statefulset

import (
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// newStatefulSet returns a small valid StatefulSet with one volume claim
// template, defaulted as the API server would before validating it.
func newStatefulSet() *appsv1.StatefulSet {
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default", ResourceVersion: "1"},
		Spec: appsv1.StatefulSetSpec{
			ServiceName: "db",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "db"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "postgres:17"}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
	strategy{}.Default(sts)
	return sts
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
	sts := newStatefulSet()
	spec := sts.Spec
	checks := []struct {
		name      string
		got, want interface{}
	}{
		{"replicas", *spec.Replicas, int32(1)},
		{"podManagementPolicy", spec.PodManagementPolicy, appsv1.OrderedReadyPodManagement},
		{"updateStrategy", spec.UpdateStrategy, appsv1.StatefulSetUpdateStrategy{
			Type: appsv1.RollingUpdateStatefulSetStrategyType, RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](0)}}},
		{"revisionHistoryLimit", *spec.RevisionHistoryLimit, int32(10)},
		{"persistentVolumeClaimRetentionPolicy", *spec.PersistentVolumeClaimRetentionPolicy, appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
			WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType, WhenScaled: appsv1.RetainPersistentVolumeClaimRetentionPolicyType}},
		{"claim volumeMode", *spec.VolumeClaimTemplates[0].Spec.VolumeMode, corev1.PersistentVolumeFilesystem},
		{"claim phase", spec.VolumeClaimTemplates[0].Status.Phase, corev1.ClaimPending},
		{"template restartPolicy", spec.Template.Spec.RestartPolicy, corev1.RestartPolicyAlways},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, c.got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	t.Run("OnDelete keeps no rolling update", func(t *testing.T) {
		sts := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}}}
		strategy{}.Default(sts)
		if sts.Spec.UpdateStrategy.RollingUpdate != nil {
			t.Errorf("rollingUpdate: got %v, want nil", sts.Spec.UpdateStrategy.RollingUpdate)
		}
	})
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*appsv1.StatefulSet)
		want   []string
	}{
		{name: "valid", mutate: func(*appsv1.StatefulSet) {}, want: []string{}},
		{name: "name not a DNS label", mutate: func(sts *appsv1.StatefulSet) { sts.Name = "db.main" },
			want: []string{"metadata.name FieldValueInvalid"}},
		{name: "bad pod management policy", mutate: func(sts *appsv1.StatefulSet) { sts.Spec.PodManagementPolicy = "Random" },
			want: []string{"spec.podManagementPolicy FieldValueInvalid"}},
		{name: "no update strategy", mutate: func(sts *appsv1.StatefulSet) { sts.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{} },
			want: []string{"spec.updateStrategy FieldValueRequired"}},
		{name: "OnDelete with rolling update", mutate: func(sts *appsv1.StatefulSet) { sts.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType },
			want: []string{"spec.updateStrategy.rollingUpdate FieldValueInvalid"}},
		{name: "negative partition", mutate: func(sts *appsv1.StatefulSet) { sts.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](-1) },
			want: []string{"spec.updateStrategy.rollingUpdate.partition FieldValueInvalid"}},
		{name: "zero max unavailable", mutate: func(sts *appsv1.StatefulSet) {
			sts.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(0))
		}, want: []string{"spec.updateStrategy.rollingUpdate.maxUnavailable FieldValueInvalid"}},
		{name: "bad retention policy", mutate: func(sts *appsv1.StatefulSet) { sts.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = "Keep" },
			want: []string{"spec.persistentVolumeClaimRetentionPolicy.whenScaled FieldValueNotSupported"}},
		{name: "negative replicas", mutate: func(sts *appsv1.StatefulSet) { sts.Spec.Replicas = ptr.To[int32](-2) },
			want: []string{"spec.replicas FieldValueInvalid"}},
		{name: "negative ordinals start", mutate: func(sts *appsv1.StatefulSet) { sts.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: -1} },
			want: []string{"spec.ordinals.start FieldValueInvalid"}},
		{name: "empty selector", mutate: func(sts *appsv1.StatefulSet) { sts.Spec.Selector = &metav1.LabelSelector{} },
			want: []string{"spec.selector FieldValueInvalid"}},
		{name: "selector does not match", mutate: func(sts *appsv1.StatefulSet) { sts.Spec.Template.Labels = map[string]string{"app": "web"} },
			want: []string{"spec.template.metadata.labels FieldValueInvalid"}},
		{name: "template restarts never", mutate: func(sts *appsv1.StatefulSet) { sts.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever },
			want: []string{"spec.template.spec.restartPolicy FieldValueNotSupported"}},
		{name: "template active deadline", mutate: func(sts *appsv1.StatefulSet) { sts.Spec.Template.Spec.ActiveDeadlineSeconds = ptr.To[int64](5) },
			want: []string{"spec.template.spec.activeDeadlineSeconds FieldValueForbidden"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sts := newStatefulSet()
			tt.mutate(sts)
			if diff := cmp.Diff(tt.want, summary(strategy{}.Validate(sts))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	const forbidden = "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
	tests := []struct {
		name       string
		mutate     func(*appsv1.StatefulSet)
		want       []string
		wantDetail string
	}{
		{name: "scale, new image, partition, retention, history", mutate: func(sts *appsv1.StatefulSet) {
			sts.Spec.Replicas = ptr.To[int32](3)
			sts.Spec.Template.Spec.Containers[0].Image = "postgres:18"
			sts.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](2)
			sts.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
			sts.Spec.RevisionHistoryLimit = ptr.To[int32](3)
			sts.Spec.MinReadySeconds = 5
		}, want: []string{}},
		{name: "service name changes", mutate: func(sts *appsv1.StatefulSet) { sts.Spec.ServiceName = "db-headless" },
			want: []string{"spec FieldValueForbidden"}, wantDetail: forbidden},
		{name: "claim template changes", mutate: func(sts *appsv1.StatefulSet) {
			sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
		}, want: []string{"spec FieldValueForbidden"}, wantDetail: forbidden},
		{name: "pod management policy changes", mutate: func(sts *appsv1.StatefulSet) { sts.Spec.PodManagementPolicy = appsv1.ParallelPodManagement },
			want: []string{"spec FieldValueForbidden"}, wantDetail: forbidden},
		{name: "selector changes", mutate: func(sts *appsv1.StatefulSet) {
			sts.Spec.Selector.MatchLabels["tier"] = "a"
			sts.Spec.Template.Labels["tier"] = "a"
		}, want: []string{"spec FieldValueForbidden"}, wantDetail: forbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newStatefulSet()
			sts := old.DeepCopy()
			tt.mutate(sts)
			errs := strategy{}.ValidateUpdate(sts, old)
			if diff := cmp.Diff(tt.want, summary(errs)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if tt.wantDetail != "" && len(errs) == 1 && errs[0].Detail != tt.wantDetail {
				t.Errorf("detail: got %q, want %q", errs[0].Detail, tt.wantDetail)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	old := newStatefulSet()
	old.Status = appsv1.StatefulSetStatus{Replicas: 1, CollisionCount: ptr.To[int32](1)}

	sts := old.DeepCopy()
	sts.Spec.Replicas = ptr.To[int32](5)
	sts.Status.ReadyReplicas = 1
	statusStrategy{}.PrepareForStatusUpdate(sts, old)
	if *sts.Spec.Replicas != 1 || sts.Status.ReadyReplicas != 1 {
		t.Errorf("got spec.replicas %d status.readyReplicas %d, want 1 and 1", *sts.Spec.Replicas, sts.Status.ReadyReplicas)
	}

	tests := []struct {
		name   string
		status appsv1.StatefulSetStatus
		want   []string
	}{
		{name: "valid", status: appsv1.StatefulSetStatus{Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 2, CollisionCount: ptr.To[int32](1)}, want: []string{}},
		{name: "ready above replicas", status: appsv1.StatefulSetStatus{Replicas: 1, ReadyReplicas: 2, CollisionCount: ptr.To[int32](1)},
			want: []string{"status.readyReplicas FieldValueInvalid"}},
		{name: "collision count decremented", status: appsv1.StatefulSetStatus{},
			want: []string{"status.collisionCount FieldValueInvalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sts := old.DeepCopy()
			sts.Status = tt.status
			if diff := cmp.Diff(tt.want, summary(statusStrategy{}.ValidateStatusUpdate(sts, old))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}

	created := newStatefulSet()
	created.Status.Replicas = 3
	strategy{}.PrepareForCreate(created)
	if created.Status.Replicas != 0 {
		t.Errorf("create: status.replicas got %d, want 0", created.Status.Replicas)
	}
}

func TestScaleAndTable(t *testing.T) {
	sts := newStatefulSet()
	sts.Status = appsv1.StatefulSetStatus{Replicas: 2, ReadyReplicas: 1}
	kind := Kind()
	kind.Scale.SetReplicas(sts, 2)
	if spec, status, selector := kind.Scale.Get(sts); spec != 2 || status != 2 || selector != "app=db" {
		t.Errorf("scale: got (%d, %d, %q), want (2, 2, %q)", spec, status, selector, "app=db")
	}
	want := []interface{}{"db", "1/2", "<unknown>", "db", "postgres:17"}
	if diff := cmp.Diff(want, kind.Table.Row(sts)); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}
	if len(kind.Table.Columns) != len(want) {
		t.Errorf("got %d columns, want %d", len(kind.Table.Columns), len(want))
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
	}{"apps/v1", "statefulsets", "statefulset", "StatefulSet", []string{"sts"}, []string{"all"}, true, true, true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kind (-want +got):\n%s", diff)
	}
	if _, ok := k.New().(*appsv1.StatefulSet); !ok {
		t.Errorf("New: got %T, want *appsv1.StatefulSet", k.New())
	}
	if _, ok := k.NewList().(*appsv1.StatefulSetList); !ok {
		t.Errorf("NewList: got %T, want *appsv1.StatefulSetList", k.NewList())
	}
}
