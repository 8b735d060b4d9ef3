package daemonset

import (
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/registry"
	"github.com/navarch/navarch/internal/registry/deployment"
	"github.com/navarch/navarch/internal/registry/pod"
	"github.com/navarch/navarch/internal/registry/replicaset"
)

// TemplateGenerationAnnotation counts the changes of a DaemonSet's pod
// template, starting at "1". Upstream keeps it (apps/v1 has no
// spec.templateGeneration field) and its daemon set controller labels pods
// with it, so clients see it on every DaemonSet.
const TemplateGenerationAnnotation = "deprecated.daemonset.template.generation"

// Kind returns the registry entry of apps/v1 DaemonSet, with its status
// subresource. Every strategy method takes *appsv1.DaemonSet.
func Kind() *registry.Kind {
	return &registry.Kind{
		GroupVersion: appsv1.SchemeGroupVersion,
		Resource:     "daemonsets",
		Singular:     "daemonset",
		Kind:         "DaemonSet",
		ShortNames:   []string{"ds"},
		Categories:   []string{"all"},
		Namespaced:   true,
		New:          func() runtime.Object { return &appsv1.DaemonSet{} },
		NewList:      func() runtime.Object { return &appsv1.DaemonSetList{} },
		Strategy:     strategy{},
		Status:       statusStrategy{},
		Table:        table,
	}
}

// strategy holds the create and update rules of DaemonSets.
type strategy struct{}

var _ registry.Strategy = strategy{}

// Default fills what upstream's apps/v1 defaulter fills.
func (strategy) Default(obj runtime.Object) {
	ds := obj.(*appsv1.DaemonSet)
	s := &ds.Spec.UpdateStrategy
	if s.Type == "" {
		s.Type = appsv1.RollingUpdateDaemonSetStrategyType
	}
	if s.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		if s.RollingUpdate == nil {
			s.RollingUpdate = &appsv1.RollingUpdateDaemonSet{}
		}
		if s.RollingUpdate.MaxUnavailable == nil {
			s.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(1))
		}
		if s.RollingUpdate.MaxSurge == nil {
			s.RollingUpdate.MaxSurge = ptr.To(intstr.FromInt32(0))
		}
	}
	if ds.Spec.RevisionHistoryLimit == nil {
		ds.Spec.RevisionHistoryLimit = ptr.To[int32](10)
	}
	pod.DefaultPodSpec(&ds.Spec.Template.Spec)
}

// PrepareForCreate clears the status and starts the template generation
// at 1.
func (strategy) PrepareForCreate(obj runtime.Object) {
	ds := obj.(*appsv1.DaemonSet)
	ds.Status = appsv1.DaemonSetStatus{}
	setTemplateGeneration(ds, 1)
}

// PrepareForUpdate keeps the stored status and the template generation,
// which goes up by one when the pod template changes.
func (strategy) PrepareForUpdate(obj, old runtime.Object) {
	ds, oldDS := obj.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet)
	ds.Status = oldDS.Status
	generation := templateGeneration(oldDS)
	if !apiequality.Semantic.DeepEqual(ds.Spec.Template, oldDS.Spec.Template) {
		generation++
	}
	setTemplateGeneration(ds, generation)
}

// templateGeneration reads the annotation; a missing or malformed one
// counts as 1, the value every DaemonSet starts with.
func templateGeneration(ds *appsv1.DaemonSet) int64 {
	generation, err := strconv.ParseInt(ds.Annotations[TemplateGenerationAnnotation], 10, 64)
	if err != nil || generation < 1 {
		return 1
	}
	return generation
}

func setTemplateGeneration(ds *appsv1.DaemonSet, generation int64) {
	if ds.Annotations == nil {
		ds.Annotations = map[string]string{}
	}
	ds.Annotations[TemplateGenerationAnnotation] = strconv.FormatInt(generation, 10)
}

// Validate checks a new DaemonSet.
func (strategy) Validate(obj runtime.Object) field.ErrorList {
	ds := obj.(*appsv1.DaemonSet)
	errs := apivalidation.ValidateObjectMeta(&ds.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, validateSpec(&ds.Spec, field.NewPath("spec"))...)
}

