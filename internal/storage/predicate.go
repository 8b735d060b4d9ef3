package storage

import (
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// AttrFunc returns the labels and the selectable fields of an object.
type AttrFunc func(obj runtime.Object) (labels.Set, fields.Set, error)

// Predicate selects objects by label and field, and pages lists.
// The zero value matches everything and does not page.
type Predicate struct {
	Label labels.Selector // nil matches everything
	Field fields.Selector // nil matches everything
	// GetAttrs extracts what Label and Field look at; required when either
	// selector is set and not empty.
	GetAttrs AttrFunc

	// Limit caps the number of items a List returns (0: no cap). When more
	// matching items exist, the list's continue token resumes after the last
	// returned one, at the same revision.
	Limit int64
	// Continue is a token from a previous list; the list then resumes at its
	// key and revision (ResourceVersion must be empty).
	Continue string
}

// Empty reports whether p matches every object.
func (p Predicate) Empty() bool {
	return (p.Label == nil || p.Label.Empty()) && (p.Field == nil || p.Field.Empty())
}

// Matches reports whether obj satisfies both selectors.
func (p Predicate) Matches(obj runtime.Object) (bool, error) {
	if p.Empty() {
		return true, nil
	}
	ls, fs, err := p.GetAttrs(obj)
	if err != nil {
		return false, err
	}
	if p.Label != nil && !p.Label.Matches(ls) {
		return false, nil
	}
	if p.Field != nil && !p.Field.Matches(fs) {
		return false, nil
	}
	return true, nil
}
