package volume

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Names inside a directory the atomic writer manages.
const (
	// dataDirName is the symlink to the current timestamped directory.
	dataDirName = "..data"
	// newDataDirName is the symlink renamed over dataDirName.
	newDataDirName = "..data_tmp"
	// maxPathLength and maxFileNameLength bound payload paths, as upstream.
	maxPathLength     = 4096
	maxFileNameLength = 255
)

// FileProjection is one file of a payload: its content and mode.
type FileProjection struct {
	Data []byte
	Mode int32
}

// AtomicWriter writes a set of files into one directory so that a reader
// sees either all the old files or all the new ones:
//
//  1. the payload is written into a new directory ..<timestamp>.<random>;
//  2. a symlink ..data_tmp to it is renamed over ..data (atomic);
//  3. each top-level name of the payload is a symlink to ..data/<name>;
//  4. names no longer in the payload are removed, and so are the
//     timestamped directories older than the one just replaced.
//
// The replaced directory is kept until the next change, so a reader that
// resolved ..data just before the swap still finds its files (upstream
// removes it at once, and such a reader may get "no such file"). It holds
// nothing the pod could not read before. Nothing is rewritten when the
// payload equals what is on disk. Paths
// must be relative, without "..", and must not start with "..". One
// writer per directory at a time; readers need no locking.
type AtomicWriter struct {
	// Dir is the directory the files appear in; it must exist.
	Dir string
}

// Write makes Dir hold exactly payload (path -> file). It reports
// whether anything changed on disk.
func (w AtomicWriter) Write(payload map[string]FileProjection) (bool, error) {
	clean := make(map[string]FileProjection, len(payload))
	for p, f := range payload {
		if err := validatePayloadPath(p); err != nil {
			return false, err
		}
		clean[filepath.Clean(p)] = f
	}
	oldTS, err := os.Readlink(filepath.Join(w.Dir, dataDirName))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("volume: reading %s: %w", dataDirName, err)
	}
	var oldPaths []string
	if oldTS != "" {
		oldPaths, err = payloadPaths(filepath.Join(w.Dir, oldTS))
		if err != nil {
			return false, err
		}
		same, err := sameContent(filepath.Join(w.Dir, oldTS), oldPaths, clean)
		if err != nil {
			return false, err
		}
		if same {
			// The symlinks may still be missing after a crash mid-write.
			return false, w.linkTopLevel(clean, oldPaths)
		}
	}

	tsDir, err := os.MkdirTemp(w.Dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return false, fmt.Errorf("volume: %w", err)
	}
	if err := os.Chmod(tsDir, 0o755); err != nil {
		return false, fmt.Errorf("volume: %w", err)
	}
	if err := writePayload(tsDir, clean); err != nil {
		os.RemoveAll(tsDir)
		return false, err
	}
	tmpLink := filepath.Join(w.Dir, newDataDirName)
	if err := os.Remove(tmpLink); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("volume: %w", err)
	}
	if err := os.Symlink(filepath.Base(tsDir), tmpLink); err != nil {
		os.RemoveAll(tsDir)
		return false, fmt.Errorf("volume: %w", err)
	}
	if err := os.Rename(tmpLink, filepath.Join(w.Dir, dataDirName)); err != nil {
		os.Remove(tmpLink)
		os.RemoveAll(tsDir)
		return false, fmt.Errorf("volume: swapping %s: %w", dataDirName, err)
	}
	if err := w.linkTopLevel(clean, oldPaths); err != nil {
		return true, err
	}
	if err := w.removeDataDirs(filepath.Base(tsDir), oldTS); err != nil {
		return true, err
	}
	return true, nil
}

// removeDataDirs removes the timestamped directories but keep.
func (w AtomicWriter) removeDataDirs(keep ...string) error {
	entries, err := os.ReadDir(w.Dir)
	if err != nil {
		return fmt.Errorf("volume: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, "..") || slices.Contains(keep, name) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(w.Dir, name)); err != nil {
			return fmt.Errorf("volume: removing an old data dir: %w", err)
		}
	}
	return nil
}

