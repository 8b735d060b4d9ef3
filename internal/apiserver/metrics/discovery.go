package metrics

import (
	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// GroupName is the API group this package serves.
const GroupName = metricsv1beta1.GroupName

// GroupVersion is the one version served.
var GroupVersion = metricsv1beta1.SchemeGroupVersion

// verbs are those metrics-server serves (watch aside, which it added
// later and kubectl top does not use).
var verbs = metav1.Verbs{"get", "list"}

// resourceInfo describes one served resource.
type resourceInfo struct {
	name       string
	kind       string
	namespaced bool
}

var servedResources = []resourceInfo{
	{name: "nodes", kind: "NodeMetrics"},
	{name: "pods", kind: "PodMetrics", namespaced: true},
}

// APIGroup is the group's entry in /apis and its /apis/metrics.k8s.io
// document.
func APIGroup() metav1.APIGroup {
	v := metav1.GroupVersionForDiscovery{GroupVersion: GroupVersion.String(), Version: GroupVersion.Version}
	return metav1.APIGroup{Name: GroupName, Versions: []metav1.GroupVersionForDiscovery{v}, PreferredVersion: v}
}

// APIResourceList is the /apis/metrics.k8s.io/v1beta1 document. As
// metrics-server's, its resources have no singular name.
func APIResourceList() *metav1.APIResourceList {
	list := &metav1.APIResourceList{GroupVersion: GroupVersion.String()}
	for _, r := range servedResources {
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: r.name, Namespaced: r.namespaced, Kind: r.kind, Verbs: verbs,
		})
	}
	return list
}

// AggregatedDiscovery is the group's entry in the aggregated discovery
// document of /apis (apidiscovery.k8s.io/v2).
func AggregatedDiscovery() apidiscoveryv2.APIGroupDiscovery {
	g := apidiscoveryv2.APIGroupDiscovery{}
	g.Name = GroupName
	v := apidiscoveryv2.APIVersionDiscovery{Version: GroupVersion.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
	for _, r := range servedResources {
		scope := apidiscoveryv2.ScopeCluster
		if r.namespaced {
			scope = apidiscoveryv2.ScopeNamespace
		}
		v.Resources = append(v.Resources, apidiscoveryv2.APIResourceDiscovery{
			Resource:     r.name,
			ResponseKind: &metav1.GroupVersionKind{Group: GroupName, Version: GroupVersion.Version, Kind: r.kind},
			Scope:        scope,
			Verbs:        verbs,
		})
	}
	g.Versions = []apidiscoveryv2.APIVersionDiscovery{v}
	return g
}
