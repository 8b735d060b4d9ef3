package service

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	fieldsel "k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/navarch/navarch/internal/registry"
)

// table is kubectl get services: NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S)
// AGE, and SELECTOR with -o wide.
var table = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "Type", Type: "string", Description: corev1.ServiceSpec{}.SwaggerDoc()["type"]},
		{Name: "Cluster-IP", Type: "string", Description: corev1.ServiceSpec{}.SwaggerDoc()["clusterIP"]},
		{Name: "External-IP", Type: "string", Description: corev1.ServiceSpec{}.SwaggerDoc()["externalIPs"]},
		{Name: "Port(s)", Type: "string", Description: corev1.ServiceSpec{}.SwaggerDoc()["ports"]},
		registry.AgeColumn,
		{Name: "Selector", Type: "string", Priority: 1, Description: corev1.ServiceSpec{}.SwaggerDoc()["selector"]},
	},
	Row: func(obj runtime.Object) []interface{} {
		svc := obj.(*corev1.Service)
		clusterIP := "<none>"
		if len(svc.Spec.ClusterIPs) > 0 {
			clusterIP = svc.Spec.ClusterIPs[0]
		}
		ports := portString(svc.Spec.Ports)
		if ports == "" {
			ports = "<none>"
		}
		return []interface{}{
			svc.Name, string(svc.Spec.Type), clusterIP, externalIP(svc), ports,
			registry.Age(svc.CreationTimestamp), labels.FormatLabels(svc.Spec.Selector),
		}
	},
}

// externalIP renders the EXTERNAL-IP column: external IPs, the load
// balancer's addresses (<pending> until it has one), or the external name.
func externalIP(svc *corev1.Service) string {
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		if len(svc.Spec.ExternalIPs) > 0 {
			return strings.Join(svc.Spec.ExternalIPs, ",")
		}
		return "<none>"
	case corev1.ServiceTypeLoadBalancer:
		var addresses []string
		seen := map[string]bool{}
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			address := ing.IP
			if address == "" {
				address = ing.Hostname
			}
			if address != "" && !seen[address] {
				seen[address] = true
				addresses = append(addresses, address)
			}
		}
		sort.Strings(addresses)
		addresses = append(addresses, svc.Spec.ExternalIPs...)
		if len(addresses) == 0 {
			return "<pending>"
		}
		return strings.Join(addresses, ",")
	case corev1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return "<unknown>"
}

// portString renders ports as "80/TCP,443:30443/TCP".
func portString(ports []corev1.ServicePort) string {
	pieces := make([]string, len(ports))
	for i, p := range ports {
		pieces[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		if p.NodePort > 0 {
			pieces[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		}
	}
	return strings.Join(pieces, ",")
}

// fields returns the service fields a field selector may name.
func fields(obj runtime.Object) fieldsel.Set {
	svc := obj.(*corev1.Service)
	return fieldsel.Set{
		"spec.clusterIP": svc.Spec.ClusterIP,
		"spec.type":      string(svc.Spec.Type),
	}
}
