package pod

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/navarch/navarch/internal/registry"
)

// Kind returns the registry entry of core/v1 pods, with their status and
// ephemeralcontainers subresources.
func Kind() *registry.Kind {
	return &registry.Kind{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "pods",
		Singular:     "pod",
		Kind:         "Pod",
		ShortNames:   []string{"po"},
		Categories:   []string{"all"},
		Namespaced:   true,
		New:          func() runtime.Object { return &corev1.Pod{} },
		NewList:      func() runtime.Object { return &corev1.PodList{} },
		Strategy:     strategy{},
		Status:       statusStrategy{},
		Subresources: map[string]registry.SubresourceStrategy{"ephemeralcontainers": ephemeralContainersStrategy{}},
		Table:        table,
		Fields:       fields,
	}
}

// strategy holds the rules of creating and updating pods.
type strategy struct{}

var (
	_ registry.Strategy       = strategy{}
	_ registry.StatusStrategy = statusStrategy{}

	_ registry.SubresourceStrategy = ephemeralContainersStrategy{}
)

// Default applies upstream's defaulters for pods.
func (strategy) Default(obj runtime.Object) {
	defaultPod(obj.(*corev1.Pod))
}

// PrepareForCreate resets the status to a pending pod with its QoS class
// and applies what upstream's admission plugins add to a new pod: the
// default service account and the not-ready/unreachable tolerations.
func (strategy) PrepareForCreate(obj runtime.Object) {
	pod := obj.(*corev1.Pod)
	admitPod(pod)
	pod.Status = corev1.PodStatus{
		Phase:    corev1.PodPending,
		QOSClass: qosClass(pod),
	}
	// A gated pod tells why it waits, as upstream's strategy does.
	if len(pod.Spec.SchedulingGates) > 0 {
		pod.Status.Conditions = append(pod.Status.Conditions, corev1.PodCondition{
			Type:    corev1.PodScheduled,
			Status:  corev1.ConditionFalse,
			Reason:  corev1.PodReasonSchedulingGated,
			Message: "Scheduling is blocked due to non-empty scheduling gates",
		})
	}
}

// PrepareForUpdate keeps the status: it changes only through the status
// subresource.
func (strategy) PrepareForUpdate(obj, old runtime.Object) {
	obj.(*corev1.Pod).Status = old.(*corev1.Pod).Status
}

// Validate checks a new pod.
func (strategy) Validate(obj runtime.Object) field.ErrorList {
	return validatePodCreate(obj.(*corev1.Pod))
}

// ValidateUpdate checks an update of the pod's spec and metadata.
func (strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	return validatePodUpdate(obj.(*corev1.Pod), old.(*corev1.Pod))
}

// statusStrategy holds the rules of the pods/status subresource.
type statusStrategy struct{}

// PrepareForStatusUpdate keeps the spec from old, and the QoS class when
// the writer left it out (old kubelets drop it).
func (statusStrategy) PrepareForStatusUpdate(obj, old runtime.Object) {
	pod, oldPod := obj.(*corev1.Pod), old.(*corev1.Pod)
	pod.Spec = oldPod.Spec
	syncStatusIPs(&pod.Status)
	if pod.Status.QOSClass == "" {
		pod.Status.QOSClass = oldPod.Status.QOSClass
	}
	// A writer that leaves observedGeneration out means "unchanged".
	if pod.Status.ObservedGeneration == 0 {
		pod.Status.ObservedGeneration = oldPod.Status.ObservedGeneration
	}
}

// ValidateStatusUpdate checks the new status.
func (statusStrategy) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	return validatePodStatusUpdate(obj.(*corev1.Pod), old.(*corev1.Pod))
}

// qosResources are the resources that decide a pod's QoS class.
var qosResources = sets.New(corev1.ResourceCPU, corev1.ResourceMemory)

// qosClass computes a pod's quality of service as the kubelet will treat
// it: Guaranteed when every container limits cpu and memory and requests
// what it limits, BestEffort when nothing is requested or limited,
// Burstable otherwise. Pod-level resources, when set, decide alone.
func qosClass(pod *corev1.Pod) corev1.PodQOSClass {
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	guaranteed := true
	add := func(sum corev1.ResourceList, list corev1.ResourceList) sets.Set[corev1.ResourceName] {
		found := sets.New[corev1.ResourceName]()
		for name, q := range list {
			if !qosResources.Has(name) || q.Sign() <= 0 {
				continue
			}
			found.Insert(name)
			total := q.DeepCopy()
			if prev, ok := sum[name]; ok {
				total.Add(prev)
			}
			sum[name] = total
		}
		return found
	}
	if r := pod.Spec.Resources; r != nil && hasQOSResources(r) {
		add(requests, r.Requests)
		guaranteed = add(limits, r.Limits).HasAll(corev1.ResourceCPU, corev1.ResourceMemory)
	} else {
		for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
			for _, c := range list {
				add(requests, c.Resources.Requests)
				if !add(limits, c.Resources.Limits).HasAll(corev1.ResourceCPU, corev1.ResourceMemory) {
					guaranteed = false
				}
			}
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for name, req := range requests {
			if limit, ok := limits[name]; !ok || limit.Cmp(req) != 0 {
				guaranteed = false
				break
			}
		}
	}
	if guaranteed && len(requests) == len(limits) {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

func hasQOSResources(r *corev1.ResourceRequirements) bool {
	for _, list := range []corev1.ResourceList{r.Requests, r.Limits} {
		for name := range list {
			if qosResources.Has(name) {
				return true
			}
		}
	}
	return false
}
