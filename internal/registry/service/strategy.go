package service

import (
	"reflect"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/navarch/navarch/internal/registry"
)

// Kind returns the registry entry of core/v1 services, with their status
// subresource.
func Kind() *registry.Kind {
	return &registry.Kind{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "services",
		Singular:     "service",
		Kind:         "Service",
		ShortNames:   []string{"svc"},
		Categories:   []string{"all"},
		Namespaced:   true,
		New:          func() runtime.Object { return &corev1.Service{} },
		NewList:      func() runtime.Object { return &corev1.ServiceList{} },
		Strategy:     strategy{},
		Status:       statusStrategy{},
		Table:        table,
		Fields:       fields,
	}
}

type strategy struct{}

var (
	_ registry.Strategy       = strategy{}
	_ registry.StatusStrategy = statusStrategy{}
)

// Default applies upstream's defaulter for services.
func (strategy) Default(obj runtime.Object) {
	defaultService(obj.(*corev1.Service))
}

// PrepareForCreate clears the status, fills clusterIPs from clusterIP and
// defaults the IP families.
func (strategy) PrepareForCreate(obj runtime.Object) {
	svc := obj.(*corev1.Service)
	svc.Status = corev1.ServiceStatus{}
	normalizeClusterIPs(svc, nil)
	defaultIPFamilies(svc)
}

// PrepareForUpdate keeps the status and the allocated values the update
// left out, and clears the values a change of type made useless.
func (strategy) PrepareForUpdate(obj, old runtime.Object) {
	svc, oldSvc := obj.(*corev1.Service), old.(*corev1.Service)
	svc.Status = oldSvc.Status
	patchAllocatedValues(svc, oldSvc)
	normalizeClusterIPs(svc, oldSvc)
	dropTypeDependentFields(svc, oldSvc)
	if needsClusterIP(oldSvc) && needsClusterIP(svc) {
		if svc.Spec.IPFamilyPolicy == nil {
			svc.Spec.IPFamilyPolicy = oldSvc.Spec.IPFamilyPolicy
		}
		if len(svc.Spec.IPFamilies) == 0 {
			svc.Spec.IPFamilies = oldSvc.Spec.IPFamilies
		}
	}
	defaultIPFamilies(svc)
}

// Validate checks a new service.
func (strategy) Validate(obj runtime.Object) field.ErrorList {
	return validateService(obj.(*corev1.Service))
}

// ValidateUpdate checks an update, including fields that may not change
// once set (cluster IPs, IP families, load balancer class).
func (strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	return validateServiceUpdate(obj.(*corev1.Service), old.(*corev1.Service))
}

type statusStrategy struct{}

// PrepareForStatusUpdate keeps the spec from old.
func (statusStrategy) PrepareForStatusUpdate(obj, old runtime.Object) {
	svc := obj.(*corev1.Service)
	svc.Spec = old.(*corev1.Service).Spec
	defaultIngressIPMode(svc)
}

// ValidateStatusUpdate checks the load balancer status.
func (statusStrategy) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	return validateServiceStatusUpdate(obj.(*corev1.Service), old.(*corev1.Service))
}

// patchAllocatedValues copies from old the cluster IPs, node ports and
// health check node port an update left unset while the service still
// needs them: a client that applies a manifest never knew them.
func patchAllocatedValues(svc, old *corev1.Service) {
	if needsClusterIP(old) && needsClusterIP(svc) {
		if svc.Spec.ClusterIP == "" {
			svc.Spec.ClusterIP = old.Spec.ClusterIP
		}
		if len(svc.Spec.ClusterIPs) == 0 && len(old.Spec.ClusterIPs) > 0 {
			svc.Spec.ClusterIPs = old.Spec.ClusterIPs
		}
	}
	if needsNodePort(old) && needsNodePort(svc) {
		used := nodePorts(old).Intersection(nodePorts(svc))
		type portKey struct {
			port     int32
			protocol corev1.Protocol
		}
		byPort := map[portKey]int32{}
		for _, p := range old.Spec.Ports {
			byPort[portKey{p.Port, p.Protocol}] = p.NodePort
		}
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if p.NodePort != 0 {
				continue
			}
			if oldPort := byPort[portKey{p.Port, p.Protocol}]; !used.Has(oldPort) {
				p.NodePort = oldPort
			}
		}
	}
	if needsHealthCheck(old) && needsHealthCheck(svc) && svc.Spec.HealthCheckNodePort == 0 {
		svc.Spec.HealthCheckNodePort = old.Spec.HealthCheckNodePort
	}
}

func nodePorts(svc *corev1.Service) sets.Set[int32] {
	ports := sets.New[int32]()
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			ports.Insert(p.NodePort)
		}
	}
	return ports
}

// dropTypeDependentFields clears, on a change of type, the values the new
// type does not use, when the user did not also change them (a change
// would be a mistake validation must report). The API server releases
// what was allocated.
func dropTypeDependentFields(svc, old *corev1.Service) {
	if needsClusterIP(old) && !needsClusterIP(svc) {
		if svc.Spec.ClusterIP == old.Spec.ClusterIP && reflect.DeepEqual(svc.Spec.ClusterIPs, old.Spec.ClusterIPs) {
			svc.Spec.ClusterIP = ""
			svc.Spec.ClusterIPs = nil
		}
		if reflect.DeepEqual(svc.Spec.IPFamilies, old.Spec.IPFamilies) {
			svc.Spec.IPFamilies = nil
		}
		if reflect.DeepEqual(svc.Spec.IPFamilyPolicy, old.Spec.IPFamilyPolicy) {
			svc.Spec.IPFamilyPolicy = nil
		}
	}
	if needsNodePort(old) && !needsNodePort(svc) && nodePorts(old).IsSuperset(nodePorts(svc)) {
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
	}
	if needsHealthCheck(old) && !needsHealthCheck(svc) && svc.Spec.HealthCheckNodePort == old.Spec.HealthCheckNodePort {
		svc.Spec.HealthCheckNodePort = 0
	}
	if old.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		if reflect.DeepEqual(svc.Spec.AllocateLoadBalancerNodePorts, old.Spec.AllocateLoadBalancerNodePorts) {
			svc.Spec.AllocateLoadBalancerNodePorts = nil
		}
		if reflect.DeepEqual(svc.Spec.LoadBalancerClass, old.Spec.LoadBalancerClass) {
			svc.Spec.LoadBalancerClass = nil
		}
	}
	if externallyAccessible(old) && !externallyAccessible(svc) && svc.Spec.ExternalTrafficPolicy == old.Spec.ExternalTrafficPolicy {
		svc.Spec.ExternalTrafficPolicy = ""
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		svc.Status.LoadBalancer = corev1.LoadBalancerStatus{}
	}
}
