package deployment

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/registry"
	"github.com/navarch/navarch/internal/registry/pod"
	"github.com/navarch/navarch/internal/registry/replicaset"
)

// Kind returns the registry entry of apps/v1 Deployment, with its status
// and scale subresources. Every strategy method takes *appsv1.Deployment.
func Kind() *registry.Kind {
	return &registry.Kind{
		GroupVersion: appsv1.SchemeGroupVersion,
		Resource:     "deployments",
		Singular:     "deployment",
		Kind:         "Deployment",
		ShortNames:   []string{"deploy"},
		Categories:   []string{"all"},
		Namespaced:   true,
		New:          func() runtime.Object { return &appsv1.Deployment{} },
		NewList:      func() runtime.Object { return &appsv1.DeploymentList{} },
		Strategy:     strategy{},
		Status:       statusStrategy{},
		Scale:        &registry.Scale{Get: getScale, SetReplicas: setReplicas},
		Table:        table,
	}
}

// strategy holds the create and update rules of Deployments.
type strategy struct{}

var _ registry.Strategy = strategy{}

// Default fills what upstream's apps/v1 defaulter fills.
func (strategy) Default(obj runtime.Object) {
	d := obj.(*appsv1.Deployment)
	if d.Spec.Replicas == nil {
		d.Spec.Replicas = ptr.To[int32](1)
	}
	s := &d.Spec.Strategy
	if s.Type == "" {
		s.Type = appsv1.RollingUpdateDeploymentStrategyType
	}
	if s.Type == appsv1.RollingUpdateDeploymentStrategyType {
		if s.RollingUpdate == nil {
			s.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		if s.RollingUpdate.MaxUnavailable == nil {
			s.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromString("25%"))
		}
		if s.RollingUpdate.MaxSurge == nil {
			s.RollingUpdate.MaxSurge = ptr.To(intstr.FromString("25%"))
		}
	}
	if d.Spec.RevisionHistoryLimit == nil {
		d.Spec.RevisionHistoryLimit = ptr.To[int32](10)
	}
	if d.Spec.ProgressDeadlineSeconds == nil {
		d.Spec.ProgressDeadlineSeconds = ptr.To[int32](600)
	}
	pod.DefaultPodSpec(&d.Spec.Template.Spec)
}

// PrepareForCreate clears the status: only the controller writes it.
func (strategy) PrepareForCreate(obj runtime.Object) {
	obj.(*appsv1.Deployment).Status = appsv1.DeploymentStatus{}
}

// PrepareForUpdate keeps the stored status. As upstream, a change of the
// annotations bumps metadata.generation too (set to old+1, so that a spec
// change bumping it as well still counts once), because the controller
// copies a Deployment's annotations to its ReplicaSets.
func (strategy) PrepareForUpdate(obj, old runtime.Object) {
	d, oldD := obj.(*appsv1.Deployment), old.(*appsv1.Deployment)
	d.Status = oldD.Status
	if !apiequality.Semantic.DeepEqual(d.Annotations, oldD.Annotations) {
		d.Generation = oldD.Generation + 1
	}
}

// Validate checks a new Deployment.
func (strategy) Validate(obj runtime.Object) field.ErrorList {
	d := obj.(*appsv1.Deployment)
	errs := apivalidation.ValidateObjectMeta(&d.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, validateSpec(&d.Spec, field.NewPath("spec"))...)
}

// ValidateUpdate checks an update; apps/v1 makes the selector immutable.
func (strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	d, oldD := obj.(*appsv1.Deployment), old.(*appsv1.Deployment)
	specPath := field.NewPath("spec")
	errs := apivalidation.ValidateObjectMetaUpdate(&d.ObjectMeta, &oldD.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, validateSpec(&d.Spec, specPath)...)
	return append(errs, apivalidation.ValidateImmutableField(d.Spec.Selector, oldD.Spec.Selector, specPath.Child("selector"))...)
}

func validateSpec(spec *appsv1.DeploymentSpec, fldPath *field.Path) field.ErrorList {
	errs := apivalidation.ValidateNonnegativeField(int64(ptr.Deref(spec.Replicas, 1)), fldPath.Child("replicas"))
	errs = append(errs, replicaset.ValidateSelectorAndTemplate(spec.Selector, &spec.Template, fldPath)...)
	errs = append(errs, validateStrategy(&spec.Strategy, fldPath.Child("strategy"))...)
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	if spec.RevisionHistoryLimit != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*spec.RevisionHistoryLimit), fldPath.Child("revisionHistoryLimit"))...)
	}
	if spec.ProgressDeadlineSeconds != nil {
		deadlinePath := fldPath.Child("progressDeadlineSeconds")
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*spec.ProgressDeadlineSeconds), deadlinePath)...)
		if *spec.ProgressDeadlineSeconds <= spec.MinReadySeconds {
			errs = append(errs, field.Invalid(deadlinePath, *spec.ProgressDeadlineSeconds, "must be greater than minReadySeconds"))
		}
	}
	return errs
}

