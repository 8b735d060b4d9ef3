package storage

import (
	"reflect"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
)

// ShallowCopy returns a copy of the top-level struct of obj, a pointer to
// a typed object (its TypeMeta and ObjectMeta values with it), sharing
// everything that struct points to; other objects are deep-copied. The
// copy is for a moment's read-only use, such as an encoding: release
// gives it back, and neither it nor anything it shares may be used or
// kept after that. The structs are recycled per type because the stores
// make such a copy for every write and every watch event encoded, and a
// Pod's struct is over a kilobyte.
func ShallowCopy(obj runtime.Object) (copied runtime.Object, release func()) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return obj.DeepCopyObject(), func() {}
	}
	pool := scratchPool(v.Elem().Type())
	c := pool.Get()
	shallow := reflect.ValueOf(c).Elem()
	shallow.Set(v.Elem())
	return c.(runtime.Object), func() {
		// Zeroed, so that the pool holds on to nothing the copy shared.
		shallow.SetZero()
		pool.Put(c)
	}
}

// scratchCopies holds a *sync.Pool of pointers to zeroed structs per
// struct type, for ShallowCopy.
var scratchCopies sync.Map

func scratchPool(t reflect.Type) *sync.Pool {
	if p, ok := scratchCopies.Load(t); ok {
		return p.(*sync.Pool)
	}
	p, _ := scratchCopies.LoadOrStore(t, &sync.Pool{New: func() any { return reflect.New(t).Interface() }})
	return p.(*sync.Pool)
}
