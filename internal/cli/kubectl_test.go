//go:build !agentonly

package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	apimachineryversion "k8s.io/apimachinery/pkg/version"
	componentbaseversion "k8s.io/component-base/version"
)

func TestRootHelpListsKubectl(t *testing.T) {
	env, stdout, stderr := testEnvironment(nil)
	if code := run([]string{"navarch", "--help"}, env); code != 0 {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"kubectl", "server"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("help lacks command %q; got:\n%s", want, stdout)
		}
	}
}

// isolateKubectl keeps the real environment from leaking into kubectl:
// no KUBECONFIG, no kuberc, a home without ~/.kube.
func isolateKubectl(t *testing.T) {
	t.Helper()
	t.Setenv("KUBECONFIG", "")
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBERC", "off")
}

func TestKubectlVersionClient(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{name: "navarch kubectl", args: []string{"navarch", "kubectl", "version", "--client", "-o", "json"}},
		{name: "symlink named kubectl", args: []string{"/usr/local/bin/kubectl", "version", "--client", "-o", "json"}},
		{name: "kubectl flags before the subcommand", args: []string{"navarch", "kubectl", "--request-timeout=5s", "-v=0", "version", "--client", "--output=json"}},
	}
	want := componentbaseversion.Get().GitVersion
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateKubectl(t)
			env, stdout, stderr := testEnvironment(nil)
			argsBefore := append([]string(nil), os.Args...)

			if code := run(tt.args, env); code != 0 {
				t.Fatalf("exit code %d, want 0; stderr:\n%s", code, stderr)
			}

			var got struct {
				ClientVersion    *apimachineryversion.Info `json:"clientVersion"`
				ServerVersion    *apimachineryversion.Info `json:"serverVersion"`
				KustomizeVersion string                    `json:"kustomizeVersion"`
			}
			if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
				t.Fatalf("kubectl output is not the version JSON: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
			}
			if got.ClientVersion == nil {
				t.Fatalf("no clientVersion in:\n%s", stdout)
			}
			if got.ClientVersion.GitVersion != want {
				t.Errorf("clientVersion.gitVersion = %q, want %q", got.ClientVersion.GitVersion, want)
			}
			if got.ClientVersion.GoVersion != runtime.Version() {
				t.Errorf("clientVersion.goVersion = %q, want %q", got.ClientVersion.GoVersion, runtime.Version())
			}
			if got.ServerVersion != nil {
				t.Errorf("serverVersion = %+v, want none with --client", got.ServerVersion)
			}
			if got.KustomizeVersion == "" {
				t.Errorf("kustomizeVersion is empty")
			}
			if strings.Join(os.Args, " ") != strings.Join(argsBefore, " ") {
				t.Errorf("os.Args = %q after the call, want it restored to %q", os.Args, argsBefore)
			}
		})
	}
}

func TestKubectlHelp(t *testing.T) {
	isolateKubectl(t)
	env, stdout, stderr := testEnvironment(nil)
	if code := run([]string{"navarch", "kubectl", "--help"}, env); code != 0 {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", code, stderr)
	}
	// kubectl's help, not the help of navarch's kubectl wrapper.
	for _, want := range []string{"kubectl controls the Kubernetes cluster manager", "Basic Commands (Beginner):"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("help output lacks %q; got:\n%s", want, stdout)
		}
	}
}

// TestKubectlUsesDataDirKubeconfig runs `kubectl config view`, which has
// its own --kubeconfig flag, to check that the data-directory kubeconfig
// reaches every part of kubectl.
func TestKubectlUsesDataDirKubeconfig(t *testing.T) {
	isolateKubectl(t)
	dataDir := t.TempDir()
	kubeconfig := `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:1
contexts:
- name: from-data-dir
  context:
    cluster: c
    user: u
current-context: from-data-dir
users:
- name: u
  user: {}
`
	if err := os.WriteFile(filepath.Join(dataDir, "kubeconfig"), []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	env, stdout, stderr := testEnvironment(map[string]string{"NAVARCH_DATA_DIR": dataDir})

	if code := run([]string{"navarch", "kubectl", "config", "view", "-o", "jsonpath={.current-context}"}, env); code != 0 {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", code, stderr)
	}
	if got, want := strings.TrimSpace(stdout.String()), "from-data-dir"; got != want {
		t.Errorf("current context = %q, want %q; stderr:\n%s", got, want, stderr)
	}
	if got := os.Getenv("KUBECONFIG"); got != "" {
		t.Errorf("KUBECONFIG = %q after the call, want it restored to empty", got)
	}
}

func TestDefaultKubeconfig(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		existing []string
		want     string
	}{
		{
			name:     "KUBECONFIG wins over the data directory",
			env:      map[string]string{"KUBECONFIG": "/home/me/.kube/other", "NAVARCH_DATA_DIR": "/srv/navarch"},
			existing: []string{"/srv/navarch/kubeconfig"},
			want:     "/home/me/.kube/other",
		},
		{
			name: "KUBECONFIG list passed on unchanged",
			env:  map[string]string{"KUBECONFIG": "/a/config:/b/config"},
			want: "/a/config:/b/config",
		},
		{
			name:     "NAVARCH_DATA_DIR kubeconfig exists",
			env:      map[string]string{"NAVARCH_DATA_DIR": "/srv/navarch"},
			existing: []string{"/srv/navarch/kubeconfig"},
			want:     "/srv/navarch/kubeconfig",
		},
		{
			name:     "NAVARCH_DATA_DIR without kubeconfig falls back to kubectl",
			env:      map[string]string{"NAVARCH_DATA_DIR": "/srv/navarch"},
			existing: []string{"/var/lib/navarch/kubeconfig"},
			want:     "",
		},
		{
			name:     "default data directory kubeconfig exists",
			existing: []string{"/var/lib/navarch/kubeconfig"},
			want:     "/var/lib/navarch/kubeconfig",
		},
		{
			name:     "empty KUBECONFIG counts as unset",
			env:      map[string]string{"KUBECONFIG": ""},
			existing: []string{"/var/lib/navarch/kubeconfig"},
			want:     "/var/lib/navarch/kubeconfig",
		},
		{
			name: "nothing anywhere leaves kubectl's own default",
			want: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(key string) string { return tt.env[key] }
			exists := func(path string) bool {
				for _, p := range tt.existing {
					if p == path {
						return true
					}
				}
				return false
			}
			if got := defaultKubeconfig(getenv, exists); got != tt.want {
				t.Errorf("defaultKubeconfig = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestInvokedAsKubectl(t *testing.T) {
	tests := []struct {
		argv0 string
		want  bool
	}{
		{argv0: "kubectl", want: true},
		{argv0: "/usr/local/bin/kubectl", want: true},
		{argv0: "./_output/kubectl", want: true},
		{argv0: `kubectl.exe`, want: true},
		{argv0: "navarch"},
		{argv0: "/usr/bin/navarch"},
		{argv0: "kubectl-navarch"},
		{argv0: "/opt/kubectl/navarch"},
	}
	for _, tt := range tests {
		t.Run(tt.argv0, func(t *testing.T) {
			if got := invokedAsKubectl(tt.argv0); got != tt.want {
				t.Errorf("invokedAsKubectl(%q) = %v, want %v", tt.argv0, got, tt.want)
			}
		})
	}
}
