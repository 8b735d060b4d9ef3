package cli

import (
	"archive/tar"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// archiveConfig reads the image config and tag of the one image of a
// docker-archive.
func archiveConfig(t *testing.T, archive string) (v1.Config, string) {
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
		files[h.Name], _ = io.ReadAll(tr)
	}
	var manifest []struct {
		Config   string
		RepoTags []string
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) != 1 || len(manifest[0].RepoTags) != 1 {
		t.Fatalf("manifest.json = %s (%v), want one image with one tag", files["manifest.json"], err)
	}
	var cf v1.ConfigFile
	if err := json.Unmarshal(files[manifest[0].Config], &cf); err != nil {
		t.Fatalf("config: %v", err)
	}
	return cf.Config, manifest[0].RepoTags[0]
}

func TestImagesBuildFromRootfs(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "index.html"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "nginx.tar")
	env, stdout, stderr := testEnvironment(nil)
	args := []string{"navarch", "images", "build", "--rootfs", root, "--tag", "localhost/nginx:1.22",
		"--cmd", "nginx,-g,daemon off;", "--env", "PATH=/usr/sbin:/bin,MODE=a", "--workdir", "/srv",
		"--port", "80,443/tcp", "--stop-signal", "quit", "-o", out}
	if code := run(args, env); code != 0 {
		t.Fatalf("exit code %d, want 0; stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	got, tag := archiveConfig(t, out)
	want := v1.Config{
		Cmd: []string{"nginx", "-g", "daemon off;"}, Env: []string{"PATH=/usr/sbin:/bin", "MODE=a"},
		WorkingDir: "/srv", StopSignal: "SIGQUIT", ExposedPorts: map[string]struct{}{"80/tcp": {}, "443/tcp": {}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("image config (-want +got):\n%s", diff)
	}
	if tag != "localhost/nginx:1.22" {
		t.Errorf("tag %q, want localhost/nginx:1.22", tag)
	}
}

func TestImagesBuildErrors(t *testing.T) {
	root := t.TempDir()
	tests := []struct {
		name       string
		args       []string
		wantStderr string
	}{
		{name: "nothing to build from", args: []string{"--tag", "x:1"}, wantStderr: "[binary rootfs] is required"},
		{name: "binary and rootfs", args: []string{"--tag", "x:1", "--binary", "/bin/true", "--rootfs", root}, wantStderr: "none of the others can be"},
		{name: "no tag", args: []string{"--rootfs", root, "--cmd", "sh"}, wantStderr: `"tag" not set`},
		{name: "rootfs without a command", args: []string{"--tag", "x:1", "--rootfs", root}, wantStderr: "needs an entrypoint or a cmd"},
		{name: "missing rootfs", args: []string{"--tag", "x:1", "--rootfs", filepath.Join(root, "nope"), "--cmd", "sh"}, wantStderr: "no such file or directory"},
		{name: "bad stop signal", args: []string{"--tag", "x:1", "--rootfs", root, "--cmd", "sh", "--stop-signal", "SIGBOGUS"}, wantStderr: "no such signal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, _, stderr := testEnvironment(nil)
			args := append([]string{"navarch", "images", "build", "-o", filepath.Join(t.TempDir(), "x.tar")}, tt.args...)
			if code := run(args, env); code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.wantStderr)
			}
		})
	}
}
