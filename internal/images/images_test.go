package images

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/navarch/navarch/internal/agent/cri/fakecri"
)

// fakeBinary writes a file to package (its content does not matter to
// the archive).
func fakeBinary(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "web")
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestWriteArchive(t *testing.T) {
	bin := fakeBinary(t, "#!/bin/false\n")
	tests := []struct {
		name           string
		spec           BuildSpec
		wantEntrypoint []string
		wantEnv        []string
		wantPorts      []string
	}{
		{name: "defaults", spec: BuildSpec{Binary: bin, Tag: "localhost/web:1"},
			wantEntrypoint: []string{"/web"}, wantEnv: []string{"PATH=/"}},
		{name: "explicit", spec: BuildSpec{Binary: bin, Tag: "web:2", Path: "/bin/srv", Entrypoint: []string{"/bin/srv", "serve"},
			Env: []string{"PATH=/bin", "MODE=x"}, ExposedPorts: []string{"8080", "53/udp"}},
			wantEntrypoint: []string{"/bin/srv", "serve"}, wantEnv: []string{"PATH=/bin", "MODE=x"}, wantPorts: []string{"53/udp", "8080/tcp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			archive := filepath.Join(t.TempDir(), "img.tar")
			if err := WriteArchiveFile(tt.spec, archive); err != nil {
				t.Fatalf("WriteArchiveFile: %v", err)
			}
			cf, err := configFile(archive)
			if err != nil {
				t.Fatalf("reading the archive back: %v", err)
			}
			if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
				t.Errorf("platform = %s/%s, want linux/%s (else containerd filters the image out)", cf.OS, cf.Architecture, runtime.GOARCH)
			}
			if diff := cmp.Diff(tt.wantEntrypoint, cf.Config.Entrypoint); diff != "" {
				t.Errorf("entrypoint (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantEnv, cf.Config.Env); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
			var ports []string
			for p := range cf.Config.ExposedPorts {
				ports = append(ports, p)
			}
			if diff := cmp.Diff(tt.wantPorts, ports, cmpSorted()); diff != "" {
				t.Errorf("exposed ports (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteArchiveIsReproducible(t *testing.T) {
	bin := fakeBinary(t, "same content")
	dir := t.TempDir()
	spec := BuildSpec{Binary: bin, Tag: "localhost/web:1"}
	for _, name := range []string{"a.tar", "b.tar"} {
		if err := WriteArchiveFile(spec, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := os.ReadFile(filepath.Join(dir, "a.tar"))
	b, _ := os.ReadFile(filepath.Join(dir, "b.tar"))
	if string(a) != string(b) {
		t.Errorf("two builds of the same binary differ; the pause image would be rebuilt needlessly")
	}
}

func TestWriteArchiveRejects(t *testing.T) {
	tests := []struct {
		name string
		spec BuildSpec
	}{
		{name: "no binary", spec: BuildSpec{Tag: "x:1"}},
		{name: "no tag", spec: BuildSpec{Binary: "/bin/true"}},
		{name: "relative path", spec: BuildSpec{Binary: "/bin/true", Tag: "x:1", Path: "rel"}},
		{name: "bad tag", spec: BuildSpec{Binary: "/bin/true", Tag: "UPPER:1"}},
		{name: "missing binary", spec: BuildSpec{Binary: "/nonexistent/bin", Tag: "x:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := WriteArchiveFile(tt.spec, filepath.Join(t.TempDir(), "x.tar")); err == nil {
				t.Errorf("WriteArchiveFile accepted %+v", tt.spec)
			}
		})
	}
}

func TestNormalizeTag(t *testing.T) {
	tests := []struct{ in, want string }{
		{in: "web:1", want: "docker.io/library/web:1"},
		{in: "localhost/web", want: "localhost/web:latest"},
		{in: "localhost:5000/team/web:2", want: "localhost:5000/team/web:2"},
		{in: "docker.io/me/web:3", want: "docker.io/me/web:3"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NormalizeTag(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("NormalizeTag(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseImported(t *testing.T) {
	out := "unpacking localhost/web:1 (sha256:0123)...done\nunpacking docker.io/library/x:2 (sha256:4567)...done\nsomething else\n"
	if diff := cmp.Diff([]string{"localhost/web:1", "docker.io/library/x:2"}, parseImported(out)); diff != "" {
		t.Errorf("parseImported (-want +got):\n%s", diff)
	}
}

func TestCheckStatic(t *testing.T) {
	tests := []struct {
		name, path, wantErr string
	}{
		{name: "not an ELF file", path: fakeBinary(t, "#!/bin/sh\n"), wantErr: "not an ELF executable"},
		{name: "dynamically linked", path: "/bin/true", wantErr: "dynamically linked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := os.Stat(tt.path); err != nil {
				t.Skipf("%s: %v", tt.path, err)
			}
			err := CheckStatic(tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("CheckStatic(%s) = %v, want an error containing %q", tt.path, err, tt.wantErr)
			}
		})
	}
}

func TestPauseTagFollowsContent(t *testing.T) {
	a, b := fakeBinary(t, "one"), fakeBinary(t, "two")
	ta, err := PauseTag(a)
	if err != nil {
		t.Fatal(err)
	}
	ta2, _ := PauseTag(a)
	tb, _ := PauseTag(b)
	if ta != ta2 || ta == tb {
		t.Errorf("PauseTag: same content %q/%q, different content %q; want equal then different", ta, ta2, tb)
	}
}

func TestEnsureSkipsPresentImage(t *testing.T) {
	rt := fakecri.New()
	rt.AddImage("localhost/navarch/pause:1")
	importerCalled := false
	importer := func(context.Context, string) ([]string, error) { importerCalled = true; return nil, nil }
	built, err := Ensure(context.Background(), rt, importer, BuildSpec{Binary: "/nonexistent", Tag: "localhost/navarch/pause:1"})
	if err != nil || built || importerCalled {
		t.Errorf("Ensure of a present image: built %v, err %v, importer called %v; want nothing done", built, err, importerCalled)
	}
}

func TestList(t *testing.T) {
	rt := fakecri.New()
	for _, ref := range []string{"localhost/b:1", "localhost/a:1"} {
		rt.AddImage(ref)
	}
	list, err := List(context.Background(), rt)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, img := range list {
		got = append(got, img.Tags[0])
	}
	if diff := cmp.Diff([]string{"localhost/a:1", "localhost/b:1"}, got); diff != "" {
		t.Errorf("List order (-want +got):\n%s", diff)
	}
}

func TestWriteEmbeddedPause(t *testing.T) {
	dir := t.TempDir()
	path, tag, err := WriteEmbeddedPause(dir)
	if err != nil {
		t.Skipf("no embedded pause for this architecture: %v", err)
	}
	if err := CheckStatic(path); err != nil {
		t.Errorf("embedded pause: %v", err)
	}
	fileTag, err := PauseTag(path)
	if err != nil || fileTag != tag {
		t.Errorf("tag %q, PauseTag of the written file %q (%v): want equal", tag, fileTag, err)
	}
	again, tagAgain, err := WriteEmbeddedPause(dir)
	if err != nil || again != path || tagAgain != tag {
		t.Errorf("second write = %s %s %v, want the same file and tag", again, tagAgain, err)
	}
	if !strings.HasPrefix(tag, PauseRepository+":") {
		t.Errorf("tag %q not in %s", tag, PauseRepository)
	}
}
