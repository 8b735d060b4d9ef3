package pod

import (
	"fmt"
	"math"
	"net"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// updatablePodSpecFields is what upstream's error lists as the parts of a
// pod spec an update may change.
var updatablePodSpecFields = []string{
	"`spec.containers[*].image`",
	"`spec.initContainers[*].image`",
	"`spec.activeDeadlineSeconds`",
	"`spec.tolerations` (only additions to existing tolerations)",
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
}

// validatePodUpdate checks an update of a pod's main resource: the new pod
// must be valid and its spec may change only in images, the active
// deadline (down), tolerations (additions), scheduling gates (removals)
// and, while gated, node selection (additions).
func validatePodUpdate(pod, old *corev1.Pod) field.ErrorList {
	errs := apivalidation.ValidateObjectMetaUpdate(&pod.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, validatePod(pod)...)
	specPath := field.NewPath("spec")

	containerErrs, stop := validateContainerUpdates(pod.Spec.Containers, old.Spec.Containers, specPath.Child("containers"))
	errs = append(errs, containerErrs...)
	if stop {
		return errs
	}
	containerErrs, stop = validateContainerUpdates(pod.Spec.InitContainers, old.Spec.InitContainers, specPath.Child("initContainers"))
	errs = append(errs, containerErrs...)
	if stop {
		return errs
	}

	// The active deadline may be set, or lowered, never raised or removed.
	deadlinePath := specPath.Child("activeDeadlineSeconds")
	if newDeadline := pod.Spec.ActiveDeadlineSeconds; newDeadline != nil {
		if *newDeadline < 0 || *newDeadline > math.MaxInt32 {
			return append(errs, field.Invalid(deadlinePath, *newDeadline, validation.InclusiveRangeError(0, math.MaxInt32)))
		}
		if old.Spec.ActiveDeadlineSeconds != nil && *old.Spec.ActiveDeadlineSeconds < *newDeadline {
			return append(errs, field.Invalid(deadlinePath, *newDeadline, "must be less than or equal to previous value"))
		}
	} else if old.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Invalid(deadlinePath, pod.Spec.ActiveDeadlineSeconds, "must not update from a positive integer to nil value"))
	}

	errs = append(errs, validateOnlyAddedTolerations(pod.Spec.Tolerations, old.Spec.Tolerations, specPath.Child("tolerations"))...)
	errs = append(errs, validateOnlyDeletedSchedulingGates(pod.Spec.SchedulingGates, old.Spec.SchedulingGates, specPath.Child("schedulingGates"))...)

	if apiequality.Semantic.DeepEqual(pod.Spec, old.Spec) {
		return errs
	}
	// Put back from old what may change, then any remaining difference
	// is a change to a field that may not.
	munged := *pod.Spec.DeepCopy()
	for i := range munged.Containers {
		munged.Containers[i].Image = old.Spec.Containers[i].Image
	}
	for i := range munged.InitContainers {
		munged.InitContainers[i].Image = old.Spec.InitContainers[i].Image
	}
	munged.ActiveDeadlineSeconds = old.Spec.ActiveDeadlineSeconds
	munged.SchedulingGates = old.Spec.SchedulingGates
	munged.Tolerations = old.Spec.Tolerations
	if old.Spec.TerminationGracePeriodSeconds != nil && *old.Spec.TerminationGracePeriodSeconds < 0 &&
		munged.TerminationGracePeriodSeconds != nil && *munged.TerminationGracePeriodSeconds == 1 {
		munged.TerminationGracePeriodSeconds = old.Spec.TerminationGracePeriodSeconds
	}
	// A pod still held by scheduling gates may gain node constraints: the
	// scheduler has not looked at it yet.
	if len(old.Spec.SchedulingGates) > 0 {
		if !apiequality.Semantic.DeepEqual(munged.NodeSelector, old.Spec.NodeSelector) {
			errs = append(errs, validateNodeSelectorOnlyAdded(munged.NodeSelector, old.Spec.NodeSelector, specPath.Child("nodeSelector"))...)
			munged.NodeSelector = old.Spec.NodeSelector
		}
		if nodeAffinityOf(old.Spec.Affinity) == nil && nodeAffinityOf(munged.Affinity) != nil {
			munged.Affinity = munged.Affinity.DeepCopy()
			munged.Affinity.NodeAffinity = nil
			if reflect.DeepEqual(*munged.Affinity, corev1.Affinity{}) && old.Spec.Affinity == nil {
				munged.Affinity = nil
			}
		}
	}
	if !apiequality.Semantic.DeepEqual(munged, old.Spec) {
		specDiff := diff.Diff(old.Spec, munged)
		errs = append(errs, field.Forbidden(specPath, fmt.Sprintf("pod updates may not change fields other than %s\n%v",
			strings.Join(updatablePodSpecFields, ","), specDiff)))
	}
	return errs
}

