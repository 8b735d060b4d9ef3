package openapi

import (
	"strings"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/navarch/navarch/internal/registry"
)

// route is one resource URL and the operations served on it, in a form
// both document versions are rendered from.
type route struct {
	path string
	// params apply to every operation of the path: the path segments and
	// "pretty".
	params     []parameter
	operations []operation
}

// operation is one HTTP method on a route.
type operation struct {
	method      string // lower case, as the documents key it: get, put, post, patch, delete
	id          string // operationId, as upstream names it: "listCoreV1NamespacedPod"
	description string
	tag         string // "core_v1"
	// action is the x-kubernetes-action value; kind the
	// x-kubernetes-group-version-kind one. Both are empty on the discovery
	// route.
	action string
	kind   schema.GroupVersionKind
	// body is the definition name of the request body, "" for none.
	body         string
	bodyRequired bool
	// consumes lists the request media types; nil means any ("*/*").
	consumes []string
	// response is the definition name of what each code in codes returns.
	response string
	codes    []int
	produces []string
	query    []parameter
}

// parameter is a path or query parameter.
type parameter struct {
	name        string
	in          string // "path" or "query"
	typ         string // "string", "integer" or "boolean"
	description string
	required    bool
}

// The media types the API server reads and writes.
var (
	mediaTypesObject = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
	mediaTypesList   = append(append([]string(nil), mediaTypesObject...),
		"application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch")
	mediaTypesWatch = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf",
		"application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch"}
	mediaTypesPatch = []string{"application/json-patch+json", "application/merge-patch+json",
		"application/strategic-merge-patch+json", "application/apply-patch+yaml"}
)

// The parameters of the operations, as upstream describes them (shortened).
var (
	paramNamespace = parameter{name: "namespace", in: "path", typ: "string", required: true,
		description: "object name and auth scope, such as for teams and projects"}
	paramName   = parameter{name: "name", in: "path", typ: "string", required: true}
	paramPretty = parameter{name: "pretty", in: "query", typ: "string",
		description: "If 'true', then the output is pretty printed."}

	paramsList = []parameter{
		{name: "allowWatchBookmarks", in: "query", typ: "boolean", description: "allowWatchBookmarks requests watch events with type \"BOOKMARK\"."},
		{name: "continue", in: "query", typ: "string", description: "The continue option should be set when retrieving more results from the server."},
		{name: "fieldSelector", in: "query", typ: "string", description: "A selector to restrict the list of returned objects by their fields. Defaults to everything."},
		{name: "labelSelector", in: "query", typ: "string", description: "A selector to restrict the list of returned objects by their labels. Defaults to everything."},
		{name: "limit", in: "query", typ: "integer", description: "limit is a maximum number of responses to return for a list call."},
		{name: "resourceVersion", in: "query", typ: "string", description: "resourceVersion sets a constraint on what resource versions a request may be served from."},
		{name: "resourceVersionMatch", in: "query", typ: "string", description: "resourceVersionMatch determines how resourceVersion is applied to list calls."},
		{name: "sendInitialEvents", in: "query", typ: "boolean", description: "`sendInitialEvents=true` may be set together with `watch=true`: the stream then begins with synthetic events for the current state of all objects."},
		{name: "timeoutSeconds", in: "query", typ: "integer", description: "Timeout for the list/watch call."},
		{name: "watch", in: "query", typ: "boolean", description: "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion."},
	}
	paramsWrite = []parameter{
		{name: "dryRun", in: "query", typ: "string", description: "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed"},
		{name: "fieldManager", in: "query", typ: "string", description: "fieldManager is a name associated with the actor or entity that is making these changes."},
		{name: "fieldValidation", in: "query", typ: "string", description: "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields: Ignore, Warn or Strict."},
	}
	paramForce   = parameter{name: "force", in: "query", typ: "boolean", description: "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people."}
	paramsDelete = []parameter{
		{name: "dryRun", in: "query", typ: "string", description: "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed"},
		{name: "gracePeriodSeconds", in: "query", typ: "integer", description: "The duration in seconds before the object should be deleted. Zero means delete immediately."},
		{name: "propagationPolicy", in: "query", typ: "string", description: "Whether and how garbage collection will be performed: 'Orphan', 'Background' or 'Foreground'."},
	}
)

