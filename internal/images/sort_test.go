package images

import (
	"sort"

	"github.com/google/go-cmp/cmp"
)

// cmpSorted compares string slices ignoring order.
func cmpSorted() cmp.Option {
	return cmp.Transformer("sorted", func(in []string) []string {
		out := append([]string(nil), in...)
		sort.Strings(out)
		return out
	})
}
