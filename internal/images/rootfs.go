package images

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// A root filesystem tree becomes one layer the same way every time: the
// same tree gives the same bytes, whatever the host, the time of the
// build or the order the directory entries come in.
//
//   - Entries are in lexical order, depth first (a directory before what
//     it holds), named relative to the root without a leading "./"; the
//     root itself is not an entry.
//   - Owners (numeric uid/gid), permission bits, setuid/setgid/sticky
//     bits, symlink targets (as written, absolute or relative) and device
//     numbers are kept; user and group names are not (the image's own
//     /etc/passwd names them).
//   - Every modification time is treeModTime; access and change times
//     and extended attributes are left out.
//   - A file with several names in the tree is stored once, under its
//     first name in that order; the others are hard links to it.

// treeModTime is the modification time of every entry of a tree layer.
var treeModTime = time.Unix(0, 0)

// checkTree returns dir as an absolute path if it is a directory.
func checkTree(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("images: rootfs %s: %w", dir, err)
	}
	info, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("images: rootfs: %w", err)
	}
	if !info.IsDir() {
		return "", fmt.Errorf("images: rootfs %s is not a directory", dir)
	}
	return abs, nil
}

// fileID identifies a file for hard link detection.
type fileID struct{ dev, ino uint64 }

// writeTree writes the tree under root to tw as described above. It
// fails on what a layer cannot hold (sockets) and on any read error,
// naming the path.
func writeTree(tw *tar.Writer, root string) error {
	seen := map[fileID]string{}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		var link string
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		h.Name = name
		if info.IsDir() {
			h.Name += "/"
		}
		h.Uname, h.Gname = "", ""
		h.ModTime, h.AccessTime, h.ChangeTime = treeModTime, time.Time{}, time.Time{}
		h.PAXRecords = nil
		h.Format = tar.FormatPAX
		if st, ok := info.Sys().(*syscall.Stat_t); ok && info.Mode().IsRegular() && st.Nlink > 1 {
			id := fileID{dev: uint64(st.Dev), ino: st.Ino}
			if first, ok := seen[id]; ok {
				h.Typeflag, h.Linkname, h.Size = tar.TypeLink, first, 0
			} else {
				seen[id] = name
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if h.Typeflag != tar.TypeReg || h.Size == 0 {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		n, err := io.Copy(tw, f)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if n != h.Size {
			return fmt.Errorf("%s changed while it was packed", name)
		}
		return nil
	})
}
