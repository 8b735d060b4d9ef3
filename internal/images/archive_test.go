package images

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// configFile reads the image config and repo tags of the single image in
// a docker-archive, as containerd's importer does.
func configFile(archive string) (*v1.ConfigFile, error) {
	f, err := os.Open(archive)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		files[h.Name] = data
	}
	var manifest []dockerManifest
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	if len(manifest) != 1 || len(manifest[0].Layers) != 1 {
		return nil, fmt.Errorf("manifest = %+v, want one image with one layer", manifest)
	}
	if _, ok := files[manifest[0].Layers[0]]; !ok {
		return nil, fmt.Errorf("layer %s missing from the archive", manifest[0].Layers[0])
	}
	var cf v1.ConfigFile
	if err := json.Unmarshal(files[manifest[0].Config], &cf); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return &cf, nil
}
