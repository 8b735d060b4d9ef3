package statefulset

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/registry"
	"github.com/navarch/navarch/internal/registry/deployment"
	"github.com/navarch/navarch/internal/registry/pod"
	"github.com/navarch/navarch/internal/registry/replicaset"
)

// Kind returns the registry entry of apps/v1 StatefulSet, with its status
// and scale subresources. Every strategy method takes *appsv1.StatefulSet.
func Kind() *registry.Kind {
	return &registry.Kind{
		GroupVersion: appsv1.SchemeGroupVersion,
		Resource:     "statefulsets",
		Singular:     "statefulset",
		Kind:         "StatefulSet",
		ShortNames:   []string{"sts"},
		Categories:   []string{"all"},
		Namespaced:   true,
		New:          func() runtime.Object { return &appsv1.StatefulSet{} },
		NewList:      func() runtime.Object { return &appsv1.StatefulSetList{} },
		Strategy:     strategy{},
		Status:       statusStrategy{},
		Scale:        &registry.Scale{Get: getScale, SetReplicas: setReplicas},
		Table:        table,
	}
}

// strategy holds the create and update rules of StatefulSets.
type strategy struct{}

var _ registry.Strategy = strategy{}

// Default fills what upstream's apps/v1 defaulter fills, including the
// PersistentVolumeClaim defaults of each volume claim template.
func (strategy) Default(obj runtime.Object) {
	sts := obj.(*appsv1.StatefulSet)
	spec := &sts.Spec
	if spec.PodManagementPolicy == "" {
		spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
	}
	if spec.UpdateStrategy.Type == "" {
		spec.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
		if spec.UpdateStrategy.RollingUpdate == nil {
			spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{}
		}
	}
	if ru := spec.UpdateStrategy.RollingUpdate; spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType && ru != nil && ru.Partition == nil {
		ru.Partition = ptr.To[int32](0)
	}
	if spec.PersistentVolumeClaimRetentionPolicy == nil {
		spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{}
	}
	if spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted == "" {
		spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	if spec.PersistentVolumeClaimRetentionPolicy.WhenScaled == "" {
		spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	if spec.Replicas == nil {
		spec.Replicas = ptr.To[int32](1)
	}
	if spec.RevisionHistoryLimit == nil {
		spec.RevisionHistoryLimit = ptr.To[int32](10)
	}
	pod.DefaultPodSpec(&spec.Template.Spec)
	for i := range spec.VolumeClaimTemplates {
		claim := &spec.VolumeClaimTemplates[i]
		if claim.Spec.VolumeMode == nil {
			claim.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeFilesystem)
		}
		if claim.Status.Phase == "" {
			claim.Status.Phase = corev1.ClaimPending
		}
	}
}

// PrepareForCreate clears the status: only the controller writes it.
func (strategy) PrepareForCreate(obj runtime.Object) {
	obj.(*appsv1.StatefulSet).Status = appsv1.StatefulSetStatus{}
}

// PrepareForUpdate keeps the stored status.
func (strategy) PrepareForUpdate(obj, old runtime.Object) {
	obj.(*appsv1.StatefulSet).Status = old.(*appsv1.StatefulSet).Status
}

// Validate checks a new StatefulSet. Its name must be a DNS label: pod
// names and hostnames derive from it.
func (strategy) Validate(obj runtime.Object) field.ErrorList {
	sts := obj.(*appsv1.StatefulSet)
	errs := apivalidation.ValidateObjectMeta(&sts.ObjectMeta, true, apivalidation.NameIsDNSLabel, field.NewPath("metadata"))
	return append(errs, validateSpec(&sts.Spec, field.NewPath("spec"))...)
}

// ValidateUpdate checks an update. Only replicas, ordinals, template,
// updateStrategy, revisionHistoryLimit, persistentVolumeClaimRetentionPolicy
// and minReadySeconds may change; the name is not re-validated, so objects
// stored under older, looser rules can still be updated and deleted.
func (strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	sts, oldSTS := obj.(*appsv1.StatefulSet), old.(*appsv1.StatefulSet)
	errs := apivalidation.ValidateObjectMetaUpdate(&sts.ObjectMeta, &oldSTS.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, validateSpec(&sts.Spec, field.NewPath("spec"))...)

	// Compare the specs with every mutable field taken from old; what is
	// left different is a forbidden change.
	changed := sts.Spec.DeepCopy()
	changed.Replicas = oldSTS.Spec.Replicas
	changed.Ordinals = oldSTS.Spec.Ordinals
	changed.Template = oldSTS.Spec.Template
	changed.UpdateStrategy = oldSTS.Spec.UpdateStrategy
	changed.RevisionHistoryLimit = oldSTS.Spec.RevisionHistoryLimit
	changed.PersistentVolumeClaimRetentionPolicy = oldSTS.Spec.PersistentVolumeClaimRetentionPolicy
	changed.MinReadySeconds = oldSTS.Spec.MinReadySeconds
	if !apiequality.Semantic.DeepEqual(*changed, oldSTS.Spec) {
		errs = append(errs, field.Forbidden(field.NewPath("spec"), "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
	}
	return errs
}

func validateSpec(spec *appsv1.StatefulSetSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch spec.PodManagementPolicy {
	case "":
		errs = append(errs, field.Required(fldPath.Child("podManagementPolicy"), ""))
	case appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement:
	default:
		errs = append(errs, field.Invalid(fldPath.Child("podManagementPolicy"), spec.PodManagementPolicy,
			fmt.Sprintf("must be '%s' or '%s'", appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement)))
	}
	errs = append(errs, validateUpdateStrategy(&spec.UpdateStrategy, fldPath.Child("updateStrategy"))...)
	if policy := spec.PersistentVolumeClaimRetentionPolicy; policy != nil {
		policyPath := fldPath.Child("persistentVolumeClaimRetentionPolicy")
		errs = append(errs, validateRetentionPolicyType(policy.WhenDeleted, policyPath.Child("whenDeleted"))...)
		errs = append(errs, validateRetentionPolicyType(policy.WhenScaled, policyPath.Child("whenScaled"))...)
	}
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(ptr.Deref(spec.Replicas, 1)), fldPath.Child("replicas"))...)
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	if spec.Ordinals != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(spec.Ordinals.Start), fldPath.Child("ordinals", "start"))...)
	}
	if spec.RevisionHistoryLimit != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*spec.RevisionHistoryLimit), fldPath.Child("revisionHistoryLimit"))...)
	}

	selectorPath := fldPath.Child("selector")
	if spec.Selector == nil {
		errs = append(errs, field.Required(selectorPath, ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(spec.Selector, metav1validation.LabelSelectorValidationOptions{}, selectorPath)...)
		if len(spec.Selector.MatchLabels)+len(spec.Selector.MatchExpressions) == 0 {
			errs = append(errs, field.Invalid(selectorPath, spec.Selector, "empty selector is invalid for statefulset"))
		}
	}
	if selector, err := metav1.LabelSelectorAsSelector(spec.Selector); err != nil {
		errs = append(errs, field.Invalid(selectorPath, spec.Selector, ""))
	} else {
		errs = append(errs, validateTemplate(&spec.Template, selector, fldPath.Child("template"))...)
	}

	templateSpecPath := fldPath.Child("template", "spec")
	if spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(templateSpecPath.Child("restartPolicy"), spec.Template.Spec.RestartPolicy, []string{string(corev1.RestartPolicyAlways)}))
	}
	if spec.Template.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(templateSpecPath.Child("activeDeadlineSeconds"), "activeDeadlineSeconds in StatefulSet is not Supported"))
	}
	return errs
}

