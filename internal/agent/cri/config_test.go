package cri

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestContainerdConfigGolden(t *testing.T) {
	cfg := ContainerdConfig{Dir: "/var/lib/navarch/agent/containerd", SandboxImage: "localhost/navarch/pause:0123456789abcdef",
		CNIBinDir: "/usr/lib/cni", CNIConfDir: "/var/lib/navarch/agent/cni/net.d"}
	got, err := cfg.Render()
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	golden := filepath.Join("testdata", "config.toml")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("golden file (run with -update to create): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("config.toml (-want +got):\n%s", diff)
	}
	for _, must := range []string{"restrict_oom_score_adj = true", "SystemdCgroup = false"} {
		if !strings.Contains(string(got), must) {
			t.Errorf("config lacks %q", must)
		}
	}
}

func TestContainerdConfigRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  ContainerdConfig
	}{
		{name: "relative dir", cfg: ContainerdConfig{Dir: "rel", SandboxImage: "p", CNIBinDir: "/b", CNIConfDir: "/c"}},
		{name: "no sandbox image", cfg: ContainerdConfig{Dir: "/d", CNIBinDir: "/b", CNIConfDir: "/c"}},
		{name: "relative CNI conf dir", cfg: ContainerdConfig{Dir: "/d", SandboxImage: "p", CNIBinDir: "/b", CNIConfDir: "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.cfg.Render(); err == nil {
				t.Errorf("Render accepted %+v", tt.cfg)
			}
		})
	}
}

func TestSocketPath(t *testing.T) {
	tests := []struct {
		endpoint, want string
		wantErr        bool
	}{
		{endpoint: "unix:///run/containerd/containerd.sock", want: "/run/containerd/containerd.sock"},
		{endpoint: "/run/x.sock", want: "/run/x.sock"},
		{endpoint: "tcp://127.0.0.1:1234", wantErr: true},
		{endpoint: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			got, err := SocketPath(tt.endpoint)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("SocketPath(%q) = %q, %v; want %q, error %v", tt.endpoint, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestCheckDependenciesNamesDebianPackages(t *testing.T) {
	err := CheckDependencies(t.TempDir())
	if !errors.Is(err, ErrMissingDependency) {
		t.Fatalf("CheckDependencies(empty dir) = %v, want ErrMissingDependency", err)
	}
	for _, want := range []string{"bridge", "host-local", "apt-get install -y", "containernetworking-plugins"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