// The definitions of the meta types the operations use.
var (
	defStatus          = metav1.Status{}.OpenAPIModelName()
	defWatchEvent      = metav1.WatchEvent{}.OpenAPIModelName()
	defDeleteOptions   = metav1.DeleteOptions{}.OpenAPIModelName()
	defPatch           = metav1.Patch{}.OpenAPIModelName()
	defAPIResourceList = metav1.APIResourceList{}.OpenAPIModelName()
	defScale           = autoscalingv1.Scale{}.OpenAPIModelName()
)

// groupVersionNames are the names upstream gives a group version in
// operation ids ("CoreV1", "RbacAuthorizationV1") and tags ("core_v1",
// "rbacAuthorization_v1"): the core group is "core", ".k8s.io" is dropped
// and the remaining dotted or dashed words are joined in camel case.
func groupVersionNames(gv schema.GroupVersion) (id, tag string) {
	group := "core"
	if gv.Group != "" {
		words := strings.FieldsFunc(strings.TrimSuffix(gv.Group, ".k8s.io"), func(r rune) bool { return r == '.' || r == '-' })
		for i := 1; i < len(words); i++ {
			words[i] = upperFirst(words[i])
		}
		group = strings.Join(words, "")
	}
	return upperFirst(group) + upperFirst(gv.Version), group + "_" + gv.Version
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// groupVersionPath is the URL prefix of a group version: "/api/v1",
// "/apis/apps/v1".
func groupVersionPath(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "/api/" + gv.Version
	}
	return "/apis/" + gv.Group + "/" + gv.Version
}

// createOnly reports whether a kind is only ever created, never stored
// or listed: the access and token reviews, as upstream serves them. Such a
// kind needs no NewList.
func createOnly(k *registry.Kind) bool {
	return strings.HasSuffix(k.Kind, "Review")
}

// discoveryRoute is the resource list of a group version ("/apis/apps/v1/"),
// which upstream documents with each group version.
func discoveryRoute(gv schema.GroupVersion) route {
	gvID, tag := groupVersionNames(gv)
	return route{
		path: groupVersionPath(gv) + "/",
		operations: []operation{{
			method: "get", id: "get" + gvID + "APIResources", description: "get available resources", tag: tag,
			response: defAPIResourceList, codes: []int{200}, produces: mediaTypesObject,
		}},
	}
}

