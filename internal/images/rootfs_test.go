package images

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// entry is what a test checks of one tar entry.
type entry struct {
	Name     string
	Type     byte
	Mode     int64
	Uid, Gid int
	Link     string
	Content  string
}

// readEntries reads a tar stream back as entries, failing the test on
// names, times or owner names a tree layer must not carry.
func readEntries(t *testing.T, r io.Reader) []entry {
	t.Helper()
	var out []entry
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("reading the layer: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("reading %s: %v", h.Name, err)
		}
		if !h.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s: mtime %v, want the epoch", h.Name, h.ModTime)
		}
		if h.Uname != "" || h.Gname != "" || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: uname %q gname %q atime %v ctime %v; want none (they differ between hosts and builds)",
				h.Name, h.Uname, h.Gname, h.AccessTime, h.ChangeTime)
		}
		if strings.HasPrefix(h.Name, "/") || strings.HasPrefix(h.Name, "./") {
			t.Errorf("%s: want names relative to the root, with no leading / or ./", h.Name)
		}
		out = append(out, entry{Name: h.Name, Type: h.Typeflag, Mode: h.Mode, Uid: h.Uid, Gid: h.Gid, Link: h.Linkname, Content: string(data)})
	}
}

// layerEntries returns the entries of the one layer of a docker-archive.
func layerEntries(t *testing.T, archive string) []entry {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
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
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		files[h.Name] = data
	}
	var manifest []dockerManifest
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) != 1 || len(manifest[0].Layers) != 1 {
		t.Fatalf("manifest.json = %s (%v), want one image with one layer", files["manifest.json"], err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(files[manifest[0].Layers[0]]))
	if err != nil {
		t.Fatalf("layer: %v", err)
	}
	return readEntries(t, zr)
}

