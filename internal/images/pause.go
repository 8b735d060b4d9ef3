package images

import (
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/navarch/navarch/internal/agent/cri"
	"github.com/navarch/navarch/internal/images/pausebin"
)

// The pause image holds the pause program (images/pause), which navarch
// carries embedded (package pausebin) so the agent can build the image on
// a machine with nothing but navarch. Its tag carries a hash of the
// binary, so a navarch with a changed pause program builds a fresh image
// and never mistakes an old one for it.

// PauseRepository is the repository of the pause images the agent builds.
const PauseRepository = "localhost/navarch/pause"

// pausePath is where the pause binary lives in its image.
const pausePath = "/pause"

// PauseSpec is the build spec of the pause image from the static pause
// binary at path, tagged tag.
func PauseSpec(path, tag string) BuildSpec {
	return BuildSpec{Binary: path, Tag: tag, Path: pausePath, Entrypoint: []string{pausePath}, Env: []string{"PATH=/"}}
}

// PauseTag returns PauseRepository tagged with the first 16 hex digits of
// the SHA-256 of the binary at path.
func PauseTag(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("images: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("images: hashing %s: %w", path, err)
	}
	return PauseRepository + ":" + hex.EncodeToString(h.Sum(nil))[:16], nil
}

// WriteEmbeddedPause writes navarch's embedded pause binary for this
// machine's architecture into dir (once: the file is named after its
// hash) and returns its path and the pause image tag for it.
func WriteEmbeddedPause(dir string) (path, tag string, err error) {
	data, err := pausebin.Host()
	if err != nil {
		return "", "", fmt.Errorf("images: %w", err)
	}
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])[:16]
	path = filepath.Join(dir, "pause-"+hash)
	if _, err := os.Stat(path); err != nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", "", fmt.Errorf("images: %w", err)
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, data, 0o755); err != nil {
			return "", "", fmt.Errorf("images: writing the pause binary: %w", err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return "", "", fmt.Errorf("images: %w", err)
		}
	}
	return path, PauseRepository + ":" + hash, nil
}

// CheckStatic returns an error unless path is a statically linked ELF
// executable (one with no program interpreter), the only kind that runs
// in an image with no base.
func CheckStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("images: %s is not an ELF executable: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("images: %s is dynamically linked; build it with CGO_ENABLED=0", path)
		}
	}
	return nil
}

// Ensure builds and imports spec's image unless the runtime already has
// spec.Tag. It reports whether it built the image.
func Ensure(ctx context.Context, runtime cri.ImageManager, importer Importer, spec BuildSpec) (bool, error) {
	img, err := runtime.ImageStatus(ctx, &runtimeapi.ImageSpec{Image: spec.Tag})
	if err != nil {
		return false, err
	}
	if img != nil {
		return false, nil
	}
	if err := CheckStatic(spec.Binary); err != nil {
		return false, err
	}
	if _, err := Build(ctx, importer, spec); err != nil {
		return false, err
	}
	return true, nil
}
