package persistentvolumeclaim

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	fieldsel "k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/navarch/navarch/internal/registry"
)

// betaStorageClassAnnotation is the pre-field way to name a claim's
// storage class; it wins over the field, as upstream reads it.
const betaStorageClassAnnotation = "volume.beta.kubernetes.io/storage-class"

// Kind returns the registry entry of core/v1 persistentvolumeclaims, with
// their status subresource.
func Kind() *registry.Kind {
	return &registry.Kind{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "persistentvolumeclaims",
		Singular:     "persistentvolumeclaim",
		Kind:         "PersistentVolumeClaim",
		ShortNames:   []string{"pvc"},
		Namespaced:   true,
		New:          func() runtime.Object { return &corev1.PersistentVolumeClaim{} },
		NewList:      func() runtime.Object { return &corev1.PersistentVolumeClaimList{} },
		Strategy:     strategy{},
		Status:       statusStrategy{},
		Table:        table,
		Fields: func(obj runtime.Object) fieldsel.Set {
			// Upstream keeps this legacy field for old clients.
			return fieldsel.Set{"name": obj.(*corev1.PersistentVolumeClaim).Name}
		},
	}
}

type strategy struct{}

var (
	_ registry.Strategy       = strategy{}
	_ registry.StatusStrategy = statusStrategy{}
)

// Default sets volume mode Filesystem and phase Pending.
func (strategy) Default(obj runtime.Object) {
	pvc := obj.(*corev1.PersistentVolumeClaim)
	if pvc.Spec.VolumeMode == nil {
		mode := corev1.PersistentVolumeFilesystem
		pvc.Spec.VolumeMode = &mode
	}
	if pvc.Status.Phase == "" {
		pvc.Status.Phase = corev1.ClaimPending
	}
}

// ProtectionFinalizer keeps a claim that pods use from going away under
// them (upstream's StorageObjectInUseProtection admission adds it; the
// storageprotection controller removes it once no pod uses the claim).
const ProtectionFinalizer = "kubernetes.io/pvc-protection"

// PrepareForCreate starts the claim Pending, for the volume controller to
// bind, and protected while in use.
func (strategy) PrepareForCreate(obj runtime.Object) {
	pvc := obj.(*corev1.PersistentVolumeClaim)
	if !slices.Contains(pvc.Finalizers, ProtectionFinalizer) {
		pvc.Finalizers = append(pvc.Finalizers, ProtectionFinalizer)
	}
	pvc.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
}

// PrepareForUpdate keeps the status from old.
func (strategy) PrepareForUpdate(obj, old runtime.Object) {
	obj.(*corev1.PersistentVolumeClaim).Status = old.(*corev1.PersistentVolumeClaim).Status
}

// Validate checks a new claim.
func (strategy) Validate(obj runtime.Object) field.ErrorList {
	return validate(obj.(*corev1.PersistentVolumeClaim))
}

// ValidateUpdate checks an update: the spec is fixed except volumeName
// (set once, by binding) and, for a bound claim, a storage request that
// grows (volume expansion) or shrinks back to no less than the capacity.
func (strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	pvc, oldPVC := obj.(*corev1.PersistentVolumeClaim), old.(*corev1.PersistentVolumeClaim)
	errs := apivalidation.ValidateObjectMetaUpdate(&pvc.ObjectMeta, &oldPVC.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, validate(pvc)...)

	newSpec, oldSpec := pvc.Spec.DeepCopy(), oldPVC.Spec.DeepCopy()
	if oldSpec.VolumeName == "" {
		oldSpec.VolumeName = newSpec.VolumeName
	}
	// A claim that never had a class may get one, as upstream allows.
	if oldSpec.StorageClassName == nil && newSpec.StorageClassName != nil {
		if c, ok := oldPVC.Annotations[betaStorageClassAnnotation]; !ok || c == *newSpec.StorageClassName {
			newSpec.StorageClassName = nil
		}
	}
	if pvc.Status.Phase == corev1.ClaimBound {
		if newSpec.Resources.Requests != nil {
			newSpec.Resources.Requests[corev1.ResourceStorage] = oldPVC.Spec.Resources.Requests[corev1.ResourceStorage]
		}
		if newSpec.VolumeAttributesClassName != nil {
			newSpec.VolumeAttributesClassName = oldSpec.VolumeAttributesClassName
		}
	}
	if !apiequality.Semantic.DeepEqual(*newSpec, *oldSpec) {
		errs = append(errs, field.Forbidden(field.NewPath("spec"), fmt.Sprintf(
			"spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n%v", diff.Diff(*oldSpec, *newSpec))))
	}
	newSize := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	oldSize := oldPVC.Spec.Resources.Requests[corev1.ResourceStorage]
	capacity := oldPVC.Status.Capacity[corev1.ResourceStorage]
	// A request may shrink back after a failed expansion, never below
	// what the volume has: volumes do not shrink.
	if newSize.Cmp(oldSize) < 0 && newSize.Cmp(capacity) <= 0 {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "resources", "requests", "storage"), "field can not be less than status.capacity"))
	}
	// Upstream names this path without "spec".
	return append(errs, apivalidation.ValidateImmutableField(pvc.Spec.VolumeMode, oldPVC.Spec.VolumeMode, field.NewPath("volumeMode"))...)
}

