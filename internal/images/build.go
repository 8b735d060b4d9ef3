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
	"strconv"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// BuildSpec describes a one-layer image: either one static binary with
// no base (Binary), or a whole root filesystem tree (Rootfs). The image
// config fields carry the names of the OCI image config they fill.
type BuildSpec struct {
	// Binary is the host path of the static executable to package.
	// Exactly one of Binary and Rootfs is set.
	Binary string
	// Rootfs is a host directory packed as the image's root filesystem,
	// keeping owners, modes, symlinks and hard links (see writeTree).
	Rootfs string
	// Tag names the image ("localhost/web:1"; "web:1" means
	// docker.io/library/web:1, as for any image reference).
	Tag string
	// Path is where the binary lives in the image; default "/" plus the
	// binary's base name. Only with Binary.
	Path string
	// Entrypoint is the image's entrypoint; default [Path] for a binary,
	// none for a rootfs.
	Entrypoint []string
	// Cmd is the image's default command (the entrypoint's arguments, or
	// the command when there is no entrypoint). A rootfs image needs an
	// Entrypoint or a Cmd.
	Cmd []string
	// Env is the image's environment; default ["PATH=/"] for a binary,
	// the usual PATH (DefaultRootfsPath) for a rootfs.
	Env []string
	// WorkingDir is the image's working directory (absolute); default
	// none (the runtime uses /).
	WorkingDir string
	// ExposedPorts lists ports the image declares ("8080/tcp"; "8080"
	// means TCP).
	ExposedPorts []string
	// StopSignal is the signal the runtime stops the container with
	// ("SIGQUIT"); default none (SIGTERM).
	StopSignal string
}

// DefaultRootfsPath is the PATH of an image built from a rootfs that sets
// no environment, the one Docker gives containers.
const DefaultRootfsPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func (s BuildSpec) withDefaults() (BuildSpec, error) {
	switch {
	case s.Binary == "" && s.Rootfs == "":
		return s, fmt.Errorf("images: no binary or rootfs to build from")
	case s.Binary != "" && s.Rootfs != "":
		return s, fmt.Errorf("images: a binary and a rootfs given; build from one of them")
	}
	if s.Tag == "" {
		return s, fmt.Errorf("images: no tag")
	}
	if s.WorkingDir != "" && !path.IsAbs(s.WorkingDir) {
		return s, fmt.Errorf("images: working directory %q is not absolute", s.WorkingDir)
	}
	if s.StopSignal != "" {
		sig, err := normalizeSignal(s.StopSignal)
		if err != nil {
			return s, err
		}
		s.StopSignal = sig
	}
	for _, p := range s.ExposedPorts {
		if err := validatePort(p); err != nil {
			return s, err
		}
	}
	if s.Rootfs != "" {
		if s.Path != "" {
			return s, fmt.Errorf("images: a path in the image is for a binary, not a rootfs")
		}
		if len(s.Entrypoint) == 0 && len(s.Cmd) == 0 {
			return s, fmt.Errorf("images: an image from a rootfs needs an entrypoint or a cmd")
		}
		if s.Env == nil {
			s.Env = []string{DefaultRootfsPath}
		}
		return s, nil
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

// validatePort checks an exposed port: "PORT" or "PORT/PROTO" with PORT
// in 1-65535 and PROTO tcp, udp or sctp.
func validatePort(p string) error {
	num, proto, hasProto := strings.Cut(p, "/")
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("images: exposed port %q: the port must be a number from 1 to 65535", p)
	}
	if hasProto && proto != "tcp" && proto != "udp" && proto != "sctp" {
		return fmt.Errorf("images: exposed port %q: the protocol must be tcp, udp or sctp", p)
	}
	return nil
}

// normalizeSignal returns sig as the runtime expects it in a stop signal
// ("quit", "SIGQUIT" and "3" all give "SIGQUIT"), or an error for a
// signal Linux does not have.
func normalizeSignal(sig string) (string, error) {
	if n, err := strconv.Atoi(sig); err == nil {
		if n < 1 || n > 64 {
			return "", fmt.Errorf("images: stop signal %q: no such signal", sig)
		}
		if name := unix.SignalName(syscall.Signal(n)); name != "" {
			return name, nil
		}
		return sig, nil
	}
	name := strings.ToUpper(sig)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if unix.SignalNum(name) == 0 {
		return "", fmt.Errorf("images: stop signal %q: no such signal", sig)
	}
	return name, nil
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
// reproducible: the same binary or tree and spec give the same bytes.
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
		Config: v1.Config{Entrypoint: spec.Entrypoint, Cmd: spec.Cmd, Env: spec.Env,
			WorkingDir: spec.WorkingDir, StopSignal: spec.StopSignal},
		RootFS:  v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{layer.diffID}},
		History: []v1.History{{CreatedBy: "navarch images build", Comment: spec.source()}},
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

// source names what an image was built from, for its history: the
// binary's base name, or "rootfs" (never a host path, which would make
// two builds of the same tree differ).
func (s BuildSpec) source() string {
	if s.Rootfs != "" {
		return "rootfs"
	}
	return path.Base(s.Binary)
}

// writeLayer writes the image's one layer, gzip-compressed in one pass,
// to a temp file, hashing it compressed and uncompressed as it goes.
func writeLayer(spec BuildSpec) (builtLayer, error) {
	var entries func(*tar.Writer) error
	if spec.Rootfs != "" {
		root, err := checkTree(spec.Rootfs)
		if err != nil {
			return builtLayer{}, err
		}
		entries = func(tw *tar.Writer) error { return writeTree(tw, root) }
	} else {
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
		entries = func(tw *tar.Writer) error { return writeBinary(tw, spec.Path, bin, info.Size()) }
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
	if err := entries(tw); err != nil {
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

// writeBinary writes the entries of a binary's layer: the parent
// directories of inImage, /tmp (programs expect a writable one), then the
// binary itself, size bytes from bin.
func writeBinary(tw *tar.Writer, inImage string, bin io.Reader, size int64) error {
	inImage = strings.TrimPrefix(inImage, "/")
	var dirs []string
	for d := path.Dir(inImage); d != "." && d != "/"; d = path.Dir(d) {
		dirs = append([]string{d}, dirs...)
	}
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777, Format: tar.FormatPAX}); err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: inImage, Mode: 0o755, Size: size, Format: tar.FormatPAX}); err != nil {
		return err
	}
	_, err := io.Copy(tw, bin)
	return err
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
