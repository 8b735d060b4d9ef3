package replicaset

import (
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/registry"
	"github.com/navarch/navarch/internal/registry/pod"
)

// Kind returns the registry entry of apps/v1 ReplicaSet, with its status
// and scale subresources. Every strategy method takes *appsv1.ReplicaSet.
func Kind() *registry.Kind {
	return &registry.Kind{
		GroupVersion: appsv1.SchemeGroupVersion,
		Resource:     "replicasets",
		Singular:     "replicaset",
		Kind:         "ReplicaSet",
		ShortNames:   []string{"rs"},
		Categories:   []string{"all"},
		Namespaced:   true,
		New:          func() runtime.Object { return &appsv1.ReplicaSet{} },
		NewList:      func() runtime.Object { return &appsv1.ReplicaSetList{} },
		Strategy:     strategy{},
		Status:       statusStrategy{},
		Scale:        &registry.Scale{Get: getScale, SetReplicas: setReplicas},
		Table:        table,
		Fields:       selectableFields,
	}
}

// strategy holds the create and update rules of ReplicaSets.
type strategy struct{}

var _ registry.Strategy = strategy{}

// Default sets replicas to 1 when unset and defaults the pod template.
func (strategy) Default(obj runtime.Object) {
	rs := obj.(*appsv1.ReplicaSet)
	if rs.Spec.Replicas == nil {
		rs.Spec.Replicas = ptr.To[int32](1)
	}
	pod.DefaultPodSpec(&rs.Spec.Template.Spec)
}

// PrepareForCreate clears the status: only the controller writes it.
func (strategy) PrepareForCreate(obj runtime.Object) {
	obj.(*appsv1.ReplicaSet).Status = appsv1.ReplicaSetStatus{}
}

// PrepareForUpdate keeps the stored status: it changes only through the
// status subresource.
func (strategy) PrepareForUpdate(obj, old runtime.Object) {
	obj.(*appsv1.ReplicaSet).Status = old.(*appsv1.ReplicaSet).Status
}

// Validate checks a new ReplicaSet.
func (strategy) Validate(obj runtime.Object) field.ErrorList {
	rs := obj.(*appsv1.ReplicaSet)
	errs := apivalidation.ValidateObjectMeta(&rs.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, validateSpec(&rs.Spec, field.NewPath("spec"))...)
}

// ValidateUpdate checks an update; apps/v1 makes the selector immutable.
func (strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	rs, oldRS := obj.(*appsv1.ReplicaSet), old.(*appsv1.ReplicaSet)
	specPath := field.NewPath("spec")
	errs := apivalidation.ValidateObjectMetaUpdate(&rs.ObjectMeta, &oldRS.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, validateSpec(&rs.Spec, specPath)...)
	return append(errs, apivalidation.ValidateImmutableField(rs.Spec.Selector, oldRS.Spec.Selector, specPath.Child("selector"))...)
}

func validateSpec(spec *appsv1.ReplicaSetSpec, fldPath *field.Path) field.ErrorList {
	errs := apivalidation.ValidateNonnegativeField(int64(ptr.Deref(spec.Replicas, 1)), fldPath.Child("replicas"))
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	return append(errs, ValidateSelectorAndTemplate(spec.Selector, &spec.Template, fldPath)...)
}

// statusStrategy holds the rules of the status subresource.
type statusStrategy struct{}

var _ registry.StatusStrategy = statusStrategy{}

// PrepareForStatusUpdate keeps the stored spec.
func (statusStrategy) PrepareForStatusUpdate(obj, old runtime.Object) {
	obj.(*appsv1.ReplicaSet).Spec = old.(*appsv1.ReplicaSet).Spec
}

// ValidateStatusUpdate checks the counters of the new status.
func (statusStrategy) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	rs, oldRS := obj.(*appsv1.ReplicaSet), old.(*appsv1.ReplicaSet)
	errs := apivalidation.ValidateObjectMetaUpdate(&rs.ObjectMeta, &oldRS.ObjectMeta, field.NewPath("metadata"))
	return append(errs, validateStatus(&rs.Status, field.NewPath("status"))...)
}

