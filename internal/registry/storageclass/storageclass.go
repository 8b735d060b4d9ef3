package storageclass

import (
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/registry"
)

// The annotations that make a class the default for claims that name
// none; the beta one is still honoured.
const (
	IsDefaultAnnotation     = "storageclass.kubernetes.io/is-default-class"
	betaIsDefaultAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
)

// Upstream's limits on provisioner parameters.
const (
	maxParametersSize  = 256 * (1 << 10)
	maxParametersCount = 512
)

var (
	supportedReclaimPolicies = []string{string(corev1.PersistentVolumeReclaimDelete), string(corev1.PersistentVolumeReclaimRetain)}
	supportedBindingModes    = []string{string(storagev1.VolumeBindingImmediate), string(storagev1.VolumeBindingWaitForFirstConsumer)}
)

// Kind returns the registry entry of storage.k8s.io/v1 StorageClass.
// Every strategy method takes *storagev1.StorageClass.
func Kind() *registry.Kind {
	return &registry.Kind{
		GroupVersion: storagev1.SchemeGroupVersion,
		Resource:     "storageclasses",
		Singular:     "storageclass",
		Kind:         "StorageClass",
		ShortNames:   []string{"sc"},
		New:          func() runtime.Object { return &storagev1.StorageClass{} },
		NewList:      func() runtime.Object { return &storagev1.StorageClassList{} },
		Strategy:     strategy{},
		Table:        table,
	}
}

// strategy holds the create and update rules of StorageClasses, which
// have no status.
type strategy struct{}

var _ registry.Strategy = strategy{}

// Default sets reclaimPolicy Delete and volumeBindingMode Immediate.
func (strategy) Default(obj runtime.Object) {
	class := obj.(*storagev1.StorageClass)
	if class.ReclaimPolicy == nil {
		class.ReclaimPolicy = ptr.To(corev1.PersistentVolumeReclaimDelete)
	}
	if class.VolumeBindingMode == nil {
		class.VolumeBindingMode = ptr.To(storagev1.VolumeBindingImmediate)
	}
}

// PrepareForCreate does nothing: a StorageClass has no status.
func (strategy) PrepareForCreate(runtime.Object) {}

// PrepareForUpdate does nothing: a StorageClass has no status.
func (strategy) PrepareForUpdate(obj, old runtime.Object) {}

