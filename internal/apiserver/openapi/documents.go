package openapi

import (
	"net/http"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/navarch/navarch/internal/registry"
	"github.com/navarch/navarch/internal/version"
)

// The one security scheme the documents declare, as upstream declares it:
// a bearer token in the Authorization header.
const (
	securityName        = "BearerToken"
	securityDescription = "Bearer Token authentication"
)

// groupVersionRoutes are the routes of one served group version.
type groupVersionRoutes struct {
	gv     schema.GroupVersion
	routes []route
}

// v3Path is the group version's key in the v3 index: "api/v1",
// "apis/apps/v1".
func (g groupVersionRoutes) v3Path() string {
	return strings.TrimPrefix(groupVersionPath(g.gv), "/")
}

// definitionsUsed lists the definitions the operations name directly.
func (g groupVersionRoutes) definitionsUsed() []string {
	var names []string
	for _, r := range g.routes {
		for _, o := range r.operations {
			if o.body != "" {
				names = append(names, o.body)
			}
			if o.response != "" {
				names = append(names, o.response)
			}
		}
	}
	return names
}

// routesByGroupVersion groups the routes of kinds by group version, sorted
// by the group version's URL.
func routesByGroupVersion(kinds []*registry.Kind) []groupVersionRoutes {
	byGV := map[schema.GroupVersion]*groupVersionRoutes{}
	var order []*groupVersionRoutes
	for _, k := range kinds {
		g := byGV[k.GroupVersion]
		if g == nil {
			g = &groupVersionRoutes{gv: k.GroupVersion, routes: []route{discoveryRoute(k.GroupVersion)}}
			byGV[k.GroupVersion] = g
			order = append(order, g)
		}
		g.routes = append(g.routes, kindRoutes(k)...)
	}
	sort.Slice(order, func(i, j int) bool { return order[i].v3Path() < order[j].v3Path() })
	groups := make([]groupVersionRoutes, len(order))
	for i, g := range order {
		groups[i] = *g
	}
	return groups
}

func documentInfo() *spec.Info {
	return &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes", Version: version.Kubernetes}}
}

// buildV2 returns the Swagger 2.0 document of every route of kinds.
func buildV2(kinds []*registry.Kind, index kindIndex) (*spec.Swagger, error) {
	defs := loadDefinitions(refPrefixV2)
	paths := map[string]spec.PathItem{}
	var used []string
	for _, g := range routesByGroupVersion(kinds) {
		for _, r := range g.routes {
			paths[r.path] = r.v2()
		}
		used = append(used, g.definitionsUsed()...)
	}
	names, err := defs.closure(used)
	if err != nil {
		return nil, err
	}
	definitions := make(spec.Definitions, len(names))
	for _, name := range names {
		definitions[name] = schemaV2(defs[name], index.extension(name))
	}
	return &spec.Swagger{SwaggerProps: spec.SwaggerProps{
		Swagger:     "2.0",
		Info:        documentInfo(),
		Paths:       &spec.Paths{Paths: paths},
		Definitions: definitions,
		SecurityDefinitions: spec.SecurityDefinitions{securityName: &spec.SecurityScheme{SecuritySchemeProps: spec.SecuritySchemeProps{
			Type: "apiKey", Name: "authorization", In: "header", Description: securityDescription,
		}}},
		Security: []map[string][]string{{securityName: {}}},
	}}, nil
}

// buildV3 returns one OpenAPI 3.0 document per served group version, keyed
// by its v3 path ("apis/apps/v1"). Each holds the routes of its group
// version and the schemas they reach.
func buildV3(kinds []*registry.Kind, index kindIndex) (map[string]*spec3.OpenAPI, error) {
	defs := loadDefinitions(refPrefixV3)
	// Group versions share most schemas (ObjectMeta, ...): convert each
	// once and let the documents point at the same value.
	converted := map[string]*spec.Schema{}
	docs := map[string]*spec3.OpenAPI{}
	for _, g := range routesByGroupVersion(kinds) {
		paths := make(map[string]*spec3.Path, len(g.routes))
		for _, r := range g.routes {
			paths[r.path] = r.v3()
		}
		names, err := defs.closure(g.definitionsUsed())
		if err != nil {
			return nil, err
		}
		schemas := make(map[string]*spec.Schema, len(names))
		for _, name := range names {
			s, ok := converted[name]
			if !ok {
				s = schemaV3(defs[name], index.extension(name))
				converted[name] = s
			}
			schemas[name] = s
		}
		docs[g.v3Path()] = &spec3.OpenAPI{
			Version: "3.0.0",
			Info:    documentInfo(),
			Paths:   &spec3.Paths{Paths: paths},
			Components: &spec3.Components{
				Schemas: schemas,
				SecuritySchemes: spec3.SecuritySchemes{securityName: &spec3.SecurityScheme{SecuritySchemeProps: spec3.SecuritySchemeProps{
					Type: "apiKey", Name: "authorization", In: "header", Description: securityDescription,
				}}},
			},
			SecurityRequirement: []map[string][]string{{securityName: {}}},
		}
	}
	return docs, nil
}