func validateStrategy(s *appsv1.DeploymentStrategy, fldPath *field.Path) field.ErrorList {
	switch s.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if s.RollingUpdate != nil {
			return field.ErrorList{field.Forbidden(fldPath.Child("rollingUpdate"), fmt.Sprintf("may not be specified when strategy `type` is '%s'", appsv1.RecreateDeploymentStrategyType))}
		}
		return nil
	case appsv1.RollingUpdateDeploymentStrategyType:
		if s.RollingUpdate == nil {
			return field.ErrorList{field.Required(fldPath.Child("rollingUpdate"), "this should be defaulted and never be nil")}
		}
		return validateRollingUpdate(s.RollingUpdate, fldPath.Child("rollingUpdate"))
	default:
		return field.ErrorList{field.NotSupported(fldPath, s.Type, []string{string(appsv1.RecreateDeploymentStrategyType), string(appsv1.RollingUpdateDeploymentStrategyType)})}
	}
}

func validateRollingUpdate(ru *appsv1.RollingUpdateDeployment, fldPath *field.Path) field.ErrorList {
	maxUnavailable, maxSurge := ptr.Deref(ru.MaxUnavailable, intstr.IntOrString{}), ptr.Deref(ru.MaxSurge, intstr.IntOrString{})
	unavailablePath := fldPath.Child("maxUnavailable")
	errs := ValidatePositiveIntOrPercent(maxUnavailable, unavailablePath)
	errs = append(errs, ValidatePositiveIntOrPercent(maxSurge, fldPath.Child("maxSurge"))...)
	if IntOrPercentValue(maxUnavailable) == 0 && IntOrPercentValue(maxSurge) == 0 {
		errs = append(errs, field.Invalid(unavailablePath, maxUnavailable, "may not be 0 when `maxSurge` is 0"))
	}
	return append(errs, IsNotMoreThan100Percent(maxUnavailable, unavailablePath)...)
}

// statusStrategy holds the rules of the status subresource.
type statusStrategy struct{}

var _ registry.StatusStrategy = statusStrategy{}

// PrepareForStatusUpdate keeps the stored spec.
func (statusStrategy) PrepareForStatusUpdate(obj, old runtime.Object) {
	obj.(*appsv1.Deployment).Spec = old.(*appsv1.Deployment).Spec
}

// ValidateStatusUpdate checks the counters of the new status and that
// collisionCount does not go down.
func (statusStrategy) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	d, oldD := obj.(*appsv1.Deployment), old.(*appsv1.Deployment)
	statusPath := field.NewPath("status")
	errs := apivalidation.ValidateObjectMetaUpdate(&d.ObjectMeta, &oldD.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, validateStatus(&d.Status, statusPath)...)
	if ptr.Deref(d.Status.CollisionCount, 0) < ptr.Deref(oldD.Status.CollisionCount, 0) {
		errs = append(errs, field.Invalid(statusPath.Child("collisionCount"), ptr.Deref(d.Status.CollisionCount, 0), "cannot be decremented"))
	}
	return errs
}

func validateStatus(status *appsv1.DeploymentStatus, fldPath *field.Path) field.ErrorList {
	errs := apivalidation.ValidateNonnegativeField(status.ObservedGeneration, fldPath.Child("observedGeneration"))
	for _, counter := range []struct {
		name  string
		value int32
	}{
		{"replicas", status.Replicas},
		{"updatedReplicas", status.UpdatedReplicas},
		{"readyReplicas", status.ReadyReplicas},
		{"availableReplicas", status.AvailableReplicas},
		{"unavailableReplicas", status.UnavailableReplicas},
	} {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(counter.value), fldPath.Child(counter.name))...)
	}
	if status.CollisionCount != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*status.CollisionCount), fldPath.Child("collisionCount"))...)
	}
	const notAboveReplicas = "cannot be greater than status.replicas"
	if status.UpdatedReplicas > status.Replicas {
		errs = append(errs, field.Invalid(fldPath.Child("updatedReplicas"), status.UpdatedReplicas, notAboveReplicas))
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
	d := obj.(*appsv1.Deployment)
	return ptr.Deref(d.Spec.Replicas, 1), d.Status.Replicas, replicaset.SelectorString(d.Spec.Selector)
}

func setReplicas(obj runtime.Object, replicas int32) {
	obj.(*appsv1.Deployment).Spec.Replicas = ptr.To(replicas)
}

var table = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "Ready", Type: "string", Description: "Number of the pod with ready state"},
		{Name: "Up-to-date", Type: "string", Description: appsv1.DeploymentStatus{}.SwaggerDoc()["updatedReplicas"]},
		{Name: "Available", Type: "string", Description: appsv1.DeploymentStatus{}.SwaggerDoc()["availableReplicas"]},
		registry.AgeColumn,
		{Name: "Containers", Type: "string", Priority: 1, Description: "Names of each container in the template."},
		{Name: "Images", Type: "string", Priority: 1, Description: "Images referenced by each container in the template."},
		{Name: "Selector", Type: "string", Priority: 1, Description: appsv1.DeploymentSpec{}.SwaggerDoc()["selector"]},
	},
	Row: func(obj runtime.Object) []interface{} {
		d := obj.(*appsv1.Deployment)
		names, images := replicaset.ContainerCells(d.Spec.Template.Spec.Containers)
		selector := "<invalid>"
		if parsed, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
			selector = parsed.String()
		}
		return []interface{}{
			d.Name,
			fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, ptr.Deref(d.Spec.Replicas, 1)),
			int64(d.Status.UpdatedReplicas),
			int64(d.Status.AvailableReplicas),
			registry.Age(d.CreationTimestamp),
			names, images, selector,
		}
	},
}
