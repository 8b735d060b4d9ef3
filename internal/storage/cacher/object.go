package cacher

import (
	"bytes"
	"io"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/navarch/navarch/internal/storage"
)

// cachingObject wraps an object the cache shares between watchers. The
// object is never modified; each encoder (runtime.Identifier) encodes a
// private copy of it once, and every later encoding with that encoder
// writes the saved bytes.
type cachingObject struct {
	obj runtime.Object

	mu        sync.Mutex
	encodings map[runtime.Identifier]*encoding
}

type encoding struct {
	once sync.Once
	data []byte
	err  error
}

var (
	_ runtime.CacheableObject = (*cachingObject)(nil)
	_ runtime.Object          = (*cachingObject)(nil)
)

// scratch holds the buffers objects are encoded into before the encoding
// is copied out at its size; buffers that grew beyond maxScratch (a large
// object) are left to the garbage collector.
var scratch = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxScratch = 64 << 10

func newCachingObject(obj runtime.Object) *cachingObject {
	return &cachingObject{obj: obj}
}

// CacheEncode implements runtime.CacheableObject.
func (o *cachingObject) CacheEncode(id runtime.Identifier, encode func(runtime.Object, io.Writer) error, w io.Writer) error {
	o.mu.Lock()
	if o.encodings == nil {
		o.encodings = make(map[runtime.Identifier]*encoding, 1)
	}
	e := o.encodings[id]
	if e == nil {
		e = &encoding{}
		o.encodings[id] = e
	}
	o.mu.Unlock()
	e.once.Do(func() {
		// Encoders set the kind on what they encode (and convert a deep
		// copy of it): give them a struct of their own.
		buf := scratch.Get().(*bytes.Buffer)
		buf.Reset()
		obj, release := storage.ShallowCopy(o.obj)
		e.err = encode(obj, buf)
		release()
		// Kept as long as the change is: no room to spare.
		e.data = bytes.Clone(buf.Bytes())
		if buf.Cap() <= maxScratch {
			scratch.Put(buf)
		}
	})
	if e.err != nil {
		return e.err
	}
	_, err := w.Write(e.data)
	return err
}

// SharedObject returns the wrapped object itself, for readers that do not
// modify it (storage.SharedObject).
func (o *cachingObject) SharedObject() runtime.Object { return o.obj }

// GetObject implements runtime.CacheableObject: a copy the caller owns.
func (o *cachingObject) GetObject() runtime.Object { return o.obj.DeepCopyObject() }

// DeepCopyObject implements runtime.Object: a copy of the wrapped object
// (not of the wrapper).
func (o *cachingObject) DeepCopyObject() runtime.Object { return o.obj.DeepCopyObject() }

// GetObjectKind implements runtime.Object. The kind is read-only: setting
// it would change the object every watcher shares.
func (o *cachingObject) GetObjectKind() schema.ObjectKind {
	return readOnlyKind{o.obj.GetObjectKind().GroupVersionKind()}
}

// readOnlyKind is a kind that ignores being set.
type readOnlyKind struct{ gvk schema.GroupVersionKind }

func (k readOnlyKind) SetGroupVersionKind(schema.GroupVersionKind) {}
func (k readOnlyKind) GroupVersionKind() schema.GroupVersionKind   { return k.gvk }
