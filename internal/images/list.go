package images

import (
	"context"
	"sort"

	"github.com/navarch/navarch/internal/agent/cri"
)

// Image is one image in the runtime's store.
type Image struct {
	// Tags are its names ("localhost/web:1"); empty for an untagged image.
	Tags []string
	// ID is the image id ("sha256:...").
	ID string
	// Size is the unpacked size in bytes, as the runtime reports it.
	Size uint64
}

// List returns the runtime's images, sorted by first tag then id.
func List(ctx context.Context, runtime cri.ImageManager) ([]Image, error) {
	items, err := runtime.ListImages(ctx, nil)
	if err != nil {
		return nil, err
	}
	out := make([]Image, 0, len(items))
	for _, img := range items {
		out = append(out, Image{Tags: img.RepoTags, ID: img.Id, Size: img.Size})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := firstTag(out[i]), firstTag(out[j])
		if a != b {
			return a < b
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

func firstTag(img Image) string {
	if len(img.Tags) == 0 {
		return "\xff" // untagged images last
	}
	return img.Tags[0]
}