// makeTree writes a small root filesystem under dir, creating its
// entries in the order given by reverse (to show the order of creation
// does not matter), and returns the entries a layer of it must hold.
func makeTree(t *testing.T, dir string, reverse bool) []entry {
	t.Helper()
	uid, gid := os.Getuid(), os.Getgid()
	// Owned by www-data where the test may chown (as root).
	wuid, wgid := uid, gid
	if uid == 0 {
		wuid, wgid = 33, 33
	}
	steps := []func() error{
		func() error { return os.MkdirAll(filepath.Join(dir, "bin"), 0o755) },
		func() error { return os.WriteFile(filepath.Join(dir, "bin", "busybox"), []byte("BB"), 0o755) },
		func() error { return os.Symlink("/bin/busybox", filepath.Join(dir, "bin", "sh")) },
		func() error { return os.MkdirAll(filepath.Join(dir, "etc", "nginx"), 0o755) },
		func() error {
			return os.WriteFile(filepath.Join(dir, "etc", "passwd"), []byte("root:x:0:0::/root:/bin/sh\n"), 0o644)
		},
		func() error { return os.WriteFile(filepath.Join(dir, "etc", "nginx", "nginx.conf"), nil, 0o644) },
		func() error {
			return os.Link(filepath.Join(dir, "etc", "passwd"), filepath.Join(dir, "etc", "passwd.hard"))
		},
		func() error { return os.MkdirAll(filepath.Join(dir, "var", "log", "nginx"), 0o755) },
		func() error {
			return os.Symlink("/dev/stdout", filepath.Join(dir, "var", "log", "nginx", "access.log"))
		},
		func() error {
			if err := os.MkdirAll(filepath.Join(dir, "var", "lib"), 0o755); err != nil {
				return err
			}
			return os.Mkdir(filepath.Join(dir, "var", "lib", "nginx"), 0o700)
		},
		func() error { return os.Chown(filepath.Join(dir, "var", "lib", "nginx"), wuid, wgid) },
		func() error { return os.Symlink("../run", filepath.Join(dir, "var", "run")) },
		func() error { return os.MkdirAll(filepath.Join(dir, "tmp"), 0o755) },
		func() error { return os.Chmod(filepath.Join(dir, "tmp"), 0o777|os.ModeSticky) },
		func() error { return os.WriteFile(filepath.Join(dir, "bin", "su"), []byte("SU"), 0o755) },
		func() error { return os.Chmod(filepath.Join(dir, "bin", "su"), 0o755|os.ModeSetuid) },
		func() error { return syscall.Mkfifo(filepath.Join(dir, "tmp", "fifo"), 0o600) },
	}
	if reverse {
		// Same tree, built in another order: files before their
		// siblings, links before their targets where possible.
		steps = []func() error{steps[0], steps[3], steps[7], steps[9], steps[12], steps[16], steps[13], steps[11], steps[10],
			steps[8], steps[14], steps[15], steps[5], steps[4], steps[6], steps[2], steps[1]}
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("building the tree, step %d: %v", i, err)
		}
	}
	// Times that differ from build to build.
	if err := os.Chtimes(filepath.Join(dir, "etc", "passwd"), time.Now(), time.Now().Add(-time.Duration(len(dir))*time.Hour)); err != nil {
		t.Fatal(err)
	}
	d, f, l := byte(tar.TypeDir), byte(tar.TypeReg), byte(tar.TypeSymlink)
	return []entry{
		{Name: "bin/", Type: d, Mode: 0o755, Uid: uid, Gid: gid},
		{Name: "bin/busybox", Type: f, Mode: 0o755, Uid: uid, Gid: gid, Content: "BB"},
		{Name: "bin/sh", Type: l, Mode: 0o777, Uid: uid, Gid: gid, Link: "/bin/busybox"},
		{Name: "bin/su", Type: f, Mode: 0o4755, Uid: uid, Gid: gid, Content: "SU"},
		{Name: "etc/", Type: d, Mode: 0o755, Uid: uid, Gid: gid},
		{Name: "etc/nginx/", Type: d, Mode: 0o755, Uid: uid, Gid: gid},
		{Name: "etc/nginx/nginx.conf", Type: f, Mode: 0o644, Uid: uid, Gid: gid},
		{Name: "etc/passwd", Type: f, Mode: 0o644, Uid: uid, Gid: gid, Content: "root:x:0:0::/root:/bin/sh\n"},
		{Name: "etc/passwd.hard", Type: tar.TypeLink, Mode: 0o644, Uid: uid, Gid: gid, Link: "etc/passwd"},
		{Name: "tmp/", Type: d, Mode: 0o1777, Uid: uid, Gid: gid},
		{Name: "tmp/fifo", Type: tar.TypeFifo, Mode: 0o600, Uid: uid, Gid: gid},
		{Name: "var/", Type: d, Mode: 0o755, Uid: uid, Gid: gid},
		{Name: "var/lib/", Type: d, Mode: 0o755, Uid: uid, Gid: gid},
		{Name: "var/lib/nginx/", Type: d, Mode: 0o700, Uid: wuid, Gid: wgid},
		{Name: "var/log/", Type: d, Mode: 0o755, Uid: uid, Gid: gid},
		{Name: "var/log/nginx/", Type: d, Mode: 0o755, Uid: uid, Gid: gid},
		{Name: "var/log/nginx/access.log", Type: l, Mode: 0o777, Uid: uid, Gid: gid, Link: "/dev/stdout"},
		{Name: "var/run", Type: l, Mode: 0o777, Uid: uid, Gid: gid, Link: "../run"},
	}
}

