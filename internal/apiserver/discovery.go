package apiserver

import (
	"net/http"
	"sort"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/navarch/navarch/internal/storage"
)

// discovery holds the documents of the discovery endpoints, computed once
// from the served kinds.
type discovery struct {
	legacyVersions *metav1.APIVersions                   // /api
	groups         *metav1.APIGroupList                  // /apis
	groupByName    map[string]*metav1.APIGroup           // /apis/GROUP
	resourceLists  map[string]*metav1.APIResourceList    // "v1", "apps/v1"
	aggregatedCore *apidiscoveryv2.APIGroupDiscoveryList // /api, aggregated
	aggregatedApis *apidiscoveryv2.APIGroupDiscoveryList // /apis, aggregated
}

var (
	readVerbs  = metav1.Verbs{"get", "list", "watch"}
	allVerbs   = metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	statusVerb = metav1.Verbs{"get", "patch", "update"}
	// proxyVerbs are the verbs of the proxy subresources in upstream's
	// discovery (HEAD and OPTIONS requests are proxied too).
	proxyVerbs = metav1.Verbs{"create", "delete", "get", "patch", "update"}
)

// subresource is one subresource entry of discovery.
type subresource struct {
	name  string
	kind  schema.GroupVersionKind // empty: the parent's kind
	verbs metav1.Verbs
}

// subresourcesOf lists the subresources served for res, as discovery shows them.
func subresourcesOf(res *resource) []subresource {
	var subs []subresource
	if res.kind.Status != nil {
		subs = append(subs, subresource{name: "status", verbs: statusVerb})
	}
	for name := range res.kind.Subresources {
		subs = append(subs, subresource{name: name, verbs: statusVerb})
	}
	if res.kind.Scale != nil {
		subs = append(subs, subresource{name: "scale", kind: autoscalingv1.SchemeGroupVersion.WithKind("Scale"), verbs: statusVerb})
	}
	switch res.gr {
	case schema.GroupResource{Resource: "pods"}:
		subs = append(subs,
			subresource{name: "attach", kind: schema.GroupVersionKind{Version: "v1", Kind: "PodAttachOptions"}, verbs: metav1.Verbs{"create", "get"}},
			subresource{name: "binding", kind: schema.GroupVersionKind{Version: "v1", Kind: "Binding"}, verbs: metav1.Verbs{"create"}},
			subresource{name: "eviction", kind: schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"}, verbs: metav1.Verbs{"create"}},
			subresource{name: "exec", kind: schema.GroupVersionKind{Version: "v1", Kind: "PodExecOptions"}, verbs: metav1.Verbs{"create", "get"}},
			subresource{name: "log", verbs: metav1.Verbs{"get"}},
			subresource{name: "portforward", kind: schema.GroupVersionKind{Version: "v1", Kind: "PodPortForwardOptions"}, verbs: metav1.Verbs{"create", "get"}},
			subresource{name: "proxy", kind: schema.GroupVersionKind{Version: "v1", Kind: "PodProxyOptions"}, verbs: proxyVerbs},
		)
	case servicesGR:
		subs = append(subs, subresource{name: "proxy", kind: schema.GroupVersionKind{Version: "v1", Kind: "ServiceProxyOptions"}, verbs: proxyVerbs})
	case nodesGR:
		subs = append(subs, subresource{name: "proxy", kind: schema.GroupVersionKind{Version: "v1", Kind: "NodeProxyOptions"}, verbs: proxyVerbs})
	case schema.GroupResource{Resource: "namespaces"}:
		subs = append(subs, subresource{name: "finalize", verbs: metav1.Verbs{"update"}})
	case serviceAccountsGR:
		subs = append(subs, subresource{name: "token", kind: tokenRequestGVK, verbs: metav1.Verbs{"create"}})
	}
	sort.Slice(subs, func(i, j int) bool { return subs[i].name < subs[j].name })
	return subs
}

func newDiscovery(resources []*resource) *discovery {
	d := &discovery{
		legacyVersions: &metav1.APIVersions{Versions: []string{"v1"}},
		groups:         &metav1.APIGroupList{},
		groupByName:    map[string]*metav1.APIGroup{},
		resourceLists:  map[string]*metav1.APIResourceList{},
		aggregatedCore: &apidiscoveryv2.APIGroupDiscoveryList{},
		aggregatedApis: &apidiscoveryv2.APIGroupDiscoveryList{},
	}
	aggGroups := map[string]*apidiscoveryv2.APIGroupDiscovery{}
	var groupOrder []string
	for _, res := range resources {
		k := res.kind
		gv := k.GroupVersion
		gvString := gv.String()
		list := d.resourceLists[gvString]
		if list == nil {
			list = &metav1.APIResourceList{GroupVersion: gvString}
			d.resourceLists[gvString] = list
		}
		verbs := allVerbs
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: k.Resource, SingularName: k.Singular, Namespaced: k.Namespaced, Kind: k.Kind,
			Verbs: verbs, ShortNames: k.ShortNames, Categories: k.Categories,
		})
		scope := apidiscoveryv2.ScopeCluster
		if k.Namespaced {
			scope = apidiscoveryv2.ScopeNamespace
		}
		rd := apidiscoveryv2.APIResourceDiscovery{
			Resource:         k.Resource,
			ResponseKind:     &metav1.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: k.Kind},
			Scope:            scope,
			SingularResource: k.Singular,
			Verbs:            verbs,
			ShortNames:       k.ShortNames,
			Categories:       k.Categories,
		}
		for _, sub := range subresourcesOf(res) {
			kind := sub.kind
			if kind.Empty() {
				kind = k.GroupVersionKind()
			}
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name: k.Resource + "/" + sub.name, Namespaced: k.Namespaced, Kind: kind.Kind,
				Group: kind.Group, Version: kind.Version, Verbs: sub.verbs,
			})
			rd.Subresources = append(rd.Subresources, apidiscoveryv2.APISubresourceDiscovery{
				Subresource:  sub.name,
				ResponseKind: &metav1.GroupVersionKind{Group: kind.Group, Version: kind.Version, Kind: kind.Kind},
				Verbs:        sub.verbs,
			})
		}

		ag := aggGroups[gv.Group]
		if ag == nil {
			ag = &apidiscoveryv2.APIGroupDiscovery{}
			ag.Name = gv.Group
			aggGroups[gv.Group] = ag
			groupOrder = append(groupOrder, gv.Group)
		}
		var av *apidiscoveryv2.APIVersionDiscovery
		for i := range ag.Versions {
			if ag.Versions[i].Version == gv.Version {
				av = &ag.Versions[i]
			}
		}
		if av == nil {
			ag.Versions = append(ag.Versions, apidiscoveryv2.APIVersionDiscovery{Version: gv.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent})
			av = &ag.Versions[len(ag.Versions)-1]
		}
		av.Resources = append(av.Resources, rd)

		if gv.Group != "" {
			g := d.groupByName[gv.Group]
			if g == nil {
				g = &metav1.APIGroup{Name: gv.Group}
				d.groupByName[gv.Group] = g
			}
			found := false
			for _, v := range g.Versions {
				found = found || v.Version == gv.Version
			}
			if !found {
				gvd := metav1.GroupVersionForDiscovery{GroupVersion: gvString, Version: gv.Version}
				g.Versions = append(g.Versions, gvd)
				if g.PreferredVersion.Version == "" {
					g.PreferredVersion = gvd
				}
			}
		}
	}
	for _, name := range groupOrder {
		ag := aggGroups[name]
		for i := range ag.Versions {
			sort.Slice(ag.Versions[i].Resources, func(a, b int) bool {
				return ag.Versions[i].Resources[a].Resource < ag.Versions[i].Resources[b].Resource
			})
		}
		if name == "" {
			d.aggregatedCore.Items = append(d.aggregatedCore.Items, *ag)
			continue
		}
		d.aggregatedApis.Items = append(d.aggregatedApis.Items, *ag)
		d.groups.Groups = append(d.groups.Groups, *d.groupByName[name])
	}
	for _, list := range d.resourceLists {
		sort.Slice(list.APIResources, func(i, j int) bool { return list.APIResources[i].Name < list.APIResources[j].Name })
	}
	return d
}