func nodeAffinityOf(a *corev1.Affinity) *corev1.NodeAffinity {
	if a == nil {
		return nil
	}
	return a.NodeAffinity
}

// validateContainerUpdates checks that no container was added or removed
// (stop is then true: nothing else can be compared) and that every
// container still has an image.
func validateContainerUpdates(containers, old []corev1.Container, fldPath *field.Path) (errs field.ErrorList, stop bool) {
	if len(containers) != len(old) {
		return field.ErrorList{field.Forbidden(fldPath, "pod updates may not add or remove containers")}, true
	}
	for i, c := range containers {
		if c.Image == "" {
			errs = append(errs, field.Required(fldPath.Index(i).Child("image"), ""))
		}
	}
	return errs, false
}

// validateOnlyAddedTolerations checks that every old toleration is still
// there; only its tolerationSeconds may change.
func validateOnlyAddedTolerations(tolerations, old []corev1.Toleration, fldPath *field.Path) field.ErrorList {
	for _, o := range old {
		found := false
		for _, t := range tolerations {
			clone := *o.DeepCopy()
			clone.TolerationSeconds = t.TolerationSeconds
			if reflect.DeepEqual(clone, t) {
				found = true
				break
			}
		}
		if !found {
			return field.ErrorList{field.Forbidden(fldPath, "existing toleration can not be modified except its tolerationSeconds")}
		}
	}
	return validateTolerations(tolerations, fldPath)
}

func validateOnlyDeletedSchedulingGates(gates, old []corev1.PodSchedulingGate, fldPath *field.Path) field.ErrorList {
	oldNames := sets.New[string]()
	for _, g := range old {
		oldNames.Insert(g.Name)
	}
	var errs field.ErrorList
	for i, g := range gates {
		if !oldNames.Has(g.Name) {
			errs = append(errs, field.Forbidden(fldPath.Index(i).Child("name"), fmt.Sprintf("only deletion is allowed, but found new scheduling gate '%s'", g.Name)))
		}
	}
	return errs
}

func validateNodeSelectorOnlyAdded(selector, old map[string]string, fldPath *field.Path) field.ErrorList {
	for k, v := range old {
		if nv, ok := selector[k]; !ok || nv != v {
			return field.ErrorList{field.Invalid(fldPath, selector, "only additions to spec.nodeSelector are allowed (no mutations or deletions)")}
		}
	}
	return nil
}

// validPodPhases are the phases a pod's status may report.
var validPodPhases = []corev1.PodPhase{corev1.PodFailed, corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded, corev1.PodUnknown}

