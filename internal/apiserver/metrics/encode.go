package metrics

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1beta1 "k8s.io/apimachinery/pkg/apis/meta/v1beta1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/klog/v2"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// scheme knows the metrics types, metav1's unversioned types (Status,
// APIGroup, APIResourceList) and Table; codecs serve them as JSON, YAML
// and protobuf.
var (
	scheme = newScheme()
	codecs = serializer.NewCodecFactory(scheme)
)

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(metricsv1beta1.AddToScheme(s))
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	utilruntime.Must(metav1.AddMetaToScheme(s))
	utilruntime.Must(metav1beta1.AddMetaToScheme(s))
	return s
}

// negotiated is the response format one request asked for.
type negotiated struct {
	info runtime.SerializerInfo
	// table is the group version of the Table asked for (meta.k8s.io v1
	// or v1beta1), or empty for the object itself.
	table schema.GroupVersion
}

// negotiate picks the first entry of the Accept header the server can
// serve (no header means JSON). Tables are offered only when
// allowTable, and only as JSON or YAML. It returns false when nothing
// acceptable is left (406).
func negotiate(r *http.Request, allowTable bool) (negotiated, bool) {
	header := r.Header.Get("Accept")
	if strings.TrimSpace(header) == "" {
		header = "*/*"
	}
	for _, part := range strings.Split(header, ",") {
		mediaType, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if q, ok := params["q"]; ok {
			if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
				continue
			}
		}
		switch mediaType {
		case "*/*", "application/*":
			mediaType = runtime.ContentTypeJSON
		}
		info, ok := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), mediaType)
		if !ok {
			continue
		}
		as := params["as"]
		if as == "" {
			return negotiated{info: info}, true
		}
		if !allowTable || as != "Table" || params["g"] != metav1.GroupName || info.MediaType == runtime.ContentTypeProtobuf {
			continue
		}
		switch params["v"] {
		case "v1":
			return negotiated{info: info, table: metav1.SchemeGroupVersion}, true
		case "v1beta1":
			return negotiated{info: info, table: metav1beta1.SchemeGroupVersion}, true
		}
	}
	return negotiated{}, false
}

func notAcceptable(r *http.Request) error {
	return apierrors.NewGenericServerResponse(http.StatusNotAcceptable, "", schema.GroupResource{}, "",
		fmt.Sprintf("only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf (asked for %q)", r.Header.Get("Accept")), 0, false)
}

// writeResource answers a NodeMetrics or PodMetrics object or list, or
// the Table of it.
func writeResource(w http.ResponseWriter, r *http.Request, obj runtime.Object) {
	n, ok := negotiate(r, true)
	if !ok {
		writeError(w, r, notAcceptable(r))
		return
	}
	if n.table.Empty() {
		write(w, n.info, http.StatusOK, GroupVersion, obj)
		return
	}
	table, err := toTable(obj, metav1.IncludeObjectPolicy(r.URL.Query().Get("includeObject")))
	if err != nil {
		writeError(w, r, err)
		return
	}
	write(w, n.info, http.StatusOK, n.table, table)
}

// writePlain answers a discovery document.
func writePlain(w http.ResponseWriter, r *http.Request, obj runtime.Object) {
	n, ok := negotiate(r, false)
	if !ok {
		writeError(w, r, notAcceptable(r))
		return
	}
	write(w, n.info, http.StatusOK, schema.GroupVersion{Version: "v1"}, obj)
}

// writeError answers err as a metav1.Status, in the format the client
// accepts (JSON when in doubt). Errors that are not API errors are
// internal errors.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	var apiStatus apierrors.APIStatus
	if !errors.As(err, &apiStatus) {
		klog.FromContext(r.Context()).Error(err, "metrics request failed", "path", r.URL.Path)
		apiStatus = apierrors.NewInternalError(err)
	}
	status := apiStatus.Status()
	n, ok := negotiate(r, false)
	if !ok {
		n.info, _ = runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), runtime.ContentTypeJSON)
	}
	code := int(status.Code)
	if code == 0 {
		code = http.StatusInternalServerError
	}
	write(w, n.info, code, schema.GroupVersion{Version: "v1"}, &status)
}