// kindRoutes returns the routes of one kind: its collection and items,
// their deprecated watch forms, the list across namespaces, and the status
// and scale subresources it has.
func kindRoutes(k *registry.Kind) []route {
	gv := k.GroupVersion
	gvk := k.GroupVersionKind()
	gvID, tag := groupVersionNames(gv)
	objectDef := modelName(k.New())
	base := groupVersionPath(gv)

	// scoped is the kind's name in operation ids ("NamespacedPod", "Node");
	// collection and item are its URLs.
	scoped := k.Kind
	collection := base + "/" + k.Resource
	watchCollection := base + "/watch/" + k.Resource
	var scope []parameter
	if k.Namespaced {
		scoped = "Namespaced" + k.Kind
		collection = base + "/namespaces/{namespace}/" + k.Resource
		watchCollection = base + "/watch/namespaces/{namespace}/" + k.Resource
		scope = []parameter{paramNamespace}
	}
	item := collection + "/{name}"
	itemParams := append([]parameter{paramName}, scope...)
	op := func(method, verb, suffix, action, description string) operation {
		return operation{method: method, id: verb + gvID + scoped + suffix, action: action, kind: gvk,
			description: description, tag: tag, response: objectDef, codes: []int{200}, produces: mediaTypesObject}
	}
	withPretty := func(params []parameter) []parameter {
		return append(append([]parameter(nil), params...), paramPretty)
	}

	create := op("post", "create", "", "post", "create a "+k.Kind)
	create.body, create.bodyRequired, create.codes = objectDef, true, []int{200, 201, 202}
	create.query = paramsWrite
	if createOnly(k) {
		return []route{{path: collection, params: withPretty(scope), operations: []operation{create}}}
	}

	list := op("get", "list", "", "list", "list or watch objects of kind "+k.Kind)
	list.response, list.produces, list.query = modelName(k.NewList()), mediaTypesList, paramsList
	deleteCollection := op("delete", "delete", "", "deletecollection", "delete collection of "+k.Kind)
	deleteCollection.id = "delete" + gvID + "Collection" + scoped
	deleteCollection.body, deleteCollection.response = defDeleteOptions, defStatus
	deleteCollection.query = append(append([]parameter(nil), paramsList...), paramsDelete...)

	read := op("get", "read", "", "get", "read the specified "+k.Kind)
	replace := op("put", "replace", "", "put", "replace the specified "+k.Kind)
	replace.body, replace.bodyRequired, replace.codes, replace.query = objectDef, true, []int{200, 201}, paramsWrite
	patch := patchOperation(op("patch", "patch", "", "patch", "partially update the specified "+k.Kind))
	remove := op("delete", "delete", "", "delete", "delete a "+k.Kind)
	remove.body, remove.response, remove.codes, remove.query = defDeleteOptions, defStatus, []int{200, 202}, paramsDelete

	watch := op("get", "watch", "", "watch", "watch changes to an object of kind "+k.Kind+
		". deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter.")
	watch.response, watch.produces, watch.query = defWatchEvent, mediaTypesWatch, paramsList
	watchList := op("get", "watch", "List", "watchlist", "watch individual changes to a list of "+k.Kind+
		". deprecated: use the 'watch' parameter with a list operation instead.")
	watchList.response, watchList.produces, watchList.query = defWatchEvent, mediaTypesWatch, paramsList

	routes := []route{
		{path: collection, params: withPretty(scope), operations: []operation{list, create, deleteCollection}},
		{path: item, params: withPretty(itemParams), operations: []operation{read, replace, patch, remove}},
		{path: watchCollection, params: withPretty(scope), operations: []operation{watchList}},
		{path: watchCollection + "/{name}", params: withPretty(itemParams), operations: []operation{watch}},
	}
	if k.Namespaced {
		listAll := list
		listAll.id = "list" + gvID + k.Kind + "ForAllNamespaces"
		watchAll := watchList
		watchAll.id = "watch" + gvID + k.Kind + "ListForAllNamespaces"
		routes = append(routes,
			route{path: base + "/" + k.Resource, params: []parameter{paramPretty}, operations: []operation{listAll}},
			route{path: base + "/watch/" + k.Resource, params: []parameter{paramPretty}, operations: []operation{watchAll}},
		)
	}
	if k.Status != nil {
		routes = append(routes, subresourceRoute(item+"/status", withPretty(itemParams), "Status", "status of the specified "+k.Kind,
			op, objectDef, gvk))
	}
	if k.Scale != nil {
		routes = append(routes, subresourceRoute(item+"/scale", withPretty(itemParams), "Scale", "scale of the specified "+k.Kind,
			op, defScale, autoscalingv1.SchemeGroupVersion.WithKind("Scale")))
	}
	return routes
}

// subresourceRoute is a get/put/patch subresource (status, scale) whose
// object is the definition def of kind gvk.
func subresourceRoute(path string, params []parameter, suffix, what string,
	op func(method, verb, suffix, action, description string) operation, def string, gvk schema.GroupVersionKind,
) route {
	read := op("get", "read", suffix, "get", "read "+what)
	replace := op("put", "replace", suffix, "put", "replace "+what)
	replace.body, replace.bodyRequired, replace.codes, replace.query = def, true, []int{200, 201}, paramsWrite
	patch := patchOperation(op("patch", "patch", suffix, "patch", "partially update "+what))
	ops := []operation{read, replace, patch}
	for i := range ops {
		ops[i].kind, ops[i].response = gvk, def
	}
	return route{path: path, params: params, operations: ops}
}

// patchOperation completes a patch operation: a metav1.Patch body in one
// of the patch media types, answered with the object.
func patchOperation(o operation) operation {
	o.body, o.bodyRequired, o.consumes, o.codes = defPatch, true, mediaTypesPatch, []int{200, 201}
	o.query = append(append([]parameter(nil), paramsWrite...), paramForce)
	return o
}