type statusStrategy struct{}

// PrepareForStatusUpdate keeps the spec from old.
func (statusStrategy) PrepareForStatusUpdate(obj, old runtime.Object) {
	obj.(*corev1.PersistentVolumeClaim).Spec = old.(*corev1.PersistentVolumeClaim).Spec
}

var supportedPhases = []corev1.PersistentVolumeClaimPhase{corev1.ClaimBound, corev1.ClaimLost, corev1.ClaimPending}

// ValidateStatusUpdate checks the phase and the reported capacity.
func (statusStrategy) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	pvc, oldPVC := obj.(*corev1.PersistentVolumeClaim), old.(*corev1.PersistentVolumeClaim)
	errs := apivalidation.ValidateObjectMetaUpdate(&pvc.ObjectMeta, &oldPVC.ObjectMeta, field.NewPath("metadata"))
	if len(pvc.Spec.AccessModes) == 0 {
		// Upstream spells this path "Spec.accessModes".
		errs = append(errs, field.Required(field.NewPath("Spec", "accessModes"), ""))
	}
	if pvc.Status.Phase != "" && !has(supportedPhases, pvc.Status.Phase) {
		errs = append(errs, field.NotSupported(field.NewPath("status", "phase"), pvc.Status.Phase, supportedPhases))
	}
	for name, q := range pvc.Status.Capacity {
		if q.Value() < 0 {
			errs = append(errs, field.Invalid(field.NewPath("status", "capacity").Key(string(name)), q.Value(), "must be a valid resource quantity"))
		}
	}
	return errs
}

func has[T comparable](list []T, v T) bool {
	for _, item := range list {
		if item == v {
			return true
		}
	}
	return false
}

var (
	supportedAccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOnce, corev1.ReadWriteOncePod}
	supportedVolumeModes = []corev1.PersistentVolumeMode{corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem}
)

func validate(pvc *corev1.PersistentVolumeClaim) field.ErrorList {
	errs := apivalidation.ValidateObjectMeta(&pvc.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	specPath := field.NewPath("spec")
	spec := &pvc.Spec
	if len(spec.AccessModes) == 0 {
		errs = append(errs, field.Required(specPath.Child("accessModes"), "at least 1 access mode is required"))
	}
	if spec.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(spec.Selector, metav1validation.LabelSelectorValidationOptions{}, specPath.Child("selector"))...)
	}
	onePod, others := false, false
	for _, mode := range spec.AccessModes {
		switch {
		case !has(supportedAccessModes, mode):
			errs = append(errs, field.NotSupported(specPath.Child("accessModes"), mode, supportedAccessModes))
		case mode == corev1.ReadWriteOncePod:
			onePod = true
		default:
			others = true
		}
	}
	if onePod && others {
		errs = append(errs, field.Forbidden(specPath.Child("accessModes"), "may not use ReadWriteOncePod with other access modes"))
	}
	// Upstream names the storage request spec.resources[storage].
	storagePath := specPath.Child("resources").Key(string(corev1.ResourceStorage))
	if storage, ok := spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		errs = append(errs, field.Required(storagePath, ""))
	} else if storage.Sign() <= 0 {
		errs = append(errs, field.Invalid(storagePath, storage.String(), "must be greater than zero"))
	}
	if spec.StorageClassName != nil && *spec.StorageClassName != "" {
		for _, msg := range apivalidation.NameIsDNSSubdomain(*spec.StorageClassName, false) {
			errs = append(errs, field.Invalid(specPath.Child("storageClassName"), *spec.StorageClassName, msg))
		}
	}
	if spec.VolumeMode != nil && !has(supportedVolumeModes, *spec.VolumeMode) {
		errs = append(errs, field.NotSupported(specPath.Child("volumeMode"), *spec.VolumeMode, supportedVolumeModes))
	}
	if ds := spec.DataSource; ds != nil {
		errs = append(errs, validateDataSource(ds.Name, ds.Kind, ds.APIGroup, specPath.Child("dataSource"))...)
	}
	if ref := spec.DataSourceRef; ref != nil {
		errs = append(errs, validateDataSource(ref.Name, ref.Kind, ref.APIGroup, specPath.Child("dataSourceRef"))...)
		if ref.Namespace != nil && *ref.Namespace != "" {
			for _, msg := range apivalidation.ValidateNamespaceName(*ref.Namespace, false) {
				errs = append(errs, field.Invalid(specPath.Child("dataSourceRef", "namespace"), *ref.Namespace, msg))
			}
		}
	}
	if ref, ds := spec.DataSourceRef, spec.DataSource; ref != nil && ds != nil {
		switch {
		case ref.Namespace != nil && *ref.Namespace != "":
			errs = append(errs, field.Invalid(specPath, specPath.Child("dataSource"), "may not be specified when dataSourceRef.namespace is specified"))
		case ref.Kind != ds.Kind || ref.Name != ds.Name || !equalStringPtr(ref.APIGroup, ds.APIGroup):
			errs = append(errs, field.Invalid(specPath, specPath.Child("dataSource"), "must match dataSourceRef"))
		}
	}
	if name := spec.VolumeAttributesClassName; name != nil && *name != "" {
		for _, msg := range apivalidation.NameIsDNSSubdomain(*name, false) {
			errs = append(errs, field.Invalid(specPath.Child("volumeAttributesClassName"), *name, msg))
		}
	}
	return errs
}

