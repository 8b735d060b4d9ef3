package pod

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ephemeralContainersStrategy holds the rules of pods/ephemeralcontainers,
// through which `kubectl debug` adds a debugging container to a running
// pod. The subresource reads and writes whole Pods, as upstream's does
// since 1.22, but a write changes nothing except
// spec.ephemeralContainers, and may only add to it.
type ephemeralContainersStrategy struct{}

// PrepareForSubresourceUpdate keeps everything of old but the ephemeral
// containers (which are defaulted as any container is).
func (ephemeralContainersStrategy) PrepareForSubresourceUpdate(obj, old runtime.Object) {
	pod, oldPod := obj.(*corev1.Pod), old.(*corev1.Pod)
	containers := pod.Spec.EphemeralContainers
	meta := pod.ObjectMeta
	*pod = *oldPod.DeepCopy()
	pod.ResourceVersion = meta.ResourceVersion
	pod.Generation = meta.Generation
	pod.Spec.EphemeralContainers = containers
	for i := range pod.Spec.EphemeralContainers {
		defaultContainer((*corev1.Container)(&pod.Spec.EphemeralContainers[i].EphemeralContainerCommon))
	}
}

// ValidateSubresourceUpdate checks the pod as a whole (the new ephemeral
// containers' names, images, targets and forbidden fields) and that no
// existing ephemeral container was changed or removed, with upstream's
// messages.
func (ephemeralContainersStrategy) ValidateSubresourceUpdate(obj, old runtime.Object) field.ErrorList {
	return validateEphemeralContainersUpdate(obj.(*corev1.Pod), old.(*corev1.Pod))
}

func validateEphemeralContainersUpdate(pod, old *corev1.Pod) field.ErrorList {
	errs := validatePod(pod)
	specPath := field.NewPath("spec", "ephemeralContainers")
	byName := make(map[string]*corev1.EphemeralContainer, len(pod.Spec.EphemeralContainers))
	for i := range pod.Spec.EphemeralContainers {
		byName[pod.Spec.EphemeralContainers[i].Name] = &pod.Spec.EphemeralContainers[i]
	}
	for i := range old.Spec.EphemeralContainers {
		was := &old.Spec.EphemeralContainers[i]
		now, ok := byName[was.Name]
		switch {
		case !ok:
			errs = append(errs, field.Forbidden(specPath, fmt.Sprintf("existing ephemeral containers %q may not be removed", was.Name)))
		case !apiequality.Semantic.DeepEqual(was, now):
			errs = append(errs, field.Forbidden(specPath.Child(was.Name), fmt.Sprintf("existing ephemeral containers %q may not be changed", was.Name)))
		}
	}
	return errs
}
