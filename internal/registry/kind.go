package registry

import (
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Kind describes one served resource.
type Kind struct {
	GroupVersion schema.GroupVersion
	Resource     string // plural, lower case: "pods"
	Singular     string // "pod"
	Kind         string // "Pod"
	ShortNames   []string
	Categories   []string // e.g. "all" for kubectl get all
	Namespaced   bool

	New     func() runtime.Object // a new *T
	NewList func() runtime.Object // a new *TList

	// Strategy is required.
	Strategy Strategy
	// Status is nil when the kind has no status subresource.
	Status StatusStrategy
	// Scale is nil when the kind has no scale subresource.
	Scale *Scale
	// Subresources are the kind's other writable views of its objects, by
	// subresource name (pods/ephemeralcontainers). They read as the whole
	// object, as status does.
	Subresources map[string]SubresourceStrategy
	// Table renders kubectl get rows; nil gives NAME and AGE.
	Table *Table
	// Fields returns the selectable fields of an object beyond
	// metadata.name and metadata.namespace, which every kind has. Called
	// with an empty object it must return every supported field name (the
	// API server rejects a selector on any other field). Each call returns
	// a new set, which the caller may add to. Nil: none.
	Fields func(obj runtime.Object) fields.Set
	// StoredAs is set when the kind's objects live as another kind.
	StoredAs *StoredAs
}

// GroupVersionResource returns the kind's resource coordinates.
func (k *Kind) GroupVersionResource() schema.GroupVersionResource {
	return k.GroupVersion.WithResource(k.Resource)
}

// GroupVersionKind returns the kind's type coordinates.
func (k *Kind) GroupVersionKind() schema.GroupVersionKind {
	return k.GroupVersion.WithKind(k.Kind)
}

// Strategy holds the kind-specific rules of create and update. The API
// server calls, on create: Default, PrepareForCreate, Validate; on update
// (including patch): Default, PrepareForUpdate, ValidateUpdate. Generic
// rules (names, namespaces, uid, timestamps, generation, resourceVersion,
// metadata validation) are the API server's; a strategy only adds to them.
// Methods must not keep references to their arguments.
type Strategy interface {
	// Default fills unset fields with the values upstream's defaulters give
	// (restartPolicy, imagePullPolicy, protocol TCP, replicas 1, ...).
	Default(obj runtime.Object)
	// PrepareForCreate clears what a client may not set on create: for kinds
	// with a status subresource, the status.
	PrepareForCreate(obj runtime.Object)
	// PrepareForUpdate copies from old what an update of the main resource
	// may not change: for kinds with a status subresource, the status.
	PrepareForUpdate(obj, old runtime.Object)
	// Validate checks a new object (ObjectMeta included, see
	// ValidateObjectMeta) and returns every problem with its field path.
	Validate(obj runtime.Object) field.ErrorList
	// ValidateUpdate checks an update against the stored object, including
	// immutable fields.
	ValidateUpdate(obj, old runtime.Object) field.ErrorList
}

// StatusStrategy holds the rules of the status subresource. The API server
// keeps metadata (except resourceVersion) from old on a status update; the
// strategy keeps everything else but status.
type StatusStrategy interface {
	// PrepareForStatusUpdate copies from old everything a status update may
	// not change (the spec).
	PrepareForStatusUpdate(obj, old runtime.Object)
	// ValidateStatusUpdate checks the new status.
	ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList
}

// SubresourceStrategy holds the rules of a subresource that writes one
// part of an object (pods/ephemeralcontainers). The API server keeps the
// metadata it owns (uid, creation time, generation, ...) from old and
// raises the generation when the spec changed; the strategy keeps from
// old everything else the subresource does not own, labels and
// annotations included.
type SubresourceStrategy interface {
	// PrepareForSubresourceUpdate copies from old everything the
	// subresource may not change.
	PrepareForSubresourceUpdate(obj, old runtime.Object)
	// ValidateSubresourceUpdate checks the new object against old.
	ValidateSubresourceUpdate(obj, old runtime.Object) field.ErrorList
}

// Scale reads and writes what autoscaling/v1 Scale shows of an object.
type Scale struct {
	// Get returns spec.replicas, status.replicas and the label selector in
	// its string form (status.selector of Scale).
	Get func(obj runtime.Object) (specReplicas, statusReplicas int32, selector string)
	// SetReplicas sets spec.replicas.
	SetReplicas func(obj runtime.Object, replicas int32)
}

// Table describes the columns of kubectl get for a kind, as upstream's
// printers define them. Columns with Priority 1 show only with -o wide.
type Table struct {
	Columns []metav1.TableColumnDefinition
	// Row returns one cell per column, in order. Cells are strings, int64,
	// int32, bool or float64, as JSON encodes them. The first column is
	// the name.
	Row func(obj runtime.Object) []interface{}
}

// StoredAs makes a kind a view of another kind's stored objects, as
// events.k8s.io/v1 Event is a view of core/v1 Event: both versions read
// and write the same keys.
type StoredAs struct {
	// Resource and GroupVersion name the stored kind; its keys are used.
	GroupVersion schema.GroupVersion
	Resource     string
	New          func() runtime.Object
	NewList      func() runtime.Object
	// ToStored converts a served object into the stored kind; FromStored
	// converts back. Both must keep metadata intact.
	ToStored   func(obj runtime.Object) (runtime.Object, error)
	FromStored func(obj runtime.Object) (runtime.Object, error)
}
