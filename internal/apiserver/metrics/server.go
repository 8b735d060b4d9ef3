package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// NodeStats reaches the kubelet API of the agent on a node. The API
// server's node client implements it.
type NodeStats interface {
	// Do sends a request without a body to the agent on nodeName and
	// returns its response, whose body the caller closes. An error means
	// no response (unknown node, unreachable agent, ctx ended).
	Do(ctx context.Context, nodeName, method, pathAndQuery string) (*http.Response, error)
}

// Objects reads the nodes and pods that metrics are about. The API server
// implements it over its storage.
type Objects interface {
	// ListNodes returns the nodes whose labels match selector, by name.
	ListNodes(ctx context.Context, selector labels.Selector) ([]*corev1.Node, error)
	// GetNode returns a node, or an API NotFound error.
	GetNode(ctx context.Context, name string) (*corev1.Node, error)
	// ListPods returns the pods of namespace ("" for all) whose labels
	// match selector, by namespace and name.
	ListPods(ctx context.Context, namespace string, selector labels.Selector) ([]*corev1.Pod, error)
	// GetPod returns a pod, or an API NotFound error.
	GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error)
}

// Defaults of Config.
const (
	// DefaultTimeout bounds the wait for the nodes' summaries.
	DefaultTimeout = 5 * time.Second
	// DefaultWindow is the agents' sampling interval (the agent's
	// stats.DefaultInterval), the window their CPU rates cover.
	DefaultWindow = 10 * time.Second
	// DefaultMaxConcurrent is how many nodes are asked at once.
	DefaultMaxConcurrent = 64
)

// Config is what a Server needs.
type Config struct {
	// Stats reaches the agents. Required.
	Stats NodeStats
	// Objects reads nodes and pods. Required.
	Objects Objects
	// Timeout bounds the wait for all the summaries one request needs;
	// nodes that have not answered by then are left out. Default
	// DefaultTimeout.
	Timeout time.Duration
	// Window is what NodeMetrics and PodMetrics report as the window of
	// their figures; default DefaultWindow.
	Window time.Duration
	// MaxConcurrent caps the requests to nodes in flight for one API
	// request; default DefaultMaxConcurrent.
	MaxConcurrent int
	// Clock tells the time (the metrics' creationTimestamp); default
	// time.Now.
	Clock func() time.Time
}

// Server serves metrics.k8s.io. Create it with New. It is safe for
// concurrent use.
type Server struct {
	cfg Config
}

var _ http.Handler = (*Server)(nil)

// New checks cfg and fills its defaults.
func New(cfg Config) (*Server, error) {
	if cfg.Stats == nil {
		return nil, errors.New("metrics: no node stats client")
	}
	if cfg.Objects == nil {
		return nil, errors.New("metrics: no object reader")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Server{cfg: cfg}, nil
}

var (
	nodesResource       = schema.GroupResource{Group: GroupName, Resource: "nodes"}
	podsResource        = schema.GroupResource{Group: GroupName, Resource: "pods"}
	nodeMetricsResource = metricsv1beta1.Resource("nodemetrics")
	podMetricsResource  = metricsv1beta1.Resource("podmetrics")
)

// request is what a resource path names.
type request struct {
	gr        schema.GroupResource
	namespace string
	name      string
}

// ServeHTTP answers requests for paths under /apis/metrics.k8s.io.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := splitPath(r.URL.Path)
	if len(parts) < 2 || parts[0] != "apis" || parts[1] != GroupName {
		writeError(w, r, notFound())
		return
	}
	parts = parts[2:]
	if len(parts) == 0 || len(parts) == 1 && parts[0] == GroupVersion.Version {
		if r.Method != http.MethodGet {
			writeError(w, r, apierrors.NewMethodNotSupported(schema.GroupResource{Group: GroupName}, strings.ToLower(r.Method)))
			return
		}
		var doc runtime.Object = APIResourceList()
		if len(parts) == 0 {
			g := APIGroup()
			doc = &g
		}
		writePlain(w, r, doc)
		return
	}
	if parts[0] != GroupVersion.Version {
		writeError(w, r, notFound())
		return
	}
	parts = parts[1:]
	watch := false
	if parts[0] == "watch" {
		watch, parts = true, parts[1:]
	}
	req, ok := parseResource(parts)
	if !ok {
		writeError(w, r, notFound())
		return
	}
	if v := r.URL.Query().Get("watch"); v == "true" || v == "1" {
		watch = true
	}
	if watch {
		writeError(w, r, apierrors.NewMethodNotSupported(req.gr, "watch"))
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, r, apierrors.NewMethodNotSupported(req.gr, verbOf(r.Method, req.name != "")))
		return
	}
	var obj runtime.Object
	var err error
	switch {
	case req.gr == nodesResource && req.name != "":
		obj, err = s.getNode(r.Context(), req.name)
	case req.gr == nodesResource:
		obj, err = s.listNodes(r)
	case req.name != "":
		obj, err = s.getPod(r.Context(), req.namespace, req.name)
	default:
		obj, err = s.listPods(r, req.namespace)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeResource(w, r, obj)
}

