package controllerrevision

import (
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/navarch/navarch/internal/registry"
)

// Kind returns the registry entry of apps/v1 ControllerRevision. Every
// strategy method takes *appsv1.ControllerRevision.
func Kind() *registry.Kind {
	return &registry.Kind{
		GroupVersion: appsv1.SchemeGroupVersion,
		Resource:     "controllerrevisions",
		Singular:     "controllerrevision",
		Kind:         "ControllerRevision",
		Namespaced:   true,
		New:          func() runtime.Object { return &appsv1.ControllerRevision{} },
		NewList:      func() runtime.Object { return &appsv1.ControllerRevisionList{} },
		Strategy:     strategy{},
		Table:        table,
	}
}

// strategy holds the create and update rules of ControllerRevisions. They
// have no defaults and no status.
type strategy struct{}

var _ registry.Strategy = strategy{}

// Default does nothing: upstream has no defaults for ControllerRevision.
func (strategy) Default(runtime.Object) {}

// PrepareForCreate does nothing: a ControllerRevision has no status.
func (strategy) PrepareForCreate(runtime.Object) {}

// PrepareForUpdate does nothing: a ControllerRevision has no status.
func (strategy) PrepareForUpdate(obj, old runtime.Object) {}

// Validate checks a new ControllerRevision: data is required and the
// revision may not be negative.
func (strategy) Validate(obj runtime.Object) field.ErrorList {
	revision := obj.(*appsv1.ControllerRevision)
	errs := apivalidation.ValidateObjectMeta(&revision.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	if revision.Data.Raw == nil && revision.Data.Object == nil {
		errs = append(errs, field.Required(field.NewPath("data"), "data is mandatory"))
	}
	return append(errs, apivalidation.ValidateNonnegativeField(revision.Revision, field.NewPath("revision"))...)
}

// ValidateUpdate checks an update: the data of a revision never changes.
func (s strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	revision, oldRevision := obj.(*appsv1.ControllerRevision), old.(*appsv1.ControllerRevision)
	errs := apivalidation.ValidateObjectMetaUpdate(&revision.ObjectMeta, &oldRevision.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, s.Validate(obj)...)
	return append(errs, apivalidation.ValidateImmutableField(revision.Data, oldRevision.Data, field.NewPath("data"))...)
}

var table = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "Controller", Type: "string", Description: "Controller of the object"},
		{Name: "Revision", Type: "string", Description: appsv1.ControllerRevision{}.SwaggerDoc()["revision"]},
		registry.AgeColumn,
	},
	Row: func(obj runtime.Object) []interface{} {
		revision := obj.(*appsv1.ControllerRevision)
		return []interface{}{revision.Name, controllerName(revision), revision.Revision, registry.Age(revision.CreationTimestamp)}
	},
}

// controllerName renders the controlling owner as kubectl shows it:
// "statefulset.apps/web", or "<none>".
func controllerName(revision *appsv1.ControllerRevision) string {
	ref := metav1.GetControllerOf(revision)
	if ref == nil {
		return "<none>"
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return ref.Name
	}
	kind := gv.WithKind(ref.Kind).GroupKind()
	if kind.Empty() {
		return ref.Name
	}
	return strings.ToLower(kind.String()) + "/" + ref.Name
}