// ValidateUpdate checks an update; apps/v1 makes the selector immutable.
func (strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	ds, oldDS := obj.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet)
	specPath := field.NewPath("spec")
	errs := apivalidation.ValidateObjectMetaUpdate(&ds.ObjectMeta, &oldDS.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, validateSpec(&ds.Spec, specPath)...)
	return append(errs, apivalidation.ValidateImmutableField(ds.Spec.Selector, oldDS.Spec.Selector, specPath.Child("selector"))...)
}

func validateSpec(spec *appsv1.DaemonSetSpec, fldPath *field.Path) field.ErrorList {
	selectorPath := fldPath.Child("selector")
	errs := metav1validation.ValidateLabelSelector(spec.Selector, metav1validation.LabelSelectorValidationOptions{}, selectorPath)
	// A missing selector parses as one that selects nothing, so it is
	// reported as not matching the template, as upstream reports it.
	if selector, err := metav1.LabelSelectorAsSelector(spec.Selector); err == nil && !selector.Matches(labels.Set(spec.Template.Labels)) {
		errs = append(errs, field.Invalid(fldPath.Child("template", "metadata", "labels"), spec.Template.Labels, "`selector` does not match template `labels`"))
	}
	if spec.Selector != nil && len(spec.Selector.MatchLabels)+len(spec.Selector.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(selectorPath, spec.Selector, "empty selector is invalid for daemonset"))
	}
	errs = append(errs, pod.ValidatePodTemplateSpec(&spec.Template, fldPath.Child("template"))...)
	templateSpecPath := fldPath.Child("template", "spec")
	if spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(templateSpecPath.Child("restartPolicy"), spec.Template.Spec.RestartPolicy, []string{string(corev1.RestartPolicyAlways)}))
	}
	if spec.Template.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(templateSpecPath.Child("activeDeadlineSeconds"), "activeDeadlineSeconds in DaemonSet is not Supported"))
	}
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	errs = append(errs, validateUpdateStrategy(&spec.UpdateStrategy, fldPath.Child("updateStrategy"))...)
	if spec.RevisionHistoryLimit != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*spec.RevisionHistoryLimit), fldPath.Child("revisionHistoryLimit"))...)
	}
	return errs
}

func validateUpdateStrategy(s *appsv1.DaemonSetUpdateStrategy, fldPath *field.Path) field.ErrorList {
	switch s.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
		return nil
	case appsv1.RollingUpdateDaemonSetStrategyType:
		if s.RollingUpdate == nil {
			return field.ErrorList{field.Required(fldPath.Child("rollingUpdate"), "")}
		}
		return validateRollingUpdate(s.RollingUpdate, fldPath.Child("rollingUpdate"))
	default:
		return field.ErrorList{field.NotSupported(fldPath, s.Type, []string{string(appsv1.RollingUpdateDaemonSetStrategyType), string(appsv1.OnDeleteDaemonSetStrategyType)})}
	}
}

// validateRollingUpdate requires exactly one of maxUnavailable and
// maxSurge to be non-zero, as upstream does for DaemonSets.
func validateRollingUpdate(ru *appsv1.RollingUpdateDaemonSet, fldPath *field.Path) field.ErrorList {
	maxUnavailable, maxSurge := ptr.Deref(ru.MaxUnavailable, intstr.IntOrString{}), ptr.Deref(ru.MaxSurge, intstr.IntOrString{})
	unavailablePath, surgePath := fldPath.Child("maxUnavailable"), fldPath.Child("maxSurge")
	errs := deployment.ValidatePositiveIntOrPercent(maxUnavailable, unavailablePath)
	errs = append(errs, deployment.ValidatePositiveIntOrPercent(maxSurge, surgePath)...)
	errs = append(errs, deployment.IsNotMoreThan100Percent(maxUnavailable, unavailablePath)...)
	errs = append(errs, deployment.IsNotMoreThan100Percent(maxSurge, surgePath)...)
	hasUnavailable := deployment.IntOrPercentValue(maxUnavailable) != 0
	hasSurge := deployment.IntOrPercentValue(maxSurge) != 0
	switch {
	case hasUnavailable && hasSurge:
		errs = append(errs, field.Invalid(surgePath, maxSurge, "may not be set when maxUnavailable is non-zero"))
	case !hasUnavailable && !hasSurge:
		errs = append(errs, field.Required(unavailablePath, "cannot be 0 when maxSurge is 0"))
	}
	return errs
}