// addGroup adds a group served outside the registry (metrics.k8s.io) to
// the documents, after the registry's groups, as upstream lists
// aggregated API groups after its own.
func (d *discovery) addGroup(group metav1.APIGroup, resources *metav1.APIResourceList, aggregated apidiscoveryv2.APIGroupDiscovery) {
	d.groups.Groups = append(d.groups.Groups, group)
	d.groupByName[group.Name] = &group
	d.resourceLists[resources.GroupVersion] = resources
	d.aggregatedApis.Items = append(d.aggregatedApis.Items, aggregated)
}

// aggregatedMediaType is what clients ask for to get aggregated discovery.
const aggregatedMediaType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

// serveDiscovery answers /api, /apis, /api/v1, /apis/GROUP and
// /apis/GROUP/VERSION. It returns false when the path is none of them.
func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request, parts []string) bool {
	d := s.discovery
	var obj runtime.Object
	switch {
	case len(parts) == 1 && (parts[0] == "api" || parts[0] == "apis"):
		n, ok := negotiate(r, func(as, g, v string) bool {
			return as == "APIGroupDiscoveryList" && g == "apidiscovery.k8s.io" && v == "v2"
		})
		if !ok {
			writeError(w, r, notAcceptable(r))
			return true
		}
		if n.as == "APIGroupDiscoveryList" {
			list := d.aggregatedApis
			if parts[0] == "api" {
				list = d.aggregatedCore
			}
			shared, release := storage.ShallowCopy(list)
			data, err := encodeJSON(shared, apidiscoveryv2.SchemeGroupVersion)
			release()
			if err != nil {
				writeError(w, r, err)
				return true
			}
			writeRawJSON(w, http.StatusOK, aggregatedMediaType, data)
			return true
		}
		if parts[0] == "api" {
			obj = d.legacyVersions
		} else {
			obj = d.groups
		}
		writeDocument(w, n.info, obj)
		return true
	case len(parts) == 2 && parts[0] == "api":
		list := d.resourceLists[parts[1]]
		if list == nil {
			return false
		}
		obj = list
	case len(parts) == 2 && parts[0] == "apis":
		g := d.groupByName[parts[1]]
		if g == nil {
			return false
		}
		obj = g
	case len(parts) == 3 && parts[0] == "apis":
		list := d.resourceLists[parts[1]+"/"+parts[2]]
		if list == nil {
			return false
		}
		obj = list
	default:
		return false
	}
	n, ok := negotiate(r, nil)
	if !ok {
		writeError(w, r, notAcceptable(r))
		return true
	}
	writeDocument(w, n.info, obj)
	return true
}

// writeDocument answers with doc, one of the discovery documents every
// request shares. The encoder sets the kind on what it encodes (and puts
// the old one back after), so it gets a copy of the top-level struct:
// encoding the shared document itself raced with concurrent requests.
func writeDocument(w http.ResponseWriter, info runtime.SerializerInfo, doc runtime.Object) {
	shared, release := storage.ShallowCopy(doc)
	defer release()
	writeObject(w, info, http.StatusOK, shared)
}
