package storageclass

import (
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// newClass returns a small valid StorageClass, defaulted as the API
// server would before validating it.
func newClass() *storagev1.StorageClass {
	class := &storagev1.StorageClass{
		ObjectMeta:  metav1.ObjectMeta{Name: "local", ResourceVersion: "1"},
		Provisioner: "navarch.dev/local-path",
		Parameters:  map[string]string{"path": "/var/lib/navarch/volumes"},
	}
	strategy{}.Default(class)
	return class
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
		name        string
		in          storagev1.StorageClass
		wantReclaim corev1.PersistentVolumeReclaimPolicy
		wantBinding storagev1.VolumeBindingMode
	}{
		{name: "unset", wantReclaim: corev1.PersistentVolumeReclaimDelete, wantBinding: storagev1.VolumeBindingImmediate},
		{name: "set values stay", in: storagev1.StorageClass{ReclaimPolicy: ptr.To(corev1.PersistentVolumeReclaimRetain),
			VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)},
			wantReclaim: corev1.PersistentVolumeReclaimRetain, wantBinding: storagev1.VolumeBindingWaitForFirstConsumer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			class := tt.in.DeepCopy()
			strategy{}.Default(class)
			if *class.ReclaimPolicy != tt.wantReclaim || *class.VolumeBindingMode != tt.wantBinding {
				t.Errorf("got (%s, %s), want (%s, %s)", *class.ReclaimPolicy, *class.VolumeBindingMode, tt.wantReclaim, tt.wantBinding)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	term := func(key string, values ...string) corev1.TopologySelectorTerm {
		return corev1.TopologySelectorTerm{MatchLabelExpressions: []corev1.TopologySelectorLabelRequirement{{Key: key, Values: values}}}
	}
	tests := []struct {
		name   string
		mutate func(*storagev1.StorageClass)
		want   []string
	}{
		{name: "valid", mutate: func(*storagev1.StorageClass) {}, want: []string{}},
		{name: "valid topology", mutate: func(c *storagev1.StorageClass) {
			c.AllowedTopologies = []corev1.TopologySelectorTerm{term("topology.kubernetes.io/zone", "a", "b")}
		}, want: []string{}},
		{name: "no provisioner", mutate: func(c *storagev1.StorageClass) { c.Provisioner = "" }, want: []string{"provisioner FieldValueRequired"}},
		{name: "bad provisioner", mutate: func(c *storagev1.StorageClass) { c.Provisioner = "not/a/name" }, want: []string{"provisioner FieldValueInvalid"}},
		{name: "empty parameter key", mutate: func(c *storagev1.StorageClass) { c.Parameters[""] = "x" }, want: []string{"parameters FieldValueInvalid"}},
		{name: "bad reclaim policy", mutate: func(c *storagev1.StorageClass) { c.ReclaimPolicy = ptr.To(corev1.PersistentVolumeReclaimRecycle) },
			want: []string{"reclaimPolicy FieldValueNotSupported"}},
		{name: "bad binding mode", mutate: func(c *storagev1.StorageClass) { c.VolumeBindingMode = ptr.To(storagev1.VolumeBindingMode("Later")) },
			want: []string{"volumeBindingMode FieldValueNotSupported"}},
		{name: "topology without values", mutate: func(c *storagev1.StorageClass) {
			c.AllowedTopologies = []corev1.TopologySelectorTerm{term("topology.kubernetes.io/zone")}
		}, want: []string{"allowedTopologies[0].matchLabelExpressions[0].values FieldValueRequired"}},
		{name: "repeated topology term", mutate: func(c *storagev1.StorageClass) {
			c.AllowedTopologies = []corev1.TopologySelectorTerm{term("zone", "a"), term("zone", "a")}
		}, want: []string{"allowedTopologies[1].matchLabelExpressions FieldValueDuplicate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClass()
			tt.mutate(c)
			if diff := cmp.Diff(tt.want, summary(strategy{}.Validate(c))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	tests := []struct {
		name       string
		mutate     func(*storagev1.StorageClass)
		want       []string
		wantDetail string
	}{
		{name: "make default", mutate: func(c *storagev1.StorageClass) { c.Annotations = map[string]string{IsDefaultAnnotation: "true"} }, want: []string{}},
		{name: "allow expansion", mutate: func(c *storagev1.StorageClass) { c.AllowVolumeExpansion = ptr.To(true) }, want: []string{}},
		{name: "change parameters", mutate: func(c *storagev1.StorageClass) { c.Parameters["path"] = "/data" },
			want: []string{"parameters FieldValueForbidden"}, wantDetail: "updates to parameters are forbidden."},
		{name: "change provisioner", mutate: func(c *storagev1.StorageClass) { c.Provisioner = "example.com/nfs" },
			want: []string{"provisioner FieldValueForbidden"}, wantDetail: "updates to provisioner are forbidden."},
		{name: "change reclaim policy", mutate: func(c *storagev1.StorageClass) { c.ReclaimPolicy = ptr.To(corev1.PersistentVolumeReclaimRetain) },
			want: []string{"reclaimPolicy FieldValueForbidden"}, wantDetail: "updates to reclaimPolicy are forbidden."},
		{name: "change binding mode", mutate: func(c *storagev1.StorageClass) {
			c.VolumeBindingMode = ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)
		},
			want: []string{"volumeBindingMode FieldValueInvalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newClass()
			c := old.DeepCopy()
			tt.mutate(c)
			errs := strategy{}.ValidateUpdate(c, old)
			if diff := cmp.Diff(tt.want, summary(errs)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if tt.wantDetail != "" && len(errs) == 1 && errs[0].Detail != tt.wantDetail {
				t.Errorf("detail: got %q, want %q", errs[0].Detail, tt.wantDetail)
			}
		})
	}
}

func TestTableRow(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*storagev1.StorageClass)
		want   []interface{}
	}{
		{name: "plain", mutate: func(*storagev1.StorageClass) {},
			want: []interface{}{"local", "navarch.dev/local-path", "Delete", "Immediate", false, "<unknown>"}},
		{name: "default class", mutate: func(c *storagev1.StorageClass) {
			c.Annotations = map[string]string{IsDefaultAnnotation: "true"}
			c.AllowVolumeExpansion = ptr.To(true)
			c.VolumeBindingMode = ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)
		}, want: []interface{}{"local (default)", "navarch.dev/local-path", "Delete", "WaitForFirstConsumer", true, "<unknown>"}},
		{name: "beta default annotation", mutate: func(c *storagev1.StorageClass) {
			c.Annotations = map[string]string{"storageclass.beta.kubernetes.io/is-default-class": "true"}
		}, want: []interface{}{"local (default)", "navarch.dev/local-path", "Delete", "Immediate", false, "<unknown>"}},
		{name: "annotation not true", mutate: func(c *storagev1.StorageClass) { c.Annotations = map[string]string{IsDefaultAnnotation: "false"} },
			want: []interface{}{"local", "navarch.dev/local-path", "Delete", "Immediate", false, "<unknown>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClass()
			tt.mutate(c)
			if diff := cmp.Diff(tt.want, Kind().Table.Row(c)); diff != "" {
				t.Errorf("row (-want +got):\n%s", diff)
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
	}{"storage.k8s.io/v1", "storageclasses", "storageclass", "StorageClass", []string{"sc"}, nil, false, false, false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kind (-want +got):\n%s", diff)
	}
	if _, ok := k.New().(*storagev1.StorageClass); !ok {
		t.Errorf("New: got %T, want *storagev1.StorageClass", k.New())
	}
	if _, ok := k.NewList().(*storagev1.StorageClassList); !ok {
		t.Errorf("NewList: got %T, want *storagev1.StorageClassList", k.NewList())
	}
}
