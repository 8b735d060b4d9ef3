package volume

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestCheckHostPath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// A short path: unix socket paths are limited to 108 bytes.
	sockDir, err := os.MkdirTemp("", "hp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	socket := filepath.Join(sockDir, "s")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	charDev, blockDev := filepath.Join(dir, "char"), filepath.Join(dir, "block")
	devices := os.Geteuid() == 0
	if devices {
		if err := unix.Mknod(charDev, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3))); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mknod(blockDev, unix.S_IFBLK|0o600, int(unix.Mkdev(7, 0))); err != nil {
			t.Fatal(err)
		}
	}
	missing := filepath.Join(dir, "missing")

	for _, tc := range []struct {
		name     string
		path     string
		pathType corev1.HostPathType
		want     string
		device   bool
	}{
		{name: "unset accepts anything", path: missing, pathType: corev1.HostPathUnset},
		{name: "directory", path: dir, pathType: corev1.HostPathDirectory},
		{name: "directory is a file", path: file, pathType: corev1.HostPathDirectory,
			want: "hostPath type check failed: " + file + " is not a directory, it's a File"},
		{name: "directory missing", path: missing, pathType: corev1.HostPathDirectory,
			want: "hostPath " + missing + " doesn't exist"},
		{name: "file", path: file, pathType: corev1.HostPathFile},
		{name: "file is a directory", path: dir, pathType: corev1.HostPathFile,
			want: "hostPath type check failed: " + dir + " is not a file, it's a Directory"},
		{name: "directory or create on a file", path: file, pathType: corev1.HostPathDirectoryOrCreate,
			want: "hostPath type check failed: " + file + " is not a directory, it's a File"},
		{name: "file or create on a directory", path: dir, pathType: corev1.HostPathFileOrCreate,
			want: "hostPath type check failed: " + dir + " is not a file, it's a Directory"},
		{name: "socket", path: socket, pathType: corev1.HostPathSocket},
		{name: "socket is a file", path: file, pathType: corev1.HostPathSocket,
			want: "hostPath type check failed: " + file + " is not a socket file, it's a File"},
		{name: "char device", path: charDev, pathType: corev1.HostPathCharDev, device: true},
		{name: "char device is a block device", path: blockDev, pathType: corev1.HostPathCharDev, device: true,
			want: "hostPath type check failed: " + blockDev + " is not a character device, it's a BlockDevice"},
		{name: "block device", path: blockDev, pathType: corev1.HostPathBlockDev, device: true},
		{name: "block device is a socket", path: socket, pathType: corev1.HostPathBlockDev,
			want: "hostPath type check failed: " + socket + " is not a block device, it's a Socket"},
		{name: "backsteps", path: dir + "/../x", pathType: corev1.HostPathUnset,
			want: "invalid HostPath `" + dir + "/../x`: must not contain '..'"},
		{name: "unknown type", path: dir, pathType: "Fifo", want: "Fifo is an invalid volume type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.device && !devices {
				t.Skip("creating device nodes needs root")
			}
			err := checkHostPath(tc.path, ptr.To(tc.pathType), 0o755)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("checkHostPath(%s, %s) = %q, want %q", tc.path, tc.pathType, got, tc.want)
			}
		})
	}
}

func TestCheckHostPathCreates(t *testing.T) {
	dir := t.TempDir()
	newDir := filepath.Join(dir, "a", "b")
	if err := checkHostPath(newDir, ptr.To(corev1.HostPathDirectoryOrCreate), 0o777); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(newDir); err != nil || !info.IsDir() || info.Mode().Perm() != 0o777 {
		t.Errorf("created %s: %v (err %v), want a 0777 directory", newDir, info.Mode(), err)
	}
	newFile := filepath.Join(dir, "f")
	if err := checkHostPath(newFile, ptr.To(corev1.HostPathFileOrCreate), 0o755); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(newFile); err != nil || !info.Mode().IsRegular() {
		t.Errorf("created %s: %v (err %v), want a file", newFile, info, err)
	}
}