// Validate checks a new StorageClass.
func (strategy) Validate(obj runtime.Object) field.ErrorList {
	class := obj.(*storagev1.StorageClass)
	errs := apivalidation.ValidateObjectMeta(&class.ObjectMeta, false, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	errs = append(errs, validateProvisioner(class.Provisioner, field.NewPath("provisioner"))...)
	errs = append(errs, validateParameters(class.Parameters, field.NewPath("parameters"))...)
	if policy := ptr.Deref(class.ReclaimPolicy, ""); policy != "" && !sets.New(supportedReclaimPolicies...).Has(string(policy)) {
		errs = append(errs, field.NotSupported(field.NewPath("reclaimPolicy"), policy, supportedReclaimPolicies))
	}
	modePath := field.NewPath("volumeBindingMode")
	if class.VolumeBindingMode == nil {
		errs = append(errs, field.Required(modePath, ""))
	} else if !sets.New(supportedBindingModes...).Has(string(*class.VolumeBindingMode)) {
		errs = append(errs, field.NotSupported(modePath, *class.VolumeBindingMode, supportedBindingModes))
	}
	return append(errs, validateAllowedTopologies(class.AllowedTopologies, field.NewPath("allowedTopologies"))...)
}

// ValidateUpdate checks an update: provisioner, parameters,
// reclaimPolicy and volumeBindingMode never change.
func (s strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	class, oldClass := obj.(*storagev1.StorageClass), old.(*storagev1.StorageClass)
	errs := s.Validate(obj)
	errs = append(errs, apivalidation.ValidateObjectMetaUpdate(&class.ObjectMeta, &oldClass.ObjectMeta, field.NewPath("metadata"))...)
	if !reflect.DeepEqual(class.Parameters, oldClass.Parameters) {
		errs = append(errs, field.Forbidden(field.NewPath("parameters"), "updates to parameters are forbidden."))
	}
	if class.Provisioner != oldClass.Provisioner {
		errs = append(errs, field.Forbidden(field.NewPath("provisioner"), "updates to provisioner are forbidden."))
	}
	if ptr.Deref(class.ReclaimPolicy, "") != ptr.Deref(oldClass.ReclaimPolicy, "") {
		errs = append(errs, field.Forbidden(field.NewPath("reclaimPolicy"), "updates to reclaimPolicy are forbidden."))
	}
	return append(errs, apivalidation.ValidateImmutableField(class.VolumeBindingMode, oldClass.VolumeBindingMode, field.NewPath("volumeBindingMode"))...)
}

// validateProvisioner requires a qualified name ("example.com/nfs").
func validateProvisioner(provisioner string, fldPath *field.Path) field.ErrorList {
	if provisioner == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	var errs field.ErrorList
	for _, msg := range content.IsLabelKey(strings.ToLower(provisioner)) {
		errs = append(errs, field.Invalid(fldPath, provisioner, msg))
	}
	return errs
}

func validateParameters(params map[string]string, fldPath *field.Path) field.ErrorList {
	if len(params) > maxParametersCount {
		return field.ErrorList{field.TooLong(fldPath, "Provisioner Parameters exceeded max allowed", maxParametersCount)}
	}
	var errs field.ErrorList
	size := 0
	for k, v := range params {
		if k == "" {
			errs = append(errs, field.Invalid(fldPath, k, "field can not be empty."))
		}
		size += len(k) + len(v)
	}
	if size > maxParametersSize {
		errs = append(errs, field.TooLong(fldPath, "", maxParametersSize))
	}
	return errs
}

// validateAllowedTopologies checks each term's label requirements and
// rejects terms that repeat another.
func validateAllowedTopologies(terms []corev1.TopologySelectorTerm, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	var seen []map[string]sets.Set[string]
	for i, term := range terms {
		termPath := fldPath.Index(i)
		requirements := map[string]sets.Set[string]{}
		for j, req := range term.MatchLabelExpressions {
			reqPath := termPath.Child("matchLabelExpressions").Index(j)
			errs = append(errs, metav1validation.ValidateLabelName(req.Key, reqPath.Child("key"))...)
			valuesPath := reqPath.Child("values")
			if len(req.Values) == 0 {
				errs = append(errs, field.Required(valuesPath, ""))
			}
			values := sets.New[string]()
			for k, value := range req.Values {
				for _, msg := range content.IsLabelValue(value) {
					errs = append(errs, field.Invalid(valuesPath.Index(k), value, msg))
				}
				if values.Has(value) {
					errs = append(errs, field.Duplicate(valuesPath.Index(k), value))
				}
				values.Insert(value)
			}
			if _, found := requirements[req.Key]; found {
				errs = append(errs, field.Duplicate(reqPath.Child("key"), req.Key))
			}
			requirements[req.Key] = values
		}
		for _, other := range seen {
			if apiequality.Semantic.DeepEqual(requirements, other) {
				errs = append(errs, field.Duplicate(termPath.Child("matchLabelExpressions"), ""))
			}
		}
		seen = append(seen, requirements)
	}
	return errs
}

// IsDefault reports whether a class carries the default-class annotation
// (current or beta) set to "true".
func IsDefault(meta metav1.ObjectMeta) bool {
	return meta.Annotations[IsDefaultAnnotation] == "true" || meta.Annotations[betaIsDefaultAnnotation] == "true"
}

var table = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "Provisioner", Type: "string", Description: storagev1.StorageClass{}.SwaggerDoc()["provisioner"]},
		{Name: "ReclaimPolicy", Type: "string", Description: storagev1.StorageClass{}.SwaggerDoc()["reclaimPolicy"]},
		{Name: "VolumeBindingMode", Type: "string", Description: storagev1.StorageClass{}.SwaggerDoc()["volumeBindingMode"]},
		{Name: "AllowVolumeExpansion", Type: "string", Description: storagev1.StorageClass{}.SwaggerDoc()["allowVolumeExpansion"]},
		registry.AgeColumn,
	},
	Row: func(obj runtime.Object) []interface{} {
		class := obj.(*storagev1.StorageClass)
		name := class.Name
		if IsDefault(class.ObjectMeta) {
			name += " (default)"
		}
		return []interface{}{
			name, class.Provisioner,
			string(ptr.Deref(class.ReclaimPolicy, corev1.PersistentVolumeReclaimDelete)),
			string(ptr.Deref(class.VolumeBindingMode, storagev1.VolumeBindingImmediate)),
			ptr.Deref(class.AllowVolumeExpansion, false),
			registry.Age(class.CreationTimestamp),
		}
	},
}
