package replicaset

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/navarch/navarch/internal/registry/pod"
)

// ValidateSelectorAndTemplate checks the selector and pod template of a
// ReplicaSet or Deployment spec found at fldPath, as upstream does for
// both: the selector is required, valid and not empty, and it must select
// the template's labels; the template must be a valid pod template that
// restarts always and sets no activeDeadlineSeconds.
func ValidateSelectorAndTemplate(selector *metav1.LabelSelector, template *corev1.PodTemplateSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	selectorPath := fldPath.Child("selector")
	if selector == nil {
		errs = append(errs, field.Required(selectorPath, ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(selector, metav1validation.LabelSelectorValidationOptions{}, selectorPath)...)
		if len(selector.MatchLabels)+len(selector.MatchExpressions) == 0 {
			// Upstream names deployments here for ReplicaSets too.
			errs = append(errs, field.Invalid(selectorPath, selector, "empty selector is invalid for deployment"))
		}
	}
	parsed, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return append(errs, field.Invalid(selectorPath, selector, "invalid label selector"))
	}
	return append(errs, ValidatePodTemplateSpecForReplicaSet(template, parsed, fldPath.Child("template"))...)
}

// ValidatePodTemplateSpecForReplicaSet checks a pod template at fldPath
// against the selector of its controller: the selector must match the
// template's labels, and the template must be a valid pod template with
// restartPolicy Always and no activeDeadlineSeconds.
func ValidatePodTemplateSpecForReplicaSet(template *corev1.PodTemplateSpec, selector labels.Selector, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if !selector.Empty() && !selector.Matches(labels.Set(template.Labels)) {
		errs = append(errs, field.Invalid(fldPath.Child("metadata", "labels"), template.Labels, "`selector` does not match template `labels`"))
	}
	errs = append(errs, pod.ValidatePodTemplateSpec(template, fldPath)...)
	if template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(fldPath.Child("spec", "restartPolicy"), template.Spec.RestartPolicy, []string{string(corev1.RestartPolicyAlways)}))
	}
	if template.Spec.ActiveDeadlineSeconds != nil {
		// Upstream's message, shared with Deployments.
		errs = append(errs, field.Forbidden(fldPath.Child("spec", "activeDeadlineSeconds"), "activeDeadlineSeconds in ReplicaSet is not Supported"))
	}
	return errs
}
