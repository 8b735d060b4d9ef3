package serviceendpoints

import (
	"fmt"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/navarch/navarch/internal/controller"
)

// IncludePod reports whether a pod belongs in a Service's endpoints at
// all: it has an IP, has not finished (Succeeded or Failed pods never
// come back), and is not terminating unless includeTerminating.
func IncludePod(pod *corev1.Pod, includeTerminating bool) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if pod.Status.PodIP == "" && len(pod.Status.PodIPs) == 0 {
		return false
	}
	return includeTerminating || pod.DeletionTimestamp == nil
}

// HostnameFor returns the hostname an address of pod carries for svc:
// the pod's hostname when its subdomain names the Service.
func HostnameFor(pod *corev1.Pod, svc *corev1.Service) string {
	if pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name && pod.Namespace == svc.Namespace {
		return pod.Spec.Hostname
	}
	return ""
}

// FindPort resolves a Service port's targetPort on one pod: a number is
// used as is; a name is looked up among the pod's container ports (and
// sidecar init containers') with the same protocol.
func FindPort(pod *corev1.Pod, port *corev1.ServicePort) (int32, error) {
	target := port.TargetPort
	if target.Type == intstr.Int {
		return int32(target.IntValue()), nil
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == target.StrVal && p.Protocol == port.Protocol {
				return p.ContainerPort, nil
			}
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			continue
		}
		for _, p := range c.Ports {
			if p.Name == target.StrVal && p.Protocol == port.Protocol {
				return p.ContainerPort, nil
			}
		}
	}
	return 0, fmt.Errorf("serviceendpoints: pod %s/%s has no port named %q", pod.Namespace, pod.Name, target.StrVal)
}

// ServicesSelecting returns the keys of the Services in namespace whose
// selector matches podLabels. A nil selector selects nothing.
func ServicesSelecting(services corelisters.ServiceLister, namespace string, podLabels labels.Set) (sets.Set[string], error) {
	list, err := services.Services(namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	keys := sets.New[string]()
	for _, svc := range list {
		if svc.Spec.Selector == nil {
			continue
		}
		if labels.ValidatedSetSelector(svc.Spec.Selector).Matches(podLabels) {
			keys.Insert(svc.Namespace + "/" + svc.Name)
		}
	}
	return keys, nil
}

// ServicesForPodChange returns the keys of the Services whose endpoints
// a pod update may change: none when nothing relevant changed; the
// Services of either label set when the pod's endpoint data changed; only
// the Services it joined or left when just its labels changed.
func ServicesForPodChange(services corelisters.ServiceLister, oldPod, newPod *corev1.Pod) (sets.Set[string], error) {
	if oldPod.ResourceVersion == newPod.ResourceVersion {
		// A resync: the Service informer's own resync covers it.
		return nil, nil
	}
	podChanged := EndpointDataChanged(oldPod, newPod)
	labelsChanged := !reflect.DeepEqual(oldPod.Labels, newPod.Labels) ||
		oldPod.Spec.Hostname != newPod.Spec.Hostname || oldPod.Spec.Subdomain != newPod.Spec.Subdomain
	if !podChanged && !labelsChanged {
		return nil, nil
	}
	current, err := ServicesSelecting(services, newPod.Namespace, labels.Set(newPod.Labels))
	if err != nil || !labelsChanged {
		return current, err
	}
	old, err := ServicesSelecting(services, oldPod.Namespace, labels.Set(oldPod.Labels))
	if err != nil {
		return nil, err
	}
	if podChanged {
		return current.Union(old), nil
	}
	return current.SymmetricDifference(old), nil
}

// EndpointDataChanged reports whether a pod changed in a way an address
// shows: deletion, readiness or IPs. (Name, UID and node never change once
// the pod has an IP.)
func EndpointDataChanged(oldPod, newPod *corev1.Pod) bool {
	if (oldPod.DeletionTimestamp == nil) != (newPod.DeletionTimestamp == nil) {
		return true
	}
	if controller.IsPodReady(oldPod) != controller.IsPodReady(newPod) {
		return true
	}
	if oldPod.Status.Phase != newPod.Status.Phase {
		return true
	}
	if oldPod.Status.PodIP != newPod.Status.PodIP || len(oldPod.Status.PodIPs) != len(newPod.Status.PodIPs) {
		return true
	}
	for i := range oldPod.Status.PodIPs {
		if oldPod.Status.PodIPs[i].IP != newPod.Status.PodIPs[i].IP {
			return true
		}
	}
	return false
}

// PodFromEvent unwraps a pod from an informer event, tombstones included.
func PodFromEvent(obj interface{}) *corev1.Pod {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	pod, _ := obj.(*corev1.Pod)
	return pod
}
