package persistentvolume

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func newPV(mutate ...func(*corev1.PersistentVolume)) *corev1.PersistentVolume {
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pv1", ResourceVersion: "1"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv/pv1"}},
		},
	}
	for _, m := range mutate {
		m(pv)
	}
	s := strategy{}
	s.Default(pv)
	s.PrepareForCreate(pv)
	return pv
}

func errorKeys(errs field.ErrorList) []string {
	keys := []string{}
	for _, e := range errs {
		keys = append(keys, string(e.Type)+" "+e.Field)
	}
	sort.Strings(keys)
	return keys
}

func TestDefaults(t *testing.T) {
	pv := newPV()
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain ||
		pv.Spec.VolumeMode == nil || *pv.Spec.VolumeMode != corev1.PersistentVolumeFilesystem ||
		pv.Status.Phase != corev1.VolumePending || pv.Status.LastPhaseTransitionTime == nil {
		t.Errorf("defaults: reclaim %q mode %v status %+v, want Retain, Filesystem, Pending with a time",
			pv.Spec.PersistentVolumeReclaimPolicy, pv.Spec.VolumeMode, pv.Status)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.PersistentVolume)
		want   []string
	}{
		{name: "valid", mutate: func(*corev1.PersistentVolume) {}},
		{
			name:   "no access modes",
			mutate: func(pv *corev1.PersistentVolume) { pv.Spec.AccessModes = nil },
			want:   []string{"FieldValueRequired spec.accessModes"},
		},
		{
			name: "ReadWriteOncePod with others",
			mutate: func(pv *corev1.PersistentVolume) {
				pv.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadWriteOncePod}
			},
			want: []string{"FieldValueForbidden spec.accessModes"},
		},
		{
			name:   "no capacity",
			mutate: func(pv *corev1.PersistentVolume) { pv.Spec.Capacity = nil },
			want:   []string{"FieldValueNotSupported spec.capacity", "FieldValueRequired spec.capacity"},
		},
		{
			name:   "zero capacity",
			mutate: func(pv *corev1.PersistentVolume) { pv.Spec.Capacity[corev1.ResourceStorage] = resource.MustParse("0") },
			want:   []string{"FieldValueInvalid spec.capacity[storage]"},
		},
		{
			name:   "no source",
			mutate: func(pv *corev1.PersistentVolume) { pv.Spec.HostPath = nil },
			want:   []string{"FieldValueRequired spec"},
		},
		{
			name:   "two sources",
			mutate: func(pv *corev1.PersistentVolume) { pv.Spec.NFS = &corev1.NFSVolumeSource{Server: "nas", Path: "/x"} },
			want:   []string{"FieldValueForbidden spec.nfs"},
		},
		{
			name: "local without node affinity",
			mutate: func(pv *corev1.PersistentVolume) {
				pv.Spec.HostPath, pv.Spec.Local = nil, &corev1.LocalVolumeSource{Path: "/mnt/disk1"}
			},
			want: []string{"FieldValueRequired spec.nodeAffinity"},
		},
		{
			name: "recycle root",
			mutate: func(pv *corev1.PersistentVolume) {
				pv.Spec.HostPath.Path, pv.Spec.PersistentVolumeReclaimPolicy = "/", corev1.PersistentVolumeReclaimRecycle
			},
			want: []string{"FieldValueForbidden spec.persistentVolumeReclaimPolicy"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == nil {
				tt.want = []string{}
			}
			if d := cmp.Diff(tt.want, errorKeys(strategy{}.Validate(newPV(tt.mutate)))); d != "" {
				t.Errorf("errors (-want +got):\n%s", d)
			}
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	old := newPV()
	pv := old.DeepCopy()
	pv.Spec.HostPath.Path = "/srv/other"
	errs := strategy{}.ValidateUpdate(pv, old)
	if d := cmp.Diff([]string{"FieldValueForbidden spec.persistentvolumesource"}, errorKeys(errs)); d != "" {
		t.Fatalf("errors (-want +got):\n%s", d)
	}
	if !strings.Contains(errs[0].Detail, "/srv/other") {
		t.Errorf("detail %q does not show the change", errs[0].Detail)
	}

	grown := old.DeepCopy()
	grown.Spec.Capacity[corev1.ResourceStorage] = resource.MustParse("2Gi")
	grown.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimDelete
	if errs := (strategy{}).ValidateUpdate(grown, old); len(errs) != 0 {
		t.Errorf("capacity and reclaim policy change: %v, want allowed", errs)
	}
}

func TestStatusUpdate(t *testing.T) {
	old := newPV()
	pv := old.DeepCopy()
	pv.Status.Phase = corev1.VolumeAvailable
	pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimDelete
	s := statusStrategy{}
	s.PrepareForStatusUpdate(pv, old)
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain {
		t.Errorf("spec changed through status")
	}
	if errs := s.ValidateStatusUpdate(pv, old); len(errs) != 0 {
		t.Errorf("errors = %v, want none", errs)
	}
	pv.Status.Phase = "Lost"
	if d := cmp.Diff([]string{"FieldValueNotSupported status.phase"}, errorKeys(s.ValidateStatusUpdate(pv, old))); d != "" {
		t.Errorf("errors (-want +got):\n%s", d)
	}
}

func TestTable(t *testing.T) {
	pv := newPV(func(pv *corev1.PersistentVolume) {
		pv.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany, corev1.ReadWriteOnce, corev1.ReadWriteOnce}
		pv.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "shop", Name: "data"}
		pv.Spec.StorageClassName = "local"
	})
	pv.Status.Phase = corev1.VolumeBound
	pv.CreationTimestamp = metav1.NewTime(time.Now().Add(-time.Hour))
	want := []interface{}{"pv1", "1Gi", "RWO,RWX", "Retain", "Bound", "shop/data", "local", "<unset>", "", "60m", "Filesystem"}
	if d := cmp.Diff(want, table.Row(pv)); d != "" {
		t.Errorf("row (-want +got):\n%s", d)
	}
	if k := Kind(); k.Namespaced || k.ShortNames[0] != "pv" || k.Status == nil || k.Fields(pv)["name"] != "pv1" {
		t.Errorf("Kind() = %+v", k)
	}
}
