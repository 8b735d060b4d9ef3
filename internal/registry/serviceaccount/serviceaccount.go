package serviceaccount

import (
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/navarch/navarch/internal/registry"
)

// Kind returns the registry entry of core/v1 serviceaccounts.
func Kind() *registry.Kind {
	return &registry.Kind{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "serviceaccounts",
		Singular:     "serviceaccount",
		Kind:         "ServiceAccount",
		ShortNames:   []string{"sa"},
		Namespaced:   true,
		New:          func() runtime.Object { return &corev1.ServiceAccount{} },
		NewList:      func() runtime.Object { return &corev1.ServiceAccountList{} },
		Strategy:     strategy{},
		Table:        table,
	}
}

type strategy struct{}

var _ registry.Strategy = strategy{}

// Default does nothing: service accounts have no defaults.
func (strategy) Default(runtime.Object) {}

// PrepareForCreate does nothing: a service account has no status.
func (strategy) PrepareForCreate(runtime.Object) {}

// PrepareForUpdate does nothing: a service account has no status.
func (strategy) PrepareForUpdate(_, _ runtime.Object) {}

// Validate checks the name, a DNS subdomain.
func (strategy) Validate(obj runtime.Object) field.ErrorList {
	sa := obj.(*corev1.ServiceAccount)
	return apivalidation.ValidateObjectMeta(&sa.ObjectMeta, true, apivalidation.ValidateServiceAccountName, field.NewPath("metadata"))
}

// ValidateUpdate checks the metadata update and the new object.
func (s strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	sa, oldSA := obj.(*corev1.ServiceAccount), old.(*corev1.ServiceAccount)
	errs := apivalidation.ValidateObjectMetaUpdate(&sa.ObjectMeta, &oldSA.ObjectMeta, field.NewPath("metadata"))
	return append(errs, s.Validate(sa)...)
}

// table is kubectl get serviceaccounts: NAME SECRETS AGE.
var table = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "Secrets", Type: "string", Description: corev1.ServiceAccount{}.SwaggerDoc()["secrets"]},
		registry.AgeColumn,
	},
	Row: func(obj runtime.Object) []interface{} {
		sa := obj.(*corev1.ServiceAccount)
		return []interface{}{sa.Name, int64(len(sa.Secrets)), registry.Age(sa.CreationTimestamp)}
	},
}