// Ready reports whether dir has been written by an AtomicWriter (its
// ..data link exists).
func (w AtomicWriter) Ready() bool {
	_, err := os.Readlink(filepath.Join(w.Dir, dataDirName))
	return err == nil
}

// linkTopLevel creates the symlink of each top-level name of payload and
// removes those of oldPaths no longer in it.
func (w AtomicWriter) linkTopLevel(payload map[string]FileProjection, oldPaths []string) error {
	want := map[string]bool{}
	for p := range payload {
		want[topLevel(p)] = true
	}
	for name := range want {
		link := filepath.Join(w.Dir, name)
		target := filepath.Join(dataDirName, name)
		if current, err := os.Readlink(link); err == nil && current == target {
			continue
		}
		// A leftover of something else at that name is replaced.
		if err := os.RemoveAll(link); err != nil {
			return fmt.Errorf("volume: %w", err)
		}
		if err := os.Symlink(target, link); err != nil {
			return fmt.Errorf("volume: %w", err)
		}
	}
	for _, p := range oldPaths {
		name := topLevel(p)
		if want[name] {
			continue
		}
		if err := os.Remove(filepath.Join(w.Dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("volume: %w", err)
		}
	}
	return nil
}

func topLevel(p string) string {
	first, _, _ := strings.Cut(p, string(filepath.Separator))
	return first
}

// validatePayloadPath refuses paths that would leave the directory or
// clash with the writer's own names, with upstream's messages.
func validatePayloadPath(p string) error {
	switch {
	case len(p) > maxPathLength:
		return fmt.Errorf("invalid path: must be less than or equal to %d characters", maxPathLength)
	case p == "":
		return fmt.Errorf("invalid path: must not be empty")
	case filepath.IsAbs(p):
		return fmt.Errorf("invalid path: must be relative path: %s", p)
	case strings.HasPrefix(p, ".."):
		return fmt.Errorf("invalid path: must not start with '..': %s", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return fmt.Errorf("invalid path: must not contain '..': %s", p)
		}
		if len(part) > maxFileNameLength {
			return fmt.Errorf("invalid path: filenames must be less than or equal to %d characters", maxFileNameLength)
		}
	}
	return nil
}

// payloadPaths lists the files under a timestamped directory, relative
// to it, sorted.
func payloadPaths(dir string) ([]string, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		paths = append(paths, rel)
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("volume: listing %s: %w", dir, err)
	}
	slices.Sort(paths)
	return paths, nil
}

// sameContent reports whether the files under dir (paths) are exactly
// payload, contents and modes.
func sameContent(dir string, paths []string, payload map[string]FileProjection) (bool, error) {
	if len(paths) != len(payload) {
		return false, nil
	}
	for _, p := range paths {
		want, ok := payload[p]
		if !ok {
			return false, nil
		}
		full := filepath.Join(dir, p)
		info, err := os.Lstat(full)
		if err != nil {
			return false, fmt.Errorf("volume: %w", err)
		}
		if info.Mode().Perm() != os.FileMode(want.Mode).Perm() {
			return false, nil
		}
		data, err := os.ReadFile(full)
		if err != nil {
			return false, fmt.Errorf("volume: %w", err)
		}
		if !bytes.Equal(data, want.Data) {
			return false, nil
		}
	}
	return true, nil
}

// writePayload writes every file of payload under dir, creating
// subdirectories (0755) as needed.
func writePayload(dir string, payload map[string]FileProjection) error {
	for p, f := range payload {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("volume: %w", err)
		}
		mode := os.FileMode(f.Mode).Perm()
		if err := os.WriteFile(full, f.Data, mode); err != nil {
			return fmt.Errorf("volume: writing %s: %w", p, err)
		}
		// WriteFile's mode is filtered by the umask.
		if err := os.Chmod(full, mode); err != nil {
			return fmt.Errorf("volume: %w", err)
		}
	}
	return nil
}
