package images

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// BuildSpec describes a no-base image made of one static binary.
type BuildSpec struct {
	// Binary is the host path of the static executable to package.
	Binary string
	// Tag names the image ("localhost/web:1"; "web:1" means
	// docker.io/library/web:1, as for any image reference).
	Tag string
	// Path is where the binary lives in the image; default "/" plus the
	// binary's base name.
	Path string
	// Entrypoint is the image's entrypoint; default [Path].
	Entrypoint []string
	// Env is the image's environment; default ["PATH=/"].
	Env []string
	// ExposedPorts lists ports the image declares ("8080/tcp").
	ExposedPorts []string
}

func (s BuildSpec) withDefaults() (BuildSpec, error) {
	if s.Binary == "" {
		return s, fmt.Errorf("images: no binary to build from")
	}
	if s.Tag == "" {
		return s, fmt.Errorf("images: no tag")
	}
	if s.Path == "" {
		s.Path = "/" + path.Base(s.Binary)
	}
	if !path.IsAbs(s.Path) {
		return s, fmt.Errorf("images: path %q in the image is not absolute", s.Path)
	}
	if len(s.Entrypoint) == 0 {
		s.Entrypoint = []string{s.Path}
	}
	if s.Env == nil {
		s.Env = []string{"PATH=/"}
	}
	return s, nil
}

// NormalizeTag returns the full form of an image reference as containerd
// stores it ("web:1" -> "docker.io/library/web:1"; "localhost/web" ->
// "localhost/web:latest").
func NormalizeTag(ref string) (string, error) {
	tag, err := name.NewTag(ref)
	if err != nil {
		return "", fmt.Errorf("images: tag %q: %w", ref, err)
	}
	registry := tag.RegistryStr()
	if registry == name.DefaultRegistry {
		registry = "docker.io"
	}
	return registry + "/" + tag.RepositoryStr() + ":" + tag.TagStr(), nil
}

// WriteArchive builds spec's image and writes it to out as a
// docker-archive tar (what `docker save` writes: manifest.json, the
// image config and one gzip-compressed layer). The image is
// reproducible: the same binary and spec give the same digest.
func WriteArchive(spec BuildSpec, out io.Writer) error {
	spec, err := spec.withDefaults()
	if err != nil {
		return err
	}
	ref, err := NormalizeTag(spec.Tag)
	if err != nil {
		return err
	}
	layer, err := writeLayer(spec)
	if err != nil {
		return err
	}
	defer os.Remove(layer.path)
	cf := v1.ConfigFile{
		// Without os/architecture containerd's import filters the image
		// out as belonging to no platform.
		OS:           "linux",
		Architecture: runtime.GOARCH,
		Config:       v1.Config{Entrypoint: spec.Entrypoint, Env: spec.Env},
		RootFS:       v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{layer.diffID}},
		History:      []v1.History{{CreatedBy: "navarch images build", Comment: path.Base(spec.Binary)}},
	}
	if len(spec.ExposedPorts) > 0 {
		cf.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range spec.ExposedPorts {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			cf.Config.ExposedPorts[p] = struct{}{}
		}
	}
	config, err := json.Marshal(cf)
	if err != nil {
		return fmt.Errorf("images: image config: %w", err)
	}
	configDigest := sha256.Sum256(config)
	configName := hex.EncodeToString(configDigest[:]) + ".json"
	layerName := layer.digest.Hex + ".tar.gz"
	manifest, err := json.Marshal([]dockerManifest{{Config: configName, RepoTags: []string{ref}, Layers: []string{layerName}}})
	if err != nil {
		return fmt.Errorf("images: manifest: %w", err)
	}
	tw := tar.NewWriter(out)
	for _, f := range []struct {
		name string
		data []byte
	}{{"manifest.json", manifest}, {configName, config}} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Format: tar.FormatPAX}); err != nil {
			return fmt.Errorf("images: writing archive: %w", err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return fmt.Errorf("images: writing archive: %w", err)
		}
	}
	lf, err := os.Open(layer.path)
	if err != nil {
		return fmt.Errorf("images: %w", err)
	}
	defer lf.Close()
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: layerName, Mode: 0o644, Size: layer.size, Format: tar.FormatPAX}); err != nil {
		return fmt.Errorf("images: writing archive: %w", err)
	}
	if _, err := io.Copy(tw, lf); err != nil {
		return fmt.Errorf("images: writing archive: %w", err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("images: writing archive: %w", err)
	}
	return nil
}

