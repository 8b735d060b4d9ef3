package persistentvolumeclaim

import (
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func newPVC(mutate ...func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "shop", ResourceVersion: "1"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	for _, m := range mutate {
		m(pvc)
	}
	s := strategy{}
	s.Default(pvc)
	s.PrepareForCreate(pvc)
	return pvc
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
	pvc := newPVC()
	if pvc.Spec.VolumeMode == nil || *pvc.Spec.VolumeMode != corev1.PersistentVolumeFilesystem || pvc.Status.Phase != corev1.ClaimPending {
		t.Errorf("volumeMode %v phase %q, want Filesystem and Pending", pvc.Spec.VolumeMode, pvc.Status.Phase)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.PersistentVolumeClaim)
		want   []string
	}{
		{name: "valid", mutate: func(*corev1.PersistentVolumeClaim) {}},
		{
			name:   "no access modes",
			mutate: func(p *corev1.PersistentVolumeClaim) { p.Spec.AccessModes = nil },
			want:   []string{"FieldValueRequired spec.accessModes"},
		},
		{
			name: "unknown access mode",
			mutate: func(p *corev1.PersistentVolumeClaim) {
				p.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{"ReadSometimes"}
			},
			want: []string{"FieldValueNotSupported spec.accessModes"},
		},
		{
			name:   "no storage request",
			mutate: func(p *corev1.PersistentVolumeClaim) { p.Spec.Resources.Requests = nil },
			want:   []string{"FieldValueRequired spec.resources[storage]"},
		},
		{
			name: "data source of the core group",
			mutate: func(p *corev1.PersistentVolumeClaim) {
				p.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "Pod", Name: "x"}
			},
			want: []string{"FieldValueInvalid spec.dataSource"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == nil {
				tt.want = []string{}
			}
			if d := cmp.Diff(tt.want, errorKeys(strategy{}.Validate(newPVC(tt.mutate)))); d != "" {
				t.Errorf("errors (-want +got):\n%s", d)
			}
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	bound := func(p *corev1.PersistentVolumeClaim) {
		p.Spec.VolumeName = "pv1"
		p.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound,
			Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}
	}
	tests := []struct {
		name   string
		old    func(*corev1.PersistentVolumeClaim)
		mutate func(*corev1.PersistentVolumeClaim)
		want   []string
	}{
		{name: "bind once", mutate: func(p *corev1.PersistentVolumeClaim) { p.Spec.VolumeName = "pv1" }},
		{
			name: "grow a bound claim", old: bound,
			mutate: func(p *corev1.PersistentVolumeClaim) {
				p.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
			},
		},
		{
			name: "shrink a bound claim", old: bound,
			mutate: func(p *corev1.PersistentVolumeClaim) {
				p.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("512Mi")
			},
			want: []string{"FieldValueForbidden spec.resources.requests.storage"},
		},
		{
			name: "grow an unbound claim",
			mutate: func(p *corev1.PersistentVolumeClaim) {
				p.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
			},
			want: []string{"FieldValueForbidden spec"},
		},
		{
			name: "rebind", old: bound,
			mutate: func(p *corev1.PersistentVolumeClaim) { p.Spec.VolumeName = "pv2" },
			want:   []string{"FieldValueForbidden spec"},
		},
		{
			name: "change access modes",
			mutate: func(p *corev1.PersistentVolumeClaim) {
				p.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
			},
			want: []string{"FieldValueForbidden spec"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var muts []func(*corev1.PersistentVolumeClaim)
			if tt.old != nil {
				muts = append(muts, tt.old)
			}
			old := newPVC(muts...)
			if tt.old != nil {
				tt.old(old) // PrepareForCreate reset the status.
			}
			pvc := old.DeepCopy()
			tt.mutate(pvc)
			strategy{}.PrepareForUpdate(pvc, old)
			if tt.want == nil {
				tt.want = []string{}
			}
			if d := cmp.Diff(tt.want, errorKeys(strategy{}.ValidateUpdate(pvc, old))); d != "" {
				t.Errorf("errors (-want +got):\n%s", d)
			}
		})
	}
}

func TestStatusUpdate(t *testing.T) {
	old := newPVC()
	pvc := old.DeepCopy()
	pvc.Spec.VolumeName = "sneaky"
	pvc.Status.Phase = corev1.ClaimBound
	s := statusStrategy{}
	s.PrepareForStatusUpdate(pvc, old)
	if pvc.Spec.VolumeName != "" {
		t.Errorf("spec changed through status")
	}
	if errs := s.ValidateStatusUpdate(pvc, old); len(errs) != 0 {
		t.Errorf("errors = %v, want none", errs)
	}
}

func TestTable(t *testing.T) {
	class := "local"
	created := metav1.NewTime(time.Now().Add(-3 * time.Minute))
	tests := []struct {
		name string
		pvc  *corev1.PersistentVolumeClaim
		want []interface{}
	}{
		{
			name: "pending",
			pvc:  newPVC(func(p *corev1.PersistentVolumeClaim) { p.Spec.StorageClassName = &class }),
			want: []interface{}{"data", "Pending", "", "", "", "local", "<unset>", "3m", "Filesystem"},
		},
		{
			name: "bound",
			pvc: func() *corev1.PersistentVolumeClaim {
				p := newPVC()
				p.Spec.VolumeName = "pv1"
				p.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound,
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")}}
				return p
			}(),
			want: []interface{}{"data", "Bound", "pv1", "2Gi", "RWO", "", "<unset>", "3m", "Filesystem"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.pvc.CreationTimestamp = created
			if d := cmp.Diff(tt.want, table.Row(tt.pvc)); d != "" {
				t.Errorf("row (-want +got):\n%s", d)
			}
		})
	}
	if k := Kind(); !k.Namespaced || k.ShortNames[0] != "pvc" || k.Status == nil {
		t.Errorf("Kind() = %+v", k)
	}
}