func validateStatus(status *appsv1.ReplicaSetStatus, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, counter := range []struct {
		name  string
		value int32
	}{
		{"replicas", status.Replicas},
		{"fullyLabeledReplicas", status.FullyLabeledReplicas},
		{"readyReplicas", status.ReadyReplicas},
		{"availableReplicas", status.AvailableReplicas},
	} {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(counter.value), fldPath.Child(counter.name))...)
	}
	errs = append(errs, apivalidation.ValidateNonnegativeField(status.ObservedGeneration, fldPath.Child("observedGeneration"))...)
	const notAboveReplicas = "cannot be greater than status.replicas"
	if status.FullyLabeledReplicas > status.Replicas {
		errs = append(errs, field.Invalid(fldPath.Child("fullyLabeledReplicas"), status.FullyLabeledReplicas, notAboveReplicas))
	}
	if status.ReadyReplicas > status.Replicas {
		errs = append(errs, field.Invalid(fldPath.Child("readyReplicas"), status.ReadyReplicas, notAboveReplicas))
	}
	if status.AvailableReplicas > status.Replicas {
		errs = append(errs, field.Invalid(fldPath.Child("availableReplicas"), status.AvailableReplicas, notAboveReplicas))
	}
	if status.AvailableReplicas > status.ReadyReplicas {
		errs = append(errs, field.Invalid(fldPath.Child("availableReplicas"), status.AvailableReplicas, "cannot be greater than readyReplicas"))
	}
	return errs
}

func getScale(obj runtime.Object) (specReplicas, statusReplicas int32, selector string) {
	rs := obj.(*appsv1.ReplicaSet)
	return ptr.Deref(rs.Spec.Replicas, 1), rs.Status.Replicas, SelectorString(rs.Spec.Selector)
}

func setReplicas(obj runtime.Object, replicas int32) {
	obj.(*appsv1.ReplicaSet).Spec.Replicas = ptr.To(replicas)
}

// SelectorString renders a label selector as the scale subresource and
// the SELECTOR column show it ("app=web,tier in (a,b)"): empty for a
// selector that does not parse.
func SelectorString(selector *metav1.LabelSelector) string {
	parsed, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return ""
	}
	return parsed.String()
}

// selectableFields adds status.replicas, the field upstream lets a field
// selector name for ReplicaSets.
func selectableFields(obj runtime.Object) fields.Set {
	rs := obj.(*appsv1.ReplicaSet)
	return fields.Set{"status.replicas": strconv.Itoa(int(rs.Status.Replicas))}
}

// ContainerCells lays out the CONTAINERS and IMAGES cells of a pod
// template as kubectl -o wide shows them: comma-separated, in order.
func ContainerCells(containers []corev1.Container) (names, images string) {
	for i, c := range containers {
		if i > 0 {
			names += ","
			images += ","
		}
		names += c.Name
		images += c.Image
	}
	return names, images
}

var table = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "Desired", Type: "integer", Description: appsv1.ReplicaSetSpec{}.SwaggerDoc()["replicas"]},
		{Name: "Current", Type: "integer", Description: appsv1.ReplicaSetStatus{}.SwaggerDoc()["replicas"]},
		{Name: "Ready", Type: "integer", Description: appsv1.ReplicaSetStatus{}.SwaggerDoc()["readyReplicas"]},
		registry.AgeColumn,
		{Name: "Containers", Type: "string", Priority: 1, Description: "Names of each container in the template."},
		{Name: "Images", Type: "string", Priority: 1, Description: "Images referenced by each container in the template."},
		{Name: "Selector", Type: "string", Priority: 1, Description: appsv1.ReplicaSetSpec{}.SwaggerDoc()["selector"]},
	},
	Row: func(obj runtime.Object) []interface{} {
		rs := obj.(*appsv1.ReplicaSet)
		names, images := ContainerCells(rs.Spec.Template.Spec.Containers)
		return []interface{}{
			rs.Name,
			int64(ptr.Deref(rs.Spec.Replicas, 1)),
			int64(rs.Status.Replicas),
			int64(rs.Status.ReadyReplicas),
			registry.Age(rs.CreationTimestamp),
			names, images, metav1.FormatLabelSelector(rs.Spec.Selector),
		}
	},
}