func TestWriteTreeContents(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	want := makeTree(t, dir, false)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := writeTree(tw, dir); err != nil {
		t.Fatalf("writeTree: %v", err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, readEntries(t, &buf)); diff != "" {
		t.Errorf("layer entries (-want +got):\n%s", diff)
	}
}

func TestWriteArchiveFromRootfs(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	want := makeTree(t, dir, false)
	archive := filepath.Join(t.TempDir(), "img.tar")
	spec := BuildSpec{Rootfs: dir, Tag: "localhost/nginx:1.22", Cmd: []string{"nginx", "-g", "daemon off;"},
		WorkingDir: "/var/lib/nginx", ExposedPorts: []string{"80"}, StopSignal: "quit"}
	if err := WriteArchiveFile(spec, archive); err != nil {
		t.Fatalf("WriteArchiveFile: %v", err)
	}
	cf, err := configFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	got := struct {
		Entrypoint, Cmd, Env   []string
		WorkingDir, StopSignal string
		Ports                  map[string]struct{}
	}{cf.Config.Entrypoint, cf.Config.Cmd, cf.Config.Env, cf.Config.WorkingDir, cf.Config.StopSignal, cf.Config.ExposedPorts}
	wantConfig := got
	wantConfig.Entrypoint, wantConfig.Cmd, wantConfig.Env = nil, []string{"nginx", "-g", "daemon off;"}, []string{DefaultRootfsPath}
	wantConfig.WorkingDir, wantConfig.StopSignal, wantConfig.Ports = "/var/lib/nginx", "SIGQUIT", map[string]struct{}{"80/tcp": {}}
	if diff := cmp.Diff(wantConfig, got); diff != "" {
		t.Errorf("image config (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, layerEntries(t, archive)); diff != "" {
		t.Errorf("layer entries (-want +got):\n%s", diff)
	}
}

func TestWriteArchiveFromRootfsIsReproducible(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	base := t.TempDir()
	a, b := filepath.Join(base, "a"), filepath.Join(base, "another-tree")
	makeTree(t, a, false)
	makeTree(t, b, true)
	build := func(root, name string) []byte {
		t.Helper()
		archive := filepath.Join(base, name)
		if err := WriteArchiveFile(BuildSpec{Rootfs: root, Tag: "localhost/tools:1.0", Cmd: []string{"sh"}}, archive); err != nil {
			t.Fatalf("WriteArchiveFile: %v", err)
		}
		data, err := os.ReadFile(archive)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	first, second := build(a, "a.tar"), build(b, "b.tar")
	if !bytes.Equal(first, second) {
		t.Errorf("the same tree, built in another order at another path and time, gave a different archive")
	}
	if again := build(a, "a2.tar"); !bytes.Equal(first, again) {
		t.Errorf("two builds of the same tree differ")
	}
	if err := os.WriteFile(filepath.Join(b, "etc", "nginx", "nginx.conf"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if changed := build(b, "b2.tar"); bytes.Equal(first, changed) {
		t.Errorf("a changed file gave the same archive")
	}
}

func TestWriteArchiveFromRootfsRejects(t *testing.T) {
	tree := t.TempDir()
	file := filepath.Join(tree, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	withSocket := t.TempDir()
	l, err := net.Listen("unix", filepath.Join(withSocket, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sh := []string{"sh"}
	tests := []struct {
		name    string
		spec    BuildSpec
		wantErr string
	}{
		{name: "binary and rootfs", spec: BuildSpec{Binary: "/bin/true", Rootfs: tree, Tag: "x:1", Cmd: sh}, wantErr: "one of them"},
		{name: "neither", spec: BuildSpec{Tag: "x:1", Cmd: sh}, wantErr: "no binary or rootfs"},
		{name: "missing dir", spec: BuildSpec{Rootfs: filepath.Join(tree, "nope"), Tag: "x:1", Cmd: sh}, wantErr: "no such file"},
		{name: "not a dir", spec: BuildSpec{Rootfs: file, Tag: "x:1", Cmd: sh}, wantErr: "not a directory"},
		{name: "no command", spec: BuildSpec{Rootfs: tree, Tag: "x:1"}, wantErr: "needs an entrypoint or a cmd"},
		{name: "path with rootfs", spec: BuildSpec{Rootfs: tree, Tag: "x:1", Cmd: sh, Path: "/x"}, wantErr: "not a rootfs"},
		{name: "relative workdir", spec: BuildSpec{Rootfs: tree, Tag: "x:1", Cmd: sh, WorkingDir: "srv"}, wantErr: "not absolute"},
		{name: "unknown signal", spec: BuildSpec{Rootfs: tree, Tag: "x:1", Cmd: sh, StopSignal: "SIGNOPE"}, wantErr: "no such signal"},
		{name: "signal out of range", spec: BuildSpec{Rootfs: tree, Tag: "x:1", Cmd: sh, StopSignal: "99"}, wantErr: "no such signal"},
		{name: "bad port", spec: BuildSpec{Rootfs: tree, Tag: "x:1", Cmd: sh, ExposedPorts: []string{"http"}}, wantErr: "1 to 65535"},
		{name: "bad protocol", spec: BuildSpec{Rootfs: tree, Tag: "x:1", Cmd: sh, ExposedPorts: []string{"80/icmp"}}, wantErr: "tcp, udp or sctp"},
		{name: "socket in the tree", spec: BuildSpec{Rootfs: withSocket, Tag: "x:1", Cmd: sh}, wantErr: "sock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "x.tar")
			err := WriteArchiveFile(tt.spec, out)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "images: ") {
				t.Fatalf("WriteArchiveFile = %v, want an error starting images: and containing %q", err, tt.wantErr)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a failed build left %s behind (%v)", out, err)
			}
		})
	}
}

func TestNormalizeSignal(t *testing.T) {
	for in, want := range map[string]string{"SIGQUIT": "SIGQUIT", "quit": "SIGQUIT", "3": "SIGQUIT", "term": "SIGTERM"} {
		if got, err := normalizeSignal(in); err != nil || got != want {
			t.Errorf("normalizeSignal(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
