package cli

import (
	"bytes"
	"runtime"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/navarch/navarch/internal/version"
)

// testEnvironment returns an environment whose streams are buffers and
// whose variables are vars (nothing else is set).
func testEnvironment(vars map[string]string) (env environment, stdout, stderr *bytes.Buffer) {
	stdout, stderr = &bytes.Buffer{}, &bytes.Buffer{}
	env = environment{
		streams: genericiooptions.IOStreams{In: strings.NewReader(""), Out: stdout, ErrOut: stderr},
		getenv:  func(key string) string { return vars[key] },
	}
	return env, stdout, stderr
}

func TestVersionCommand(t *testing.T) {
	env, stdout, stderr := testEnvironment(nil)
	if code := run([]string{"navarch", "version"}, env); code != 0 {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{version.Navarch(), version.Kubernetes, runtime.Version()} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("version output %q lacks %q", stdout, want)
		}
	}
}

func TestRootCommandErrors(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantStderr string
	}{
		{name: "unknown command", args: []string{"navarch", "bogus"}, wantStderr: `unknown command "bogus"`},
		{name: "version takes no arguments", args: []string{"navarch", "version", "extra"}, wantStderr: "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, _, stderr := testEnvironment(nil)
			if code := run(tt.args, env); code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.wantStderr)
			}
		})
	}
}

func TestRootHelpListsCommands(t *testing.T) {
	env, stdout, stderr := testEnvironment(nil)
	if code := run([]string{"navarch", "--help"}, env); code != 0 {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"agent", "images", "version"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("help lacks command %q; got:\n%s", want, stdout)
		}
	}
}
