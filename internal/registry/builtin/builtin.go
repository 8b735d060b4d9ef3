// Package builtin lists every kind Navarch serves, in one place: the API
// server, discovery and OpenAPI are all built from Kinds().
package builtin

import "github.com/navarch/navarch/internal/registry"

// Kinds returns a fresh list of the served kinds: core/v1 first, then the
// other groups.
func Kinds() []*registry.Kind {
	return append(coreKinds(), moreKinds()...)
}
