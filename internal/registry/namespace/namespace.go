package namespace

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	fieldsel "k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/navarch/navarch/internal/registry"
)

// Kind returns the registry entry of core/v1 namespaces, with their status
// subresource.
func Kind() *registry.Kind {
	return &registry.Kind{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "namespaces",
		Singular:     "namespace",
		Kind:         "Namespace",
		ShortNames:   []string{"ns"},
		Namespaced:   false,
		New:          func() runtime.Object { return &corev1.Namespace{} },
		NewList:      func() runtime.Object { return &corev1.NamespaceList{} },
		Strategy:     strategy{},
		Status:       statusStrategy{},
		Table:        table,
		Fields: func(obj runtime.Object) fieldsel.Set {
			ns := obj.(*corev1.Namespace)
			return fieldsel.Set{
				"status.phase": string(ns.Status.Phase),
				// Upstream keeps this legacy field for old clients.
				"name": ns.Name,
			}
		},
	}
}

type strategy struct{}

var (
	_ registry.Strategy       = strategy{}
	_ registry.StatusStrategy = statusStrategy{}
)

// Default labels the namespace with its name, so that selectors can pick
// namespaces by name, and defaults the phase to Active.
func (strategy) Default(obj runtime.Object) {
	ns := obj.(*corev1.Namespace)
	labelWithName(ns)
	if ns.Status.Phase == "" {
		ns.Status.Phase = corev1.NamespaceActive
	}
}

// labelWithName sets kubernetes.io/metadata.name once the name is known;
// a generated name is known only after Default, so PrepareForCreate sets
// it again.
func labelWithName(ns *corev1.Namespace) {
	if ns.Name == "" {
		return
	}
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[corev1.LabelMetadataName] = ns.Name
}

// PrepareForCreate makes the namespace Active and adds the "kubernetes"
// finalizer, which the namespace controller removes once it emptied the
// namespace.
func (strategy) PrepareForCreate(obj runtime.Object) {
	ns := obj.(*corev1.Namespace)
	ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
	hasKubernetes := false
	for _, f := range ns.Spec.Finalizers {
		hasKubernetes = hasKubernetes || f == corev1.FinalizerKubernetes
	}
	if !hasKubernetes {
		ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
	}
	labelWithName(ns)
}

// PrepareForUpdate keeps the finalizers and the status: they change only
// through the finalize and status subresources.
func (strategy) PrepareForUpdate(obj, old runtime.Object) {
	ns, oldNS := obj.(*corev1.Namespace), old.(*corev1.Namespace)
	ns.Spec.Finalizers = oldNS.Spec.Finalizers
	ns.Status = oldNS.Status
	labelWithName(ns)
}

// Validate checks the name (a DNS label) and the finalizers.
func (strategy) Validate(obj runtime.Object) field.ErrorList {
	ns := obj.(*corev1.Namespace)
	errs := apivalidation.ValidateObjectMeta(&ns.ObjectMeta, false, apivalidation.ValidateNamespaceName, field.NewPath("metadata"))
	for _, f := range ns.Spec.Finalizers {
		// Upstream reports every finalizer at spec.finalizers, unindexed.
		errs = append(errs, ValidateFinalizerName(string(f), field.NewPath("spec", "finalizers"))...)
	}
	return errs
}

// ValidateUpdate checks the metadata update; the spec holds only the
// finalizers, which PrepareForUpdate kept.
func (strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	ns, oldNS := obj.(*corev1.Namespace), old.(*corev1.Namespace)
	return apivalidation.ValidateObjectMetaUpdate(&ns.ObjectMeta, &oldNS.ObjectMeta, field.NewPath("metadata"))
}

// standardFinalizers are the finalizer names allowed without a domain.
var standardFinalizers = map[string]bool{
	string(corev1.FinalizerKubernetes): true,
	metav1.FinalizerOrphanDependents:   true,
	metav1.FinalizerDeleteDependents:   true,
}

// ValidateFinalizerName checks a namespace finalizer: a qualified name,
// and with no domain one of the standard ones. The API server's finalize
// subresource uses it for spec.finalizers.
func ValidateFinalizerName(name string, fldPath *field.Path) field.ErrorList {
	errs := apivalidation.ValidateFinalizerName(name, fldPath)
	if !strings.Contains(name, "/") && !standardFinalizers[name] {
		errs = append(errs, field.Invalid(fldPath, name, "name is neither a standard finalizer name nor is it fully qualified"))
	}
	return errs
}

type statusStrategy struct{}

// PrepareForStatusUpdate keeps the spec from old.
func (statusStrategy) PrepareForStatusUpdate(obj, old runtime.Object) {
	obj.(*corev1.Namespace).Spec = old.(*corev1.Namespace).Spec
}

// ValidateStatusUpdate checks the phase: Active until deletion starts,
// Terminating after.
func (statusStrategy) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	ns, oldNS := obj.(*corev1.Namespace), old.(*corev1.Namespace)
	errs := apivalidation.ValidateObjectMetaUpdate(&ns.ObjectMeta, &oldNS.ObjectMeta, field.NewPath("metadata"))
	// Upstream spells this path "status.Phase".
	phasePath := field.NewPath("status", "Phase")
	if ns.DeletionTimestamp.IsZero() {
		if ns.Status.Phase != corev1.NamespaceActive {
			errs = append(errs, field.Invalid(phasePath, ns.Status.Phase, "may only be 'Active' if `deletionTimestamp` is empty"))
		}
	} else if ns.Status.Phase != corev1.NamespaceTerminating {
		errs = append(errs, field.Invalid(phasePath, ns.Status.Phase, "may only be 'Terminating' if `deletionTimestamp` is not empty"))
	}
	return errs
}

// table is kubectl get namespaces: NAME STATUS AGE.
var table = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "Status", Type: "string", Description: "The status of the namespace"},
		registry.AgeColumn,
	},
	Row: func(obj runtime.Object) []interface{} {
		ns := obj.(*corev1.Namespace)
		return []interface{}{ns.Name, string(ns.Status.Phase), registry.Age(ns.CreationTimestamp)}
	},
}