// statusStrategy holds the rules of the status subresource.
type statusStrategy struct{}

var _ registry.StatusStrategy = statusStrategy{}

// PrepareForStatusUpdate keeps the stored spec.
func (statusStrategy) PrepareForStatusUpdate(obj, old runtime.Object) {
	obj.(*appsv1.DaemonSet).Spec = old.(*appsv1.DaemonSet).Spec
}

// ValidateStatusUpdate checks the counters of the new status and that
// collisionCount does not go down.
func (statusStrategy) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	ds, oldDS := obj.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet)
	statusPath := field.NewPath("status")
	errs := apivalidation.ValidateObjectMetaUpdate(&ds.ObjectMeta, &oldDS.ObjectMeta, field.NewPath("metadata"))
	for _, counter := range []struct {
		name  string
		value int32
	}{
		{"currentNumberScheduled", ds.Status.CurrentNumberScheduled},
		{"numberMisscheduled", ds.Status.NumberMisscheduled},
		{"desiredNumberScheduled", ds.Status.DesiredNumberScheduled},
		{"numberReady", ds.Status.NumberReady},
		{"updatedNumberScheduled", ds.Status.UpdatedNumberScheduled},
		{"numberAvailable", ds.Status.NumberAvailable},
		{"numberUnavailable", ds.Status.NumberUnavailable},
	} {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(counter.value), statusPath.Child(counter.name))...)
	}
	errs = append(errs, apivalidation.ValidateNonnegativeField(ds.Status.ObservedGeneration, statusPath.Child("observedGeneration"))...)
	if ds.Status.CollisionCount != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*ds.Status.CollisionCount), statusPath.Child("collisionCount"))...)
	}
	if ptr.Deref(ds.Status.CollisionCount, 0) < ptr.Deref(oldDS.Status.CollisionCount, 0) {
		errs = append(errs, field.Invalid(statusPath.Child("collisionCount"), ptr.Deref(ds.Status.CollisionCount, 0), "cannot be decremented"))
	}
	return errs
}

var table = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "Desired", Type: "integer", Description: appsv1.DaemonSetStatus{}.SwaggerDoc()["desiredNumberScheduled"]},
		{Name: "Current", Type: "integer", Description: appsv1.DaemonSetStatus{}.SwaggerDoc()["currentNumberScheduled"]},
		{Name: "Ready", Type: "integer", Description: appsv1.DaemonSetStatus{}.SwaggerDoc()["numberReady"]},
		{Name: "Up-to-date", Type: "integer", Description: appsv1.DaemonSetStatus{}.SwaggerDoc()["updatedNumberScheduled"]},
		{Name: "Available", Type: "integer", Description: appsv1.DaemonSetStatus{}.SwaggerDoc()["numberAvailable"]},
		{Name: "Node Selector", Type: "string", Description: corev1.PodSpec{}.SwaggerDoc()["nodeSelector"]},
		registry.AgeColumn,
		{Name: "Containers", Type: "string", Priority: 1, Description: "Names of each container in the template."},
		{Name: "Images", Type: "string", Priority: 1, Description: "Images referenced by each container in the template."},
		{Name: "Selector", Type: "string", Priority: 1, Description: appsv1.DaemonSetSpec{}.SwaggerDoc()["selector"]},
	},
	Row: func(obj runtime.Object) []interface{} {
		ds := obj.(*appsv1.DaemonSet)
		names, images := replicaset.ContainerCells(ds.Spec.Template.Spec.Containers)
		return []interface{}{
			ds.Name,
			int64(ds.Status.DesiredNumberScheduled),
			int64(ds.Status.CurrentNumberScheduled),
			int64(ds.Status.NumberReady),
			int64(ds.Status.UpdatedNumberScheduled),
			int64(ds.Status.NumberAvailable),
			labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector),
			registry.Age(ds.CreationTimestamp),
			names, images, metav1.FormatLabelSelector(ds.Spec.Selector),
		}
	},
}