// validateTemplate checks the pod template as upstream does for
// StatefulSets: the selector must match its labels and its metadata must
// be valid. Upstream leaves the pod spec to pod creation, because its
// volumes may name volume claim templates rather than pod volumes.
func validateTemplate(template *corev1.PodTemplateSpec, selector labels.Selector, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if !selector.Empty() && !selector.Matches(labels.Set(template.Labels)) {
		errs = append(errs, field.Invalid(fldPath.Child("metadata", "labels"), template.Labels, "`selector` does not match template `labels`"))
	}
	errs = append(errs, metav1validation.ValidateLabels(template.Labels, fldPath.Child("labels"))...)
	return append(errs, apivalidation.ValidateAnnotations(template.Annotations, fldPath.Child("annotations"))...)
}

func validateUpdateStrategy(s *appsv1.StatefulSetUpdateStrategy, fldPath *field.Path) field.ErrorList {
	switch s.Type {
	case "":
		return field.ErrorList{field.Required(fldPath, "")}
	case appsv1.OnDeleteStatefulSetStrategyType:
		if s.RollingUpdate != nil {
			return field.ErrorList{field.Invalid(fldPath.Child("rollingUpdate"), s.RollingUpdate,
				fmt.Sprintf("only allowed for updateStrategy '%s'", appsv1.RollingUpdateStatefulSetStrategyType))}
		}
		return nil
	case appsv1.RollingUpdateStatefulSetStrategyType:
		if s.RollingUpdate == nil {
			return nil
		}
		ruPath := fldPath.Child("rollingUpdate")
		errs := apivalidation.ValidateNonnegativeField(int64(ptr.Deref(s.RollingUpdate.Partition, 0)), ruPath.Child("partition"))
		if maxUnavailable := s.RollingUpdate.MaxUnavailable; maxUnavailable != nil {
			maxPath := ruPath.Child("maxUnavailable")
			errs = append(errs, deployment.ValidatePositiveIntOrPercent(*maxUnavailable, maxPath)...)
			if deployment.IntOrPercentValue(*maxUnavailable) == 0 {
				errs = append(errs, field.Invalid(maxPath, *maxUnavailable, "cannot be 0"))
			}
			errs = append(errs, deployment.IsNotMoreThan100Percent(*maxUnavailable, maxPath)...)
		}
		return errs
	default:
		return field.ErrorList{field.Invalid(fldPath, s.Type,
			fmt.Sprintf("must be '%s' or '%s'", appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType))}
	}
}