// write encodes obj with apiVersion and kind of gv.
func write(w http.ResponseWriter, info runtime.SerializerInfo, code int, gv schema.GroupVersion, obj runtime.Object) {
	data, err := runtime.Encode(codecs.EncoderForVersion(info.Serializer, gv), obj)
	if err != nil {
		http.Error(w, "metrics: encoding the response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", info.MediaType)
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(code)
	_, _ = w.Write(data)
}

// tableColumns are metrics-server's: the name, the usage of each
// resource, and the window.
var tableColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name of the resource"},
	{Name: "cpu", Type: "string", Format: "quantity"},
	{Name: "memory", Type: "string", Format: "quantity"},
	{Name: "Window", Type: "string", Format: "duration"},
}

// tableItem is what one row shows.
type tableItem struct {
	obj    runtime.Object
	meta   metav1.ObjectMeta
	usage  corev1.ResourceList
	window metav1.Duration
}

// toTable renders NodeMetrics or PodMetrics (one or a list) as the rows
// kubectl get shows; a pod's usage is the sum of its containers'. The
// rows carry the object, its metadata (the default) or nothing, as
// includeObject says.
func toTable(obj runtime.Object, include metav1.IncludeObjectPolicy) (*metav1.Table, error) {
	var items []tableItem
	switch o := obj.(type) {
	case *metricsv1beta1.NodeMetrics:
		items = append(items, tableItem{o, o.ObjectMeta, o.Usage, o.Window})
	case *metricsv1beta1.NodeMetricsList:
		for i := range o.Items {
			n := &o.Items[i]
			items = append(items, tableItem{n, n.ObjectMeta, n.Usage, n.Window})
		}
	case *metricsv1beta1.PodMetrics:
		items = append(items, tableItem{o, o.ObjectMeta, podUsage(o), o.Window})
	case *metricsv1beta1.PodMetricsList:
		for i := range o.Items {
			p := &o.Items[i]
			items = append(items, tableItem{p, p.ObjectMeta, podUsage(p), p.Window})
		}
	default:
		return nil, apierrors.NewInternalError(fmt.Errorf("metrics: no table for %T", obj))
	}
	table := &metav1.Table{ColumnDefinitions: tableColumns, Rows: make([]metav1.TableRow, 0, len(items))}
	for _, it := range items {
		cpu, mem := it.usage[corev1.ResourceCPU], it.usage[corev1.ResourceMemory]
		row := metav1.TableRow{Cells: []interface{}{it.meta.Name, cpu.String(), mem.String(), it.window.Duration.String()}}
		switch include {
		case metav1.IncludeNone:
		case metav1.IncludeObject:
			raw, err := runtime.Encode(codecs.LegacyCodec(GroupVersion), it.obj)
			if err != nil {
				return nil, apierrors.NewInternalError(err)
			}
			row.Object.Raw = raw
		default:
			partial := &metav1.PartialObjectMetadata{ObjectMeta: it.meta}
			raw, err := runtime.Encode(codecs.LegacyCodec(metav1.SchemeGroupVersion), partial)
			if err != nil {
				return nil, apierrors.NewInternalError(err)
			}
			row.Object.Raw = raw
		}
		table.Rows = append(table.Rows, row)
	}
	return table, nil
}

// podUsage sums a pod's containers.
func podUsage(p *metricsv1beta1.PodMetrics) corev1.ResourceList {
	sum := corev1.ResourceList{}
	for _, c := range p.Containers {
		for name, q := range c.Usage {
			total := sum[name]
			total.Add(q)
			sum[name] = total
		}
	}
	return sum
}
