package volume

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// mountInfoPath is the mount table of the agent's mount namespace.
const mountInfoPath = "/proc/self/mountinfo"

// mountTmpfs mounts a tmpfs on dir (mode 0777 at its root, as emptyDir);
// size > 0 bounds it in bytes.
func mountTmpfs(dir string, size int64, mode os.FileMode) error {
	data := fmt.Sprintf("mode=%o", mode.Perm())
	if size > 0 {
		data += fmt.Sprintf(",size=%d", size)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, data); err != nil {
		return fmt.Errorf("volume: mounting tmpfs on %s: %w", dir, err)
	}
	return nil
}

// bindFD bind-mounts what the file descriptor fd refers to (an O_PATH
// descriptor is enough) onto target.
func bindFD(fd int, target string) error {
	source := fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), fd)
	if err := unix.Mount(source, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("volume: bind-mounting a subPath onto %s: %w", target, err)
	}
	return nil
}

// unmount unmounts target, lazily if it is busy.
func unmount(target string) error {
	err := unix.Unmount(target, 0)
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(target, unix.MNT_DETACH)
	}
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("volume: unmounting %s: %w", target, err)
	}
	return nil
}

// mountPointsUnder returns the mount points at or below dir, deepest
// first (the order to unmount them in). dir must be a clean absolute
// path without symlinks, as the mount table shows paths.
func mountPointsUnder(dir string) ([]string, error) {
	f, err := os.Open(mountInfoPath)
	if err != nil {
		return nil, fmt.Errorf("volume: reading the mount table: %w", err)
	}
	defer f.Close()
	var points []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for s.Scan() {
		// id parent major:minor root mountpoint options ...
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		p := unescapeMountPath(fields[4])
		if p == dir || strings.HasPrefix(p, dir+"/") {
			points = append(points, p)
		}
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("volume: reading the mount table: %w", err)
	}
	// Deepest first; a path mounted several times appears several times,
	// so each layer is unmounted.
	slices.SortStableFunc(points, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return points, nil
}

// isMountPoint reports whether dir is a mount point.
func isMountPoint(dir string) (bool, error) {
	points, err := mountPointsUnder(dir)
	if err != nil {
		return false, err
	}
	return slices.Contains(points, dir), nil
}

// unescapeMountPath undoes the octal escapes (\040 for a space) the
// kernel writes into mount paths.
func unescapeMountPath(p string) string {
	if !strings.Contains(p, `\`) {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' && i+3 < len(p) {
			if v, err := strconv.ParseUint(p[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// unmountAllUnder unmounts every mount at or below dir and checks that
// none is left.
func unmountAllUnder(dir string) error {
	points, err := mountPointsUnder(dir)
	if err != nil {
		return err
	}
	for _, p := range points {
		if err := unmount(p); err != nil {
			return err
		}
	}
	left, err := mountPointsUnder(dir)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return fmt.Errorf("volume: %s still has mounts: %s", dir, strings.Join(left, ", "))
	}
	return nil
}

// realDir creates dir if needed and returns it absolute, clean and with
// symlinks resolved, as the mount table names it.
func realDir(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("volume: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("volume: %w", err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("volume: %w", err)
	}
	return real, nil
}
