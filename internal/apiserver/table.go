package apiserver

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1beta1 "k8s.io/apimachinery/pkg/apis/meta/v1beta1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/navarch/navarch/internal/registry"
	"github.com/navarch/navarch/internal/storage"
)

// supportsTransform says which "as=" transformations object responses
// offer: Table and PartialObjectMetadata(List) in meta.k8s.io v1 and v1beta1.
func supportsTransform(as, group, version string) bool {
	if group != metav1.GroupName || (version != "v1" && version != "v1beta1") {
		return false
	}
	switch as {
	case "Table", "PartialObjectMetadata", "PartialObjectMetadataList":
		return true
	}
	return false
}

// respond writes an object (or list) of res, transformed when the client
// asked for a Table or for metadata only.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, res *resource, code int, obj runtime.Object) {
	n, ok := negotiate(r, supportsTransform)
	if !ok {
		writeError(w, r, notAcceptable(r))
		return
	}
	if n.as == "" {
		writeTyped(w, n.info, code, res.kind.GroupVersion, obj)
		return
	}
	gv := schema.GroupVersion{Group: metav1.GroupName, Version: "v1"}
	if n.gv == metav1.GroupName+"/v1beta1" {
		gv = metav1beta1.SchemeGroupVersion
	}
	out, err := transform(r, res, obj, n.as)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeTyped(w, n.info, code, gv, out)
}

// writeContext is the context for the storage write of a handler that
// answers with respond. When the answer is protobuf without
// transformation, the store may answer with the object it wrote instead
// of decoding the stored bytes (storage.WithWrittenResult): protobuf
// encodes both to the same bytes.
func writeContext(r *http.Request) context.Context {
	if n, ok := negotiate(r, supportsTransform); ok && n.as == "" && n.info.MediaType == runtime.ContentTypeProtobuf {
		return storage.WithWrittenResult(r.Context())
	}
	return r.Context()
}

