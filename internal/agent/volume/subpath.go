package volume

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/types"
)

// maxSymlinks bounds the symlinks followed while resolving one subPath
// (the kernel's limit).
const maxSymlinks = 40

// errOutsideVolume is the (internal, logged) reason a subPath is refused
// when it resolves outside its volume.
var errOutsideVolume = errors.New("volume: subPath resolves outside the volume")

// resolveInRoot resolves subPath inside root, following symlinks
// component by component as the kernel would on the host, and returns the
// result as components relative to root, none of them a symlink, "." or
// "..". A relative symlink resolves from its directory, an absolute one
// from the host's "/". Any step that leaves root fails with
// errOutsideVolume. Components that do not exist are kept as they are
// (the caller creates them). root must be absolute, clean and free of
// symlinks.
func resolveInRoot(root, subPath string) ([]string, error) {
	if filepath.IsAbs(subPath) {
		return nil, fmt.Errorf("%w: %s is absolute", errOutsideVolume, subPath)
	}
	queue := splitPath(subPath)
	var resolved []string
	links := 0
	for len(queue) > 0 {
		part := queue[0]
		queue = queue[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			if len(resolved) == 0 {
				return nil, errOutsideVolume
			}
			resolved = resolved[:len(resolved)-1]
			continue
		}
		current := filepath.Join(append([]string{root}, append(resolved, part)...)...)
		info, err := os.Lstat(current)
		switch {
		case errors.Is(err, os.ErrNotExist):
			resolved = append(resolved, part)
			continue
		case err != nil:
			return nil, fmt.Errorf("volume: %w", err)
		case info.Mode()&os.ModeSymlink == 0:
			resolved = append(resolved, part)
			continue
		}
		links++
		if links > maxSymlinks {
			return nil, fmt.Errorf("volume: too many levels of symbolic links in subPath %s", subPath)
		}
		target, err := os.Readlink(current)
		if err != nil {
			return nil, fmt.Errorf("volume: %w", err)
		}
		if filepath.IsAbs(target) {
			rel, err := filepath.Rel(root, filepath.Clean(target))
			if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
				return nil, fmt.Errorf("%w: %s links to %s", errOutsideVolume, current, target)
			}
			resolved = nil
			target = rel
		}
		queue = append(splitPath(target), queue...)
	}
	return resolved, nil
}

func splitPath(p string) []string { return strings.Split(p, "/") }

// openInRoot opens root/parts[0]/parts[1]/... one component at a time
// without following symlinks, creating missing directories with mode
// perm, and returns an O_PATH descriptor of the last one. A component
// that turned into a symlink since resolveInRoot fails.
func openInRoot(root string, parts []string, perm os.FileMode) (int, error) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("volume: opening %s: %w", root, err)
	}
	for i, part := range parts {
		next, err := unix.Openat(fd, part, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			if mkErr := unix.Mkdirat(fd, part, uint32(perm.Perm())); mkErr != nil && !errors.Is(mkErr, unix.EEXIST) {
				unix.Close(fd)
				return -1, fmt.Errorf("volume: creating %s: %w", filepath.Join(parts[:i+1]...), mkErr)
			}
			next, err = unix.Openat(fd, part, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		}
		unix.Close(fd)
		if err != nil {
			return -1, fmt.Errorf("volume: opening %s: %w", filepath.Join(parts[:i+1]...), err)
		}
		fd = next
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("volume: %w", err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			unix.Close(fd)
			return -1, fmt.Errorf("%w: %s became a symlink", errOutsideVolume, filepath.Join(parts[:i+1]...))
		}
	}
	return fd, nil
}

// prepareSubPath checks subPath of the volume at volumeRoot and
// bind-mounts what it resolves to onto the pod's
// volume-subpaths/<volume>/<container>/<index>, which it returns: the
// runtime then mounts that bind, not a path a container could swap.
// Missing directories on the way are created with the volume root's
// mode.
func (m *Manager) prepareSubPath(uid types.UID, volumeRoot, subPath, volumeName, container string, index int) (string, error) {
	root, err := filepath.EvalSymlinks(volumeRoot)
	if err != nil {
		return "", fmt.Errorf("volume: %w", err)
	}
	info, err := os.Stat(root)
	if err != nil {
		return "", fmt.Errorf("volume: %w", err)
	}
	parts, err := resolveInRoot(root, subPath)
	if err != nil {
		return "", err
	}
	fd, err := openInRoot(root, parts, info.Mode().Perm())
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "", fmt.Errorf("volume: %w", err)
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR

	target := filepath.Join(m.PodDir(uid), "volume-subpaths", volumeName, container, strconv.Itoa(index))
	if err := unmountAllUnder(target); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
		return "", fmt.Errorf("volume: %w", err)
	}
	// The mount point must have the source's kind: a directory for a
	// directory, a file for anything else.
	if existing, err := os.Lstat(target); err == nil && existing.IsDir() != isDir {
		if err := os.RemoveAll(target); err != nil {
			return "", fmt.Errorf("volume: %w", err)
		}
	}
	if isDir {
		if err := os.MkdirAll(target, 0o750); err != nil {
			return "", fmt.Errorf("volume: %w", err)
		}
	} else {
		f, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o640)
		if err != nil {
			return "", fmt.Errorf("volume: %w", err)
		}
		f.Close()
	}
	if err := bindFD(fd, target); err != nil {
		return "", err
	}
	return target, nil
}