func validateRetentionPolicyType(policy appsv1.PersistentVolumeClaimRetentionPolicyType, fldPath *field.Path) field.ErrorList {
	switch policy {
	case appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType:
		return nil
	default:
		return field.ErrorList{field.NotSupported(fldPath, policy, []string{
			string(appsv1.RetainPersistentVolumeClaimRetentionPolicyType), string(appsv1.DeletePersistentVolumeClaimRetentionPolicyType)})}
	}
}

// statusStrategy holds the rules of the status subresource.
type statusStrategy struct{}

var _ registry.StatusStrategy = statusStrategy{}

// PrepareForStatusUpdate keeps the stored spec.
func (statusStrategy) PrepareForStatusUpdate(obj, old runtime.Object) {
	obj.(*appsv1.StatefulSet).Spec = old.(*appsv1.StatefulSet).Spec
}

// ValidateStatusUpdate checks the counters of the new status and that
// collisionCount does not go down.
func (statusStrategy) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	sts, oldSTS := obj.(*appsv1.StatefulSet), old.(*appsv1.StatefulSet)
	statusPath := field.NewPath("status")
	errs := validateStatus(&sts.Status, statusPath)
	errs = append(errs, apivalidation.ValidateObjectMetaUpdate(&sts.ObjectMeta, &oldSTS.ObjectMeta, field.NewPath("metadata"))...)
	if ptr.Deref(sts.Status.CollisionCount, 0) < ptr.Deref(oldSTS.Status.CollisionCount, 0) {
		errs = append(errs, field.Invalid(statusPath.Child("collisionCount"), ptr.Deref(sts.Status.CollisionCount, 0), "cannot be decremented"))
	}
	return errs
}

func validateStatus(status *appsv1.StatefulSetStatus, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, counter := range []struct {
		name  string
		value int32
	}{
		{"replicas", status.Replicas},
		{"readyReplicas", status.ReadyReplicas},
		{"currentReplicas", status.CurrentReplicas},
		{"updatedReplicas", status.UpdatedReplicas},
		{"availableReplicas", status.AvailableReplicas},
	} {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(counter.value), fldPath.Child(counter.name))...)
	}
	errs = append(errs, apivalidation.ValidateNonnegativeField(status.ObservedGeneration, fldPath.Child("observedGeneration"))...)
	if status.CollisionCount != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*status.CollisionCount), fldPath.Child("collisionCount"))...)
	}
	const notAboveReplicas = "cannot be greater than status.replicas"
	for _, counter := range []struct {
		name  string
		value int32
	}{
		{"readyReplicas", status.ReadyReplicas},
		{"currentReplicas", status.CurrentReplicas},
		{"updatedReplicas", status.UpdatedReplicas},
		{"availableReplicas", status.AvailableReplicas},
	} {
		if counter.value > status.Replicas {
			errs = append(errs, field.Invalid(fldPath.Child(counter.name), counter.value, notAboveReplicas))
		}
	}
	if status.AvailableReplicas > status.ReadyReplicas {
		errs = append(errs, field.Invalid(fldPath.Child("availableReplicas"), status.AvailableReplicas, "cannot be greater than status.readyReplicas"))
	}
	return errs
}

func getScale(obj runtime.Object) (specReplicas, statusReplicas int32, selector string) {
	sts := obj.(*appsv1.StatefulSet)
	return ptr.Deref(sts.Spec.Replicas, 1), sts.Status.Replicas, replicaset.SelectorString(sts.Spec.Selector)
}

func setReplicas(obj runtime.Object, replicas int32) {
	obj.(*appsv1.StatefulSet).Spec.Replicas = ptr.To(replicas)
}

var table = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "Ready", Type: "string", Description: "Number of the pod with ready state"},
		registry.AgeColumn,
		{Name: "Containers", Type: "string", Priority: 1, Description: "Names of each container in the template."},
		{Name: "Images", Type: "string", Priority: 1, Description: "Images referenced by each container in the template."},
	},
	Row: func(obj runtime.Object) []interface{} {
		sts := obj.(*appsv1.StatefulSet)
		names, images := replicaset.ContainerCells(sts.Spec.Template.Spec.Containers)
		return []interface{}{
			sts.Name,
			fmt.Sprintf("%d/%d", sts.Status.ReadyReplicas, ptr.Deref(sts.Spec.Replicas, 1)),
			registry.Age(sts.CreationTimestamp),
			names, images,
		}
	},
}