// parseResource reads "nodes[/NAME]", "pods" and
// "namespaces/NS/pods[/NAME]".
func parseResource(parts []string) (request, bool) {
	switch {
	case len(parts) == 1 && parts[0] == "nodes":
		return request{gr: nodesResource}, true
	case len(parts) == 2 && parts[0] == "nodes":
		return request{gr: nodesResource, name: parts[1]}, true
	case len(parts) == 1 && parts[0] == "pods":
		return request{gr: podsResource}, true
	case len(parts) == 3 && parts[0] == "namespaces" && parts[2] == "pods":
		return request{gr: podsResource, namespace: parts[1]}, true
	case len(parts) == 4 && parts[0] == "namespaces" && parts[2] == "pods":
		return request{gr: podsResource, namespace: parts[1], name: parts[3]}, true
	}
	return request{}, false
}

// verbOf is the API verb of a method, for 405 messages.
func verbOf(method string, named bool) string {
	switch method {
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		if named {
			return "delete"
		}
		return "deletecollection"
	}
	return strings.ToLower(method)
}

func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// notFound is the answer for paths the group does not serve.
func notFound() error {
	return apierrors.NewGenericServerResponse(http.StatusNotFound, "", schema.GroupResource{}, "", "the server could not find the requested resource", 0, false)
}

// selectors reads the labelSelector and fieldSelector of a list request.
// Field selectors may name metadata.name and metadata.namespace, as for
// every resource without field selectors of its own upstream.
func selectors(r *http.Request) (labels.Selector, fields.Selector, error) {
	q := r.URL.Query()
	label, err := labels.Parse(q.Get("labelSelector"))
	if err != nil {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
	}
	field, err := fields.ParseSelector(q.Get("fieldSelector"))
	if err != nil {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err))
	}
	for _, req := range field.Requirements() {
		if req.Field != "metadata.name" && req.Field != "metadata.namespace" {
			return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("%q is not a known field selector: only %q, %q", req.Field, "metadata.name", "metadata.namespace"))
		}
	}
	return label, field, nil
}

func (s *Server) listNodes(r *http.Request) (runtime.Object, error) {
	label, field, err := selectors(r)
	if err != nil {
		return nil, err
	}
	nodes, err := s.cfg.Objects.ListNodes(r.Context(), label)
	if err != nil {
		return nil, err
	}
	var selected []*corev1.Node
	for _, n := range nodes {
		if field.Matches(fields.Set{"metadata.name": n.Name, "metadata.namespace": ""}) {
			selected = append(selected, n)
		}
	}
	return &metricsv1beta1.NodeMetricsList{Items: s.nodeMetrics(r.Context(), selected)}, nil
}

func (s *Server) getNode(ctx context.Context, name string) (runtime.Object, error) {
	node, err := s.cfg.Objects.GetNode(ctx, name)
	if err != nil {
		return nil, err
	}
	items := s.nodeMetrics(ctx, []*corev1.Node{node})
	if len(items) == 0 {
		return nil, apierrors.NewNotFound(nodeMetricsResource, name)
	}
	return &items[0], nil
}

func (s *Server) listPods(r *http.Request, namespace string) (runtime.Object, error) {
	label, field, err := selectors(r)
	if err != nil {
		return nil, err
	}
	pods, err := s.cfg.Objects.ListPods(r.Context(), namespace, label)
	if err != nil {
		return nil, err
	}
	var selected []*corev1.Pod
	for _, p := range pods {
		if field.Matches(fields.Set{"metadata.name": p.Name, "metadata.namespace": p.Namespace}) {
			selected = append(selected, p)
		}
	}
	return &metricsv1beta1.PodMetricsList{Items: s.podMetrics(r.Context(), selected)}, nil
}

func (s *Server) getPod(ctx context.Context, namespace, name string) (runtime.Object, error) {
	pod, err := s.cfg.Objects.GetPod(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	items := s.podMetrics(ctx, []*corev1.Pod{pod})
	if len(items) == 0 {
		return nil, apierrors.NewNotFound(podMetricsResource, namespace+"/"+name)
	}
	return &items[0], nil
}
