package apiserver

import (
	"fmt"
	"reflect"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/navarch/navarch/internal/registry"
	"github.com/navarch/navarch/internal/storage"
)

// resource is a served kind together with where its objects are stored.
type resource struct {
	kind *registry.Kind
	gr   schema.GroupResource
	// prefix is the storage key prefix, ending in "/".
	prefix string
	// fields are the field selector labels the kind supports.
	fields sets.Set[string]
	// hasSpec: the type has a Spec field, so metadata.generation tracks it.
	hasSpec bool
	// store holds the kind's objects: the server's storage, or a watch
	// cache in front of it.
	store storage.Interface
}

func newResource(k *registry.Kind) (*resource, error) {
	if k.Strategy == nil || k.New == nil || k.NewList == nil {
		return nil, fmt.Errorf("apiserver: kind %s is missing a strategy or constructors", k.GroupVersionKind())
	}
	res := &resource{
		kind: k,
		gr:   k.GroupVersionResource().GroupResource(),
	}
	storedGroup, storedResource := k.GroupVersion.Group, k.Resource
	if k.StoredAs != nil {
		storedGroup, storedResource = k.StoredAs.GroupVersion.Group, k.StoredAs.Resource
	}
	if storedGroup == "" {
		res.prefix = "/registry/" + storedResource + "/"
	} else {
		res.prefix = "/registry/" + storedGroup + "/" + storedResource + "/"
	}
	res.fields = sets.New("metadata.name", "metadata.namespace")
	if k.Fields != nil {
		for f := range k.Fields(k.New()) {
			res.fields.Insert(f)
		}
	}
	if v := reflect.ValueOf(k.New()); v.Kind() == reflect.Pointer && v.Elem().Kind() == reflect.Struct {
		_, res.hasSpec = v.Elem().Type().FieldByName("Spec")
	}
	return res, nil
}

// key returns the storage key of one object.
func (r *resource) key(namespace, name string) string {
	if r.kind.Namespaced {
		return r.prefix + namespace + "/" + name
	}
	return r.prefix + name
}

// listPrefix returns the key prefix of the objects in namespace ("" for
// all namespaces).
func (r *resource) listPrefix(namespace string) string {
	if r.kind.Namespaced && namespace != "" {
		return r.prefix + namespace + "/"
	}
	return r.prefix
}

// newStored and newStoredList allocate objects of the stored type.
func (r *resource) newStored() runtime.Object {
	if r.kind.StoredAs != nil {
		return r.kind.StoredAs.New()
	}
	return r.kind.New()
}

func (r *resource) newStoredList() runtime.Object {
	if r.kind.StoredAs != nil {
		return r.kind.StoredAs.NewList()
	}
	return r.kind.NewList()
}

// toStored converts a served object into its stored form.
func (r *resource) toStored(obj runtime.Object) (runtime.Object, error) {
	if r.kind.StoredAs == nil {
		return obj, nil
	}
	return r.kind.StoredAs.ToStored(obj)
}

// toServed converts a stored object into its served form.
func (r *resource) toServed(obj runtime.Object) (runtime.Object, error) {
	if r.kind.StoredAs == nil {
		return obj, nil
	}
	return r.kind.StoredAs.FromStored(obj)
}

// toServedList converts a stored list into the served list type.
func (r *resource) toServedList(list runtime.Object) (runtime.Object, error) {
	if r.kind.StoredAs == nil {
		return list, nil
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	out := r.kind.NewList()
	served := make([]runtime.Object, 0, len(items))
	for _, item := range items {
		s, err := r.kind.StoredAs.FromStored(item)
		if err != nil {
			return nil, err
		}
		served = append(served, s)
	}
	if err := meta.SetList(out, served); err != nil {
		return nil, err
	}
	src, err := meta.ListAccessor(list)
	if err != nil {
		return nil, err
	}
	dst, err := meta.ListAccessor(out)
	if err != nil {
		return nil, err
	}
	dst.SetResourceVersion(src.GetResourceVersion())
	dst.SetContinue(src.GetContinue())
	dst.SetRemainingItemCount(src.GetRemainingItemCount())
	return out, nil
}

// toServedWatch converts the objects of a stored watch stream.
func (r *resource) toServedWatch(w watch.Interface) watch.Interface {
	if r.kind.StoredAs == nil {
		return w
	}
	return watch.Filter(w, func(ev watch.Event) (watch.Event, bool) {
		if ev.Type == watch.Error {
			return ev, true
		}
		if ev.Type == watch.Bookmark {
			m, err := meta.Accessor(ev.Object)
			if err == nil {
				b := r.kind.New()
				if bm, err := meta.Accessor(b); err == nil {
					bm.SetResourceVersion(m.GetResourceVersion())
					bm.SetAnnotations(m.GetAnnotations())
					return watch.Event{Type: ev.Type, Object: b}, true
				}
			}
			return ev, true
		}
		s, err := r.kind.StoredAs.FromStored(storage.SharedObject(ev.Object))
		if err != nil {
			return ev, false
		}
		return watch.Event{Type: ev.Type, Object: s}, true
	})
}

// attrs returns the labels and selectable fields of a stored object, for
// storage predicates.
func (r *resource) attrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, nil, err
	}
	var fs fields.Set
	if r.kind.Fields != nil {
		served := obj
		if r.kind.StoredAs != nil {
			if served, err = r.kind.StoredAs.FromStored(obj); err != nil {
				return nil, nil, err
			}
		}
		// A new set of the kind's fields: the common ones join it.
		fs = r.kind.Fields(served)
	}
	if fs == nil {
		fs = make(fields.Set, 2)
	}
	fs["metadata.name"] = m.GetName()
	if r.kind.Namespaced {
		fs["metadata.namespace"] = m.GetNamespace()
	}
	return labels.Set(m.GetLabels()), fs, nil
}
