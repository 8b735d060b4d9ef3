package ingressclass

import (
	networkingv1 "k8s.io/api/networking/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/registry"
	"github.com/navarch/navarch/internal/registry/ingress"
)

// maxControllerLength is upstream's limit on spec.controller.
const maxControllerLength = 250

var supportedScopes = []string{networkingv1.IngressClassParametersReferenceScopeCluster, networkingv1.IngressClassParametersReferenceScopeNamespace}

// Kind returns the registry entry of networking.k8s.io/v1 IngressClass.
// Every strategy method takes *networkingv1.IngressClass.
func Kind() *registry.Kind {
	return &registry.Kind{
		GroupVersion: networkingv1.SchemeGroupVersion,
		Resource:     "ingressclasses",
		Singular:     "ingressclass",
		Kind:         "IngressClass",
		New:          func() runtime.Object { return &networkingv1.IngressClass{} },
		NewList:      func() runtime.Object { return &networkingv1.IngressClassList{} },
		Strategy:     strategy{},
		Table:        table,
	}
}

// strategy holds the create and update rules of IngressClasses, which
// have no status.
type strategy struct{}

var _ registry.Strategy = strategy{}

// Default scopes parameters to the cluster when no scope is given.
func (strategy) Default(obj runtime.Object) {
	class := obj.(*networkingv1.IngressClass)
	if params := class.Spec.Parameters; params != nil && params.Scope == nil {
		params.Scope = ptr.To(networkingv1.IngressClassParametersReferenceScopeCluster)
	}
}

// PrepareForCreate does nothing: an IngressClass has no status.
func (strategy) PrepareForCreate(runtime.Object) {}

// PrepareForUpdate does nothing: an IngressClass has no status.
func (strategy) PrepareForUpdate(obj, old runtime.Object) {}

// Validate checks a new IngressClass.
func (strategy) Validate(obj runtime.Object) field.ErrorList {
	class := obj.(*networkingv1.IngressClass)
	errs := apivalidation.ValidateObjectMeta(&class.ObjectMeta, false, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, validateSpec(&class.Spec, field.NewPath("spec"))...)
}

// ValidateUpdate checks an update: the controller never changes.
func (s strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	class, oldClass := obj.(*networkingv1.IngressClass), old.(*networkingv1.IngressClass)
	errs := apivalidation.ValidateObjectMetaUpdate(&class.ObjectMeta, &oldClass.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, apivalidation.ValidateImmutableField(class.Spec.Controller, oldClass.Spec.Controller, field.NewPath("spec", "controller"))...)
	return append(errs, s.Validate(obj)...)
}

func validateSpec(spec *networkingv1.IngressClassSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	controllerPath := fldPath.Child("controller")
	if len(spec.Controller) > maxControllerLength {
		errs = append(errs, field.TooLong(controllerPath, "", maxControllerLength))
	}
	// An empty controller is reported as required here.
	errs = append(errs, validation.IsDomainPrefixedPath(controllerPath, spec.Controller)...)
	if params := spec.Parameters; params != nil {
		errs = append(errs, validateParameters(params, fldPath.Child("parameters"))...)
	}
	return errs
}

func validateParameters(params *networkingv1.IngressClassParametersReference, fldPath *field.Path) field.ErrorList {
	errs := ingress.ValidateTypedLocalObjectReference(params.APIGroup, params.Kind, params.Name, fldPath)
	scopePath, namespacePath := fldPath.Child("scope"), fldPath.Child("namespace")
	if params.Scope == nil {
		return append(errs, field.Required(scopePath, ""))
	}
	switch *params.Scope {
	case networkingv1.IngressClassParametersReferenceScopeNamespace:
		if params.Namespace == nil {
			errs = append(errs, field.Required(namespacePath, "`parameters.scope` is set to 'Namespace'"))
		} else {
			for _, msg := range apivalidation.ValidateNamespaceName(*params.Namespace, false) {
				errs = append(errs, field.Invalid(namespacePath, *params.Namespace, msg))
			}
		}
	case networkingv1.IngressClassParametersReferenceScopeCluster:
		if params.Namespace != nil {
			errs = append(errs, field.Forbidden(namespacePath, "`parameters.scope` is set to 'Cluster'"))
		}
	default:
		errs = append(errs, field.NotSupported(scopePath, *params.Scope, supportedScopes))
	}
	return errs
}

var table = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "Controller", Type: "string", Description: "Controller that is responsible for handling this class"},
		{Name: "Parameters", Type: "string", Description: "A reference to a resource with additional parameters"},
		registry.AgeColumn,
	},
	Row: func(obj runtime.Object) []interface{} {
		class := obj.(*networkingv1.IngressClass)
		return []interface{}{class.Name, class.Spec.Controller, parametersCell(class.Spec.Parameters), registry.Age(class.CreationTimestamp)}
	},
}

// parametersCell renders the parameters reference as kubectl shows it:
// "Kind.group/name", or "<none>".
func parametersCell(params *networkingv1.IngressClassParametersReference) string {
	if params == nil {
		return "<none>"
	}
	cell := params.Kind
	if params.APIGroup != nil {
		cell += "." + *params.APIGroup
	}
	return cell + "/" + params.Name
}
