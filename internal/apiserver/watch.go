package apiserver

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/navarch/navarch/internal/storage"
)

// minWatchTimeout is the shortest server-side watch duration when the
// client sets none; upstream picks a random duration in [30m, 60m) so
// that watches do not all restart at once.
const minWatchTimeout = 30 * time.Minute

// watch answers a watch request with a stream of events, one frame each,
// flushed as they happen.
func (s *Server) watch(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	opts, sopts, err := s.listOptions(r, res)
	if err != nil {
		writeError(w, r, err)
		return
	}
	n, ok := negotiate(r, func(as, g, v string) bool {
		return (as == "Table" || as == "PartialObjectMetadata") && supportsTransform(as, g, v)
	})
	if !ok || n.info.StreamSerializer == nil {
		writeError(w, r, notAcceptable(r))
		return
	}
	var tableOpts metav1.TableOptions
	if n.as == "Table" {
		if err := decodeQuery(r, &tableOpts); err != nil {
			writeError(w, r, err)
			return
		}
	}
	timeout := minWatchTimeout + time.Duration(rand.Int64N(int64(minWatchTimeout)))
	if opts.TimeoutSeconds != nil {
		timeout = time.Duration(*opts.TimeoutSeconds) * time.Second
	}
	ctx := r.Context()
	stored, err := res.store.Watch(ctx, res.listPrefix(info.Namespace), sopts)
	if err != nil {
		writeError(w, r, storageError(err, res.gr, ""))
		return
	}
	events := res.toServedWatch(stored)
	defer events.Stop()

	flusher, _ := w.(http.Flusher)
	mediaType := n.info.MediaType
	if mediaType != runtime.ContentTypeJSON {
		mediaType += ";stream=watch"
	}
	w.Header().Set("Content-Type", mediaType)
	w.Header().Set("Transfer-Encoding", "chunked")
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}

	frames := n.info.StreamSerializer.Framer.NewFrameWriter(w)
	streamEncoder := n.info.StreamSerializer.Serializer
	objectGV := res.kind.GroupVersion
	if n.as != "" {
		objectGV = schema.GroupVersion{Group: metav1.GroupName, Version: "v1"}
		if n.gv == metav1.GroupName+"/v1beta1" {
			objectGV = schema.GroupVersion{Group: metav1.GroupName, Version: "v1beta1"}
		}
	}
	objectEncoder := codecFor(n.info, objectGV)
	statusEncoder := codecFor(n.info, schema.GroupVersion{Version: "v1"})

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var buf bytes.Buffer
	// One scratch buffer for the encoders of this stream, reused from
	// event to event: the frame writer copies what it is given.
	alloc := &runtime.Allocator{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			return
		case ev, ok := <-events.ResultChan():
			if !ok {
				return
			}
			obj := ev.Object
			enc := objectEncoder
			switch {
			case ev.Type == watch.Error:
				enc = statusEncoder
				if _, isStatus := obj.(*metav1.Status); !isStatus {
					st := apierrors.NewInternalError(nil).Status()
					obj = &st
				}
			case n.as == "Table" && ev.Type != watch.Bookmark:
				table, err := toTable(res, storage.SharedObject(obj), tableOpts)
				if err != nil {
					return
				}
				obj = table
			case n.as == "PartialObjectMetadata":
				// Metadata-only watches (the garbage collector's) get every
				// object, bookmarks included, as PartialObjectMetadata.
				p, err := partialMetadata(res, storage.SharedObject(obj))
				if err != nil {
					return
				}
				obj = p
			case n.as == "Table" && ev.Type == watch.Bookmark:
				// A bookmark in a Table stream is an empty table carrying
				// the resourceVersion.
				table := &metav1.Table{}
				if m, ok := obj.(metav1.Object); ok {
					table.ResourceVersion = m.GetResourceVersion()
				}
				obj = table
			}
			// Objects from a watch cache are runtime.CacheableObjects:
			// the encoder encodes each once for all its watchers.
			buf.Reset()
			if err := encodeWith(enc, obj, &buf, alloc); err != nil {
				return
			}
			raw := buf.Bytes()
			if n.info.MediaType == runtime.ContentTypeJSON {
				raw = bytes.TrimRight(raw, "\n")
			}
			event := &metav1.WatchEvent{Type: string(ev.Type), Object: runtime.RawExtension{Raw: raw}}
			if err := encodeWith(streamEncoder, event, frames, alloc); err != nil {
				return
			}
			if flusher != nil && len(events.ResultChan()) == 0 {
				flusher.Flush()
			}
		}
	}
}

// encodeWith encodes obj to w with the scratch memory of alloc when enc
// can use it (runtime.EncoderWithAllocator), else as enc.Encode does.
func encodeWith(enc runtime.Encoder, obj runtime.Object, w io.Writer, alloc runtime.MemoryAllocator) error {
	if ea, ok := enc.(runtime.EncoderWithAllocator); ok {
		return ea.EncodeWithAllocator(obj, w, alloc)
	}
	return enc.Encode(obj, w)
}