func equalStringPtr(a, b *string) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

// validateDataSource checks what a claim is populated from: another claim
// in the core group, or an object of a named group.
func validateDataSource(name, kind string, apiGroup *string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(fldPath.Child("name"), ""))
	}
	if kind == "" {
		errs = append(errs, field.Required(fldPath.Child("kind"), ""))
	}
	group := ""
	if apiGroup != nil {
		group = *apiGroup
	}
	if group == "" && kind != "PersistentVolumeClaim" {
		errs = append(errs, field.Invalid(fldPath, kind, "must be 'PersistentVolumeClaim' when referencing the default apiGroup"))
	}
	if group != "" {
		for _, msg := range validation.IsDNS1123Subdomain(group) {
			errs = append(errs, field.Invalid(fldPath.Child("apiGroup"), group, msg))
		}
	}
	return errs
}

// table is kubectl get persistentvolumeclaims: NAME STATUS VOLUME
// CAPACITY ACCESS MODES STORAGECLASS VOLUMEATTRIBUTESCLASS AGE, and
// VOLUMEMODE with -o wide.
var table = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "Status", Type: "string", Description: corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()["phase"]},
		{Name: "Volume", Type: "string", Description: corev1.PersistentVolumeClaimSpec{}.SwaggerDoc()["volumeName"]},
		{Name: "Capacity", Type: "string", Description: corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()["capacity"]},
		{Name: "Access Modes", Type: "string", Description: corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()["accessModes"]},
		{Name: "StorageClass", Type: "string", Description: "StorageClass of the pvc"},
		{Name: "VolumeAttributesClass", Type: "string", Description: "VolumeAttributesClass of the pvc"},
		registry.AgeColumn,
		{Name: "VolumeMode", Type: "string", Priority: 1, Description: corev1.PersistentVolumeClaimSpec{}.SwaggerDoc()["volumeMode"]},
	},
	Row: func(obj runtime.Object) []interface{} {
		pvc := obj.(*corev1.PersistentVolumeClaim)
		phase := string(pvc.Status.Phase)
		if pvc.DeletionTimestamp != nil {
			phase = "Terminating"
		}
		// Capacity and modes are the bound volume's, so shown once bound.
		capacity, modes := "", ""
		if pvc.Spec.VolumeName != "" {
			q := pvc.Status.Capacity[corev1.ResourceStorage]
			capacity, modes = q.String(), accessModesString(pvc.Status.AccessModes)
		}
		storageClass := ""
		if pvc.Spec.StorageClassName != nil {
			storageClass = *pvc.Spec.StorageClassName
		}
		if c, ok := pvc.Annotations[betaStorageClassAnnotation]; ok {
			storageClass = c
		}
		attributesClass := "<unset>"
		if pvc.Spec.VolumeAttributesClassName != nil {
			attributesClass = *pvc.Spec.VolumeAttributesClassName
		}
		volumeMode := "<unset>"
		if pvc.Spec.VolumeMode != nil {
			volumeMode = string(*pvc.Spec.VolumeMode)
		}
		return []interface{}{
			pvc.Name, phase, pvc.Spec.VolumeName, capacity, modes, storageClass, attributesClass,
			registry.Age(pvc.CreationTimestamp), volumeMode,
		}
	},
}

// accessModesString renders access modes as kubectl shows them, in a
// fixed order without repeats: "RWO,ROX,RWX,RWOP".
func accessModesString(modes []corev1.PersistentVolumeAccessMode) string {
	var out []string
	for _, m := range []struct {
		mode  corev1.PersistentVolumeAccessMode
		short string
	}{
		{corev1.ReadWriteOnce, "RWO"}, {corev1.ReadOnlyMany, "ROX"}, {corev1.ReadWriteMany, "RWX"}, {corev1.ReadWriteOncePod, "RWOP"},
	} {
		if has(modes, m.mode) {
			out = append(out, m.short)
		}
	}
	return strings.Join(out, ",")
}