// refSchema is a schema that only references the named definition.
func refSchema(refPrefix, name string) *spec.Schema {
	return spec.RefSchema(refPrefix + common.EscapeJsonPointer(name))
}

// extensions are the vendor extensions of an operation.
func (o operation) extensions() spec.Extensions {
	if o.action == "" {
		return nil
	}
	return spec.Extensions{extensionAction: o.action, extensionGVK: gvkValue(o.kind)}
}

func (r route) v2() spec.PathItem {
	var item spec.PathItem
	for _, p := range r.params {
		item.Parameters = append(item.Parameters, p.v2())
	}
	for _, o := range r.operations {
		op := o.v2()
		switch o.method {
		case "get":
			item.Get = op
		case "put":
			item.Put = op
		case "post":
			item.Post = op
		case "patch":
			item.Patch = op
		case "delete":
			item.Delete = op
		}
	}
	return item
}

func (p parameter) v2() spec.Parameter {
	return spec.Parameter{
		ParamProps:        spec.ParamProps{Name: p.name, In: p.in, Description: p.description, Required: p.required},
		SimpleSchema:      spec.SimpleSchema{Type: p.typ},
		CommonValidations: spec.CommonValidations{UniqueItems: true},
	}
}

func (o operation) v2() *spec.Operation {
	op := &spec.Operation{
		VendorExtensible: spec.VendorExtensible{Extensions: o.extensions()},
		OperationProps: spec.OperationProps{
			ID:          o.id,
			Description: o.description,
			Tags:        []string{o.tag},
			Schemes:     []string{"https"},
			Consumes:    o.consumes,
			Produces:    o.produces,
		},
	}
	if op.Consumes == nil {
		op.Consumes = []string{"*/*"}
	}
	if o.body != "" {
		op.Parameters = append(op.Parameters, spec.Parameter{ParamProps: spec.ParamProps{
			Name: "body", In: "body", Required: o.bodyRequired, Schema: refSchema(refPrefixV2, o.body),
		}})
	}
	for _, p := range o.query {
		op.Parameters = append(op.Parameters, p.v2())
	}
	responses := map[int]spec.Response{http.StatusUnauthorized: {ResponseProps: spec.ResponseProps{Description: "Unauthorized"}}}
	for _, code := range o.codes {
		responses[code] = spec.Response{ResponseProps: spec.ResponseProps{
			Description: http.StatusText(code), Schema: refSchema(refPrefixV2, o.response),
		}}
	}
	op.Responses = &spec.Responses{ResponsesProps: spec.ResponsesProps{StatusCodeResponses: responses}}
	return op
}

func (r route) v3() *spec3.Path {
	item := &spec3.Path{}
	for _, p := range r.params {
		item.Parameters = append(item.Parameters, p.v3())
	}
	for _, o := range r.operations {
		op := o.v3()
		switch o.method {
		case "get":
			item.Get = op
		case "put":
			item.Put = op
		case "post":
			item.Post = op
		case "patch":
			item.Patch = op
		case "delete":
			item.Delete = op
		}
	}
	return item
}

func (p parameter) v3() *spec3.Parameter {
	return &spec3.Parameter{ParameterProps: spec3.ParameterProps{
		Name: p.name, In: p.in, Description: p.description, Required: p.required,
		Schema: &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{p.typ}, UniqueItems: true}},
	}}
}

func (o operation) v3() *spec3.Operation {
	op := &spec3.Operation{
		VendorExtensible: spec.VendorExtensible{Extensions: o.extensions()},
		OperationProps: spec3.OperationProps{
			OperationId: o.id,
			Description: o.description,
			Tags:        []string{o.tag},
		},
	}
	if o.body != "" {
		consumes := o.consumes
		if consumes == nil {
			consumes = []string{"*/*"}
		}
		media := &spec3.MediaType{MediaTypeProps: spec3.MediaTypeProps{Schema: refSchema(refPrefixV3, o.body)}}
		content := make(map[string]*spec3.MediaType, len(consumes))
		for _, mt := range consumes {
			content[mt] = media
		}
		op.RequestBody = &spec3.RequestBody{RequestBodyProps: spec3.RequestBodyProps{Content: content, Required: o.bodyRequired}}
	}
	for _, p := range o.query {
		op.Parameters = append(op.Parameters, p.v3())
	}
	media := &spec3.MediaType{MediaTypeProps: spec3.MediaTypeProps{Schema: refSchema(refPrefixV3, o.response)}}
	content := make(map[string]*spec3.MediaType, len(o.produces))
	for _, mt := range o.produces {
		content[mt] = media
	}
	responses := map[int]*spec3.Response{http.StatusUnauthorized: {ResponseProps: spec3.ResponseProps{Description: "Unauthorized"}}}
	for _, code := range o.codes {
		responses[code] = &spec3.Response{ResponseProps: spec3.ResponseProps{Description: http.StatusText(code), Content: content}}
	}
	op.Responses = &spec3.Responses{ResponsesProps: spec3.ResponsesProps{StatusCodeResponses: responses}}
	return op
}
