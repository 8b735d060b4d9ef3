package volume

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// subPathTree builds a volume root with symlinks that stay inside it and
// symlinks that escape, and returns the root (symlinks resolved).
func subPathTree(t *testing.T) string {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "dir", "sub"), 0o755))
	must(os.WriteFile(filepath.Join(root, "dir", "file"), []byte("inside"), 0o644))
	for link, target := range map[string]string{
		"inner":      "dir",
		"innerabs":   filepath.Join(root, "dir"),
		"evil":       "/",
		"evilabs":    "/etc",
		"up":         "..",
		"sneaky":     "dir/../../" + filepath.Base(root) + "/dir",
		"dir/back":   "../dir/file",
		"dir/escape": "../../etc",
		"chain1":     "chain2",
		"chain2":     "dir",
		"loop1":      "loop2",
		"loop2":      "loop1",
	} {
		must(os.Symlink(target, filepath.Join(root, link)))
	}
	return root
}

func TestResolveInRoot(t *testing.T) {
	root := subPathTree(t)
	for _, tc := range []struct {
		name, subPath string
		want          []string
		escapes       bool
		fails         bool
	}{
		{name: "plain", subPath: "dir/file", want: []string{"dir", "file"}},
		{name: "dot components", subPath: "./dir/./sub/", want: []string{"dir", "sub"}},
		{name: "relative symlink inside", subPath: "inner/file", want: []string{"dir", "file"}},
		{name: "absolute symlink inside", subPath: "innerabs/sub", want: []string{"dir", "sub"}},
		{name: "symlink with .. staying inside", subPath: "dir/back", want: []string{"dir", "file"}},
		{name: "chain of symlinks", subPath: "chain1", want: []string{"dir"}},
		{name: "missing components kept", subPath: "inner/new/deeper", want: []string{"dir", "new", "deeper"}},
		{name: "symlink to /", subPath: "evil", escapes: true},
		{name: "below a symlink to /", subPath: "evil/etc/passwd", escapes: true},
		{name: "absolute symlink outside", subPath: "evilabs", escapes: true},
		{name: "symlink to ..", subPath: "up", escapes: true},
		{name: "symlink leaving and coming back", subPath: "sneaky", escapes: true},
		{name: "nested symlink outside", subPath: "dir/escape", escapes: true},
		{name: "absolute subPath", subPath: "/etc", escapes: true},
		{name: "symlink loop", subPath: "loop1", fails: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolveInRoot(root, tc.subPath)
			switch {
			case tc.escapes:
				if !errors.Is(err, errOutsideVolume) {
					t.Errorf("resolveInRoot(%q) = %v, %v; want errOutsideVolume", tc.subPath, got, err)
				}
			case tc.fails:
				if err == nil {
					t.Errorf("resolveInRoot(%q) = %v, want an error", tc.subPath, got)
				}
			case err != nil || !slices.Equal(got, tc.want):
				t.Errorf("resolveInRoot(%q) = %v, %v; want %v", tc.subPath, got, err, tc.want)
			}
		})
	}
}

func TestOpenInRootRefusesSymlinks(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	root := subPathTree(t)
	// What resolveInRoot returned could have been swapped for a symlink
	// since: opening it must not follow one.
	for _, parts := range [][]string{{"evil"}, {"inner", "file"}, {"dir", "escape"}} {
		fd, err := openInRoot(root, parts, 0o755)
		if err == nil {
			unix.Close(fd)
			t.Errorf("openInRoot(%v) succeeded, want a refusal of the symlink", parts)
		} else if !errors.Is(err, errOutsideVolume) && !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("openInRoot(%v) = %v, want a symlink refusal", parts, err)
		}
	}
	fd, err := openInRoot(root, []string{"dir", "made", "here"}, 0o750)
	if err != nil {
		t.Fatalf("openInRoot creating directories: %v", err)
	}
	unix.Close(fd)
	if info, err := os.Stat(filepath.Join(root, "dir", "made", "here")); err != nil || !info.IsDir() {
		t.Errorf("missing directories not created: %v", err)
	}
}

func TestExpandSubPathExpr(t *testing.T) {
	env := map[string]string{"POD_NAME": "web-0", "NS": "default", "EMPTY": ""}
	for _, tc := range []struct{ expr, want, err string }{
		{expr: "logs/$(POD_NAME)", want: "logs/web-0"},
		{expr: "$(NS)/$(POD_NAME)", want: "default/web-0"},
		{expr: "cost$$/$(POD_NAME)", want: "cost$/web-0"},
		{expr: "plain", want: "plain"},
		{expr: "$(MISSING)/$(EMPTY)/$(POD_NAME)", err: "missing value for EMPTY, MISSING"},
	} {
		got, err := expandSubPathExpr(tc.expr, env)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tc.want || gotErr != tc.err {
			t.Errorf("expandSubPathExpr(%q) = %q, %q; want %q, %q", tc.expr, got, gotErr, tc.want, tc.err)
		}
	}
}
