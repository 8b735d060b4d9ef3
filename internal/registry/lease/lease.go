package lease

import (
	"strings"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/registry"
)

// knownStrategies are the coordinated leader election strategies
// Kubernetes defines; others must be domain-prefixed ("example.com/mine").
var knownStrategies = []string{string(coordinationv1.OldestEmulationVersion)}

// Kind returns the registry entry of coordination.k8s.io/v1 Lease. Every
// strategy method takes *coordinationv1.Lease.
func Kind() *registry.Kind {
	return &registry.Kind{
		GroupVersion: coordinationv1.SchemeGroupVersion,
		Resource:     "leases",
		Singular:     "lease",
		Kind:         "Lease",
		Namespaced:   true,
		New:          func() runtime.Object { return &coordinationv1.Lease{} },
		NewList:      func() runtime.Object { return &coordinationv1.LeaseList{} },
		Strategy:     strategy{},
		Table:        table,
	}
}

// strategy holds the create and update rules of Leases, which have no
// defaults and no status.
type strategy struct{}

var _ registry.Strategy = strategy{}

// Default does nothing: upstream has no defaults for Lease.
func (strategy) Default(runtime.Object) {}

// PrepareForCreate does nothing: a Lease has no status.
func (strategy) PrepareForCreate(runtime.Object) {}

// PrepareForUpdate does nothing: a Lease has no status.
func (strategy) PrepareForUpdate(obj, old runtime.Object) {}

// Validate checks a new Lease.
func (strategy) Validate(obj runtime.Object) field.ErrorList {
	lease := obj.(*coordinationv1.Lease)
	errs := apivalidation.ValidateObjectMeta(&lease.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, validateSpec(&lease.Spec, field.NewPath("spec"))...)
}

// ValidateUpdate checks an update: every spec field may change.
func (strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	lease, oldLease := obj.(*coordinationv1.Lease), old.(*coordinationv1.Lease)
	errs := apivalidation.ValidateObjectMetaUpdate(&lease.ObjectMeta, &oldLease.ObjectMeta, field.NewPath("metadata"))
	return append(errs, validateSpec(&lease.Spec, field.NewPath("spec"))...)
}

func validateSpec(spec *coordinationv1.LeaseSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.LeaseDurationSeconds != nil && *spec.LeaseDurationSeconds <= 0 {
		errs = append(errs, field.Invalid(fldPath.Child("leaseDurationSeconds"), *spec.LeaseDurationSeconds, "must be greater than 0"))
	}
	if spec.LeaseTransitions != nil && *spec.LeaseTransitions < 0 {
		errs = append(errs, field.Invalid(fldPath.Child("leaseTransitions"), *spec.LeaseTransitions, "must be greater than or equal to 0"))
	}
	if spec.Strategy != nil {
		errs = append(errs, validateStrategy(*spec.Strategy, fldPath.Child("strategy"))...)
	}
	if ptr.Deref(spec.PreferredHolder, "") != "" && ptr.Deref(spec.Strategy, "") == "" {
		errs = append(errs, field.Forbidden(fldPath.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
	}
	return errs
}

// validateStrategy accepts a strategy Kubernetes defines or a
// domain-prefixed one of an out-of-tree coordinator.
func validateStrategy(strategy coordinationv1.CoordinatedLeaseStrategy, fldPath *field.Path) field.ErrorList {
	if !strings.Contains(string(strategy), "/") {
		for _, known := range knownStrategies {
			if string(strategy) == known {
				return nil
			}
		}
		return field.ErrorList{field.NotSupported(fldPath, strategy, knownStrategies)}
	}
	var errs field.ErrorList
	for _, msg := range content.IsLabelKey(string(strategy)) {
		errs = append(errs, field.Invalid(fldPath, strategy, msg))
	}
	return errs
}

var table = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "Holder", Type: "string", Description: coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]},
		registry.AgeColumn,
	},
	Row: func(obj runtime.Object) []interface{} {
		lease := obj.(*coordinationv1.Lease)
		return []interface{}{lease.Name, ptr.Deref(lease.Spec.HolderIdentity, ""), registry.Age(lease.CreationTimestamp)}
	},
}