// dockerManifest is one entry of a docker-archive's manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// builtLayer is the image's one layer, written to a temp file.
type builtLayer struct {
	path string
	size int64
	// digest is the sha256 of the compressed layer, diffID of the
	// uncompressed tar.
	digest, diffID v1.Hash
}

// writeLayer writes the image's one layer (the binary, its parent
// directories and /tmp), gzip-compressed in one pass, to a temp file,
// hashing it compressed and uncompressed as it goes.
func writeLayer(spec BuildSpec) (builtLayer, error) {
	bin, err := os.Open(spec.Binary)
	if err != nil {
		return builtLayer{}, fmt.Errorf("images: %w", err)
	}
	defer bin.Close()
	info, err := bin.Stat()
	if err != nil {
		return builtLayer{}, fmt.Errorf("images: %w", err)
	}
	if !info.Mode().IsRegular() {
		return builtLayer{}, fmt.Errorf("images: %s is not a regular file", spec.Binary)
	}
	f, err := os.CreateTemp("", "navarch-layer-*.tar.gz")
	if err != nil {
		return builtLayer{}, fmt.Errorf("images: %w", err)
	}
	fail := func(err error) (builtLayer, error) {
		f.Close()
		os.Remove(f.Name())
		return builtLayer{}, fmt.Errorf("images: writing layer: %w", err)
	}
	compressedHash, uncompressedHash := sha256.New(), sha256.New()
	counter := &countingWriter{w: io.MultiWriter(f, compressedHash)}
	zw, err := gzip.NewWriterLevel(counter, gzip.BestSpeed)
	if err != nil {
		return fail(err)
	}
	tw := tar.NewWriter(io.MultiWriter(zw, uncompressedHash))
	inImage := strings.TrimPrefix(spec.Path, "/")
	// Parent directories first, then /tmp (programs expect a writable
	// one), then the binary.
	var dirs []string
	for d := path.Dir(inImage); d != "." && d != "/"; d = path.Dir(d) {
		dirs = append([]string{d}, dirs...)
	}
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, Format: tar.FormatPAX}); err != nil {
			return fail(err)
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777, Format: tar.FormatPAX}); err != nil {
		return fail(err)
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: inImage, Mode: 0o755, Size: info.Size(), Format: tar.FormatPAX}); err != nil {
		return fail(err)
	}
	if _, err := io.Copy(tw, bin); err != nil {
		return fail(err)
	}
	if err := tw.Close(); err != nil {
		return fail(err)
	}
	if err := zw.Close(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	return builtLayer{
		path:   f.Name(),
		size:   counter.n,
		digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(compressedHash.Sum(nil))},
		diffID: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(uncompressedHash.Sum(nil))},
	}, nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Build builds spec's image and imports it with importer (normally
// CtrImporter(endpoint)). It returns the image's normalized name.
func Build(ctx context.Context, importer Importer, spec BuildSpec) (string, error) {
	ref, err := NormalizeTag(spec.Tag)
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp("", "navarch-image-*.tar")
	if err != nil {
		return "", fmt.Errorf("images: %w", err)
	}
	defer os.Remove(f.Name())
	if err := WriteArchive(spec, f); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("images: %w", err)
	}
	if _, err := importer(ctx, f.Name()); err != nil {
		return "", err
	}
	return ref, nil
}

// WriteArchiveFile is WriteArchive into a new file at path.
func WriteArchiveFile(spec BuildSpec, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("images: %w", err)
	}
	if err := WriteArchive(spec, f); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("images: %w", err)
	}
	return nil
}