// validatePodStatusUpdate checks a write of the status subresource.
func validatePodStatusUpdate(pod, old *corev1.Pod) field.ErrorList {
	errs := apivalidation.ValidateObjectMetaUpdate(&pod.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	statusPath := field.NewPath("status")
	status := &pod.Status

	if status.Phase != "" && !containsPhase(validPodPhases, status.Phase) {
		errs = append(errs, field.NotSupported(statusPath.Child("phase"), status.Phase, validPodPhases))
	}
	systemConditions := sets.New(corev1.PodScheduled, corev1.PodReady, corev1.PodInitialized)
	for i, c := range status.Conditions {
		if !systemConditions.Has(c.Type) {
			errs = append(errs, validateQualifiedName(string(c.Type), statusPath.Child("conditions").Index(i).Child("type"))...)
		}
	}
	if status.NominatedNodeName != old.Status.NominatedNodeName && status.NominatedNodeName != "" {
		for _, msg := range apivalidation.NameIsDNSSubdomain(status.NominatedNodeName, false) {
			errs = append(errs, field.Invalid(statusPath.Child("nominatedNodeName"), status.NominatedNodeName, msg))
		}
	}
	errs = append(errs, apivalidation.ValidateImmutableField(status.QOSClass, old.Status.QOSClass, statusPath.Child("qosClass"))...)
	errs = append(errs, validateContainerStateTransitions(status.ContainerStatuses, old.Status.ContainerStatuses, old.Spec.RestartPolicy, nil, statusPath.Child("containerStatuses"))...)
	errs = append(errs, validateContainerStateTransitions(status.InitContainerStatuses, old.Status.InitContainerStatuses, old.Spec.RestartPolicy, old.Spec.InitContainers, statusPath.Child("initContainerStatuses"))...)
	errs = append(errs, validateContainerStateTransitions(status.EphemeralContainerStatuses, old.Status.EphemeralContainerStatuses, corev1.RestartPolicyNever, nil, statusPath.Child("ephemeralContainerStatuses"))...)

	podIPs := make([]string, 0, len(status.PodIPs))
	for _, ip := range status.PodIPs {
		podIPs = append(podIPs, ip.IP)
	}
	errs = append(errs, validateIPList(podIPs, statusPath.Child("podIPs"), status.PodIPs)...)
	if len(status.HostIPs) > 0 {
		hostIPs := make([]string, 0, len(status.HostIPs))
		for _, ip := range status.HostIPs {
			hostIPs = append(hostIPs, ip.IP)
		}
		if status.HostIP != hostIPs[0] {
			errs = append(errs, field.Invalid(statusPath.Child("hostIPs").Index(0).Child("ip"), hostIPs[0], "must be equal to `hostIP`"))
		}
		errs = append(errs, validateIPList(hostIPs, statusPath.Child("hostIPs"), status.HostIPs)...)
	}
	return errs
}

func containsPhase(phases []corev1.PodPhase, phase corev1.PodPhase) bool {
	for _, p := range phases {
		if p == phase {
			return true
		}
	}
	return false
}

// validateContainerStateTransitions forbids a terminated container to run
// again when the restart policy says it may not. initContainers tells
// which init containers are sidecars, which always restart.
func validateContainerStateTransitions(statuses, old []corev1.ContainerStatus, restartPolicy corev1.RestartPolicy, initContainers []corev1.Container, fldPath *field.Path) field.ErrorList {
	if restartPolicy == corev1.RestartPolicyAlways {
		return nil
	}
	sidecars := sets.New[string]()
	for _, c := range initContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars.Insert(c.Name)
		}
	}
	var errs field.ErrorList
	for i, o := range old {
		if o.State.Terminated == nil || sidecars.Has(o.Name) {
			continue
		}
		if o.State.Terminated.ExitCode != 0 && restartPolicy == corev1.RestartPolicyOnFailure {
			continue
		}
		for _, s := range statuses {
			if s.Name == o.Name && s.State.Terminated == nil {
				errs = append(errs, field.Forbidden(fldPath.Index(i).Child("state"), "may not be transitioned to non-terminated state"))
			}
		}
	}
	return errs
}

// validateIPList checks a pod's or host's IPs: each valid, at most one of
// each family, no repeats. value is what the error shows for the list.
func validateIPList(ips []string, fldPath *field.Path, value interface{}) field.ErrorList {
	var errs field.ErrorList
	for i, ip := range ips {
		errs = append(errs, validation.IsValidIP(fldPath.Index(i), ip)...)
	}
	if len(errs) > 0 || len(ips) < 2 {
		return errs
	}
	v4, v6 := 0, 0
	for _, ip := range ips {
		if parsed := net.ParseIP(ip); parsed != nil && parsed.To4() != nil {
			v4++
		} else {
			v6++
		}
	}
	if len(ips) > 2 || v4 != 1 || v6 != 1 {
		errs = append(errs, field.Invalid(fldPath, value, "may specify no more than one IP for each IP family"))
	}
	seen := sets.New[string]()
	for i, ip := range ips {
		if seen.Has(ip) {
			errs = append(errs, field.Duplicate(fldPath.Index(i), ip))
		}
		seen.Insert(ip)
	}
	return errs
}