// writeTyped encodes obj with apiVersion and kind of gv.
func writeTyped(w http.ResponseWriter, info runtime.SerializerInfo, code int, gv schema.GroupVersion, obj runtime.Object) {
	if _, isStatus := obj.(*metav1.Status); isStatus {
		gv = schema.GroupVersion{Version: "v1"}
	}
	buf := responseBuffers.Get().(*responseBuffer)
	defer buf.release()
	if err := encodeWith(codecFor(info, gv), obj, &buf.data, &buf.alloc); err != nil {
		http.Error(w, "apiserver: encoding response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", info.MediaType)
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(code)
	_, _ = w.Write(buf.data.Bytes())
}

// responseBuffer is where writeTyped encodes an answer: the bytes, and the
// allocator the protobuf serializer marshals into before it writes them.
// Both are reused (a ResponseWriter keeps nothing of what it is given), so
// that the answer to a create or an update allocates nothing of its own.
type responseBuffer struct {
	data  bytes.Buffer
	alloc runtime.Allocator
}

var responseBuffers = sync.Pool{New: func() any { return new(responseBuffer) }}

// maxPooledResponse bounds the buffers kept for reuse: one that grew for a
// large answer (a list) is left to the garbage collector.
const maxPooledResponse = 64 << 10

func (b *responseBuffer) release() {
	if b.data.Cap() > maxPooledResponse || cap(b.alloc.Allocate(0)) > maxPooledResponse {
		return
	}
	b.data.Reset()
	responseBuffers.Put(b)
}

// transform converts obj into what the Accept header asked for.
func transform(r *http.Request, res *resource, obj runtime.Object, as string) (runtime.Object, error) {
	isList := meta.IsListType(obj)
	switch as {
	case "Table":
		var opts metav1.TableOptions
		if err := decodeQuery(r, &opts); err != nil {
			return nil, err
		}
		return toTable(res, obj, opts)
	case "PartialObjectMetadata":
		if isList {
			return nil, apierrors.NewBadRequest("the response is a list: ask for PartialObjectMetadataList")
		}
		return partialMetadata(res, obj)
	case "PartialObjectMetadataList":
		if !isList {
			return nil, apierrors.NewBadRequest("the response is a single object: ask for PartialObjectMetadata")
		}
		items, err := meta.ExtractList(obj)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		out := &metav1.PartialObjectMetadataList{}
		if la, err := meta.ListAccessor(obj); err == nil {
			out.ResourceVersion = la.GetResourceVersion()
			out.Continue = la.GetContinue()
			out.RemainingItemCount = la.GetRemainingItemCount()
		}
		out.Items = make([]metav1.PartialObjectMetadata, 0, len(items))
		for _, item := range items {
			p, err := partialMetadata(res, item)
			if err != nil {
				return nil, err
			}
			out.Items = append(out.Items, *p)
		}
		return out, nil
	}
	return nil, apierrors.NewBadRequest(fmt.Sprintf("unsupported transformation %q", as))
}

func partialMetadata(res *resource, obj runtime.Object) (*metav1.PartialObjectMetadata, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	p := &metav1.PartialObjectMetadata{}
	p.APIVersion = res.kind.GroupVersion.String()
	p.Kind = res.kind.Kind
	p.ObjectMeta = *metaOf(m)
	return p, nil
}

// metaOf copies an object's metadata out of its accessor.
func metaOf(m metav1.Object) *metav1.ObjectMeta {
	if om, ok := m.(*metav1.ObjectMeta); ok {
		return om.DeepCopy()
	}
	return &metav1.ObjectMeta{
		Name: m.GetName(), GenerateName: m.GetGenerateName(), Namespace: m.GetNamespace(),
		UID: m.GetUID(), ResourceVersion: m.GetResourceVersion(), Generation: m.GetGeneration(),
		CreationTimestamp: m.GetCreationTimestamp(), DeletionTimestamp: m.GetDeletionTimestamp(),
		DeletionGracePeriodSeconds: m.GetDeletionGracePeriodSeconds(), Labels: m.GetLabels(),
		Annotations: m.GetAnnotations(), OwnerReferences: m.GetOwnerReferences(),
		Finalizers: m.GetFinalizers(), ManagedFields: m.GetManagedFields(),
	}
}

// toTable renders obj (one object or a list) as the rows kubectl get shows.
func toTable(res *resource, obj runtime.Object, opts metav1.TableOptions) (*metav1.Table, error) {
	tbl := res.kind.Table
	if tbl == nil {
		tbl = registry.DefaultTable
	}
	table := &metav1.Table{}
	if !opts.NoHeaders {
		table.ColumnDefinitions = tbl.Columns
	}
	var items []runtime.Object
	if meta.IsListType(obj) {
		var err error
		if items, err = meta.ExtractList(obj); err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		if la, err := meta.ListAccessor(obj); err == nil {
			table.ResourceVersion = la.GetResourceVersion()
			table.Continue = la.GetContinue()
			table.RemainingItemCount = la.GetRemainingItemCount()
		}
	} else {
		items = []runtime.Object{obj}
		if m, err := meta.Accessor(obj); err == nil {
			table.ResourceVersion = m.GetResourceVersion()
		}
	}
	table.Rows = make([]metav1.TableRow, 0, len(items))
	for _, item := range items {
		row := metav1.TableRow{Cells: tbl.Row(item)}
		switch opts.IncludeObject {
		case metav1.IncludeNone:
		case metav1.IncludeObject:
			raw, err := encodeJSON(item, res.kind.GroupVersion)
			if err != nil {
				return nil, apierrors.NewInternalError(err)
			}
			row.Object.Raw = raw
		default: // Metadata
			p, err := partialMetadata(res, item)
			if err != nil {
				return nil, err
			}
			raw, err := encodeJSON(p, metav1.SchemeGroupVersion)
			if err != nil {
				return nil, apierrors.NewInternalError(err)
			}
			row.Object.Raw = raw
		}
		table.Rows = append(table.Rows, row)
	}
	return table, nil
}
