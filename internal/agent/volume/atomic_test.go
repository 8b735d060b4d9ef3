package volume

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// readDir returns the user-visible files of dir (following the
// writer's symlinks) with their contents and modes.
func readVisible(t *testing.T, dir string) map[string]FileProjection {
	t.Helper()
	out := map[string]FileProjection{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var walk func(rel string)
	walk = func(rel string) {
		full := filepath.Join(dir, rel)
		info, err := os.Stat(full)
		if err != nil {
			t.Fatal(err)
		}
		if info.IsDir() {
			children, err := os.ReadDir(full)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range children {
				walk(filepath.Join(rel, c.Name()))
			}
			return
		}
		data, err := os.ReadFile(full)
		if err != nil {
			t.Fatal(err)
		}
		out[rel] = FileProjection{Data: data, Mode: int32(info.Mode().Perm())}
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") {
			continue
		}
		walk(e.Name())
	}
	return out
}

func dataDirs(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") && e.Name() != dataDirName && e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}

func samePayload(got, want map[string]FileProjection) bool {
	if len(got) != len(want) {
		return false
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok || !bytes.Equal(g.Data, w.Data) || g.Mode != w.Mode {
			return false
		}
	}
	return true
}

func TestAtomicWriterWritesUpdatesAndRemoves(t *testing.T) {
	dir := t.TempDir()
	w := AtomicWriter{Dir: dir}
	if w.Ready() {
		t.Fatal("Ready before any write")
	}
	first := map[string]FileProjection{
		"greeting":    {Data: []byte("hello"), Mode: 0o644},
		"secret":      {Data: []byte("s3cret"), Mode: 0o400},
		"nested/deep": {Data: []byte("deep"), Mode: 0o600},
	}
	changed, err := w.Write(first)
	if err != nil || !changed {
		t.Fatalf("first Write = %v, %v; want true, nil", changed, err)
	}
	if !w.Ready() {
		t.Error("not Ready after a write")
	}
	if got := readVisible(t, dir); !samePayload(got, first) {
		t.Errorf("files after the first write = %v, want %v", got, first)
	}
	for name, target := range map[string]string{"greeting": "..data/greeting", "nested": "..data/nested"} {
		if got, err := os.Readlink(filepath.Join(dir, name)); err != nil || got != target {
			t.Errorf("%s links to %q (err %v), want %q", name, got, err, target)
		}
	}
	oldTS, _ := os.Readlink(filepath.Join(dir, dataDirName))

	// Unchanged content: nothing is rewritten.
	changed, err = w.Write(first)
	if err != nil || changed {
		t.Fatalf("same Write = %v, %v; want false, nil", changed, err)
	}
	if ts, _ := os.Readlink(filepath.Join(dir, dataDirName)); ts != oldTS {
		t.Errorf("..data moved from %s to %s for an unchanged payload", oldTS, ts)
	}

	// A changed value, a changed mode, a removed key and a new one.
	second := map[string]FileProjection{
		"greeting": {Data: []byte("bonjour"), Mode: 0o644},
		"secret":   {Data: []byte("s3cret"), Mode: 0o440},
		"added":    {Data: []byte("new"), Mode: 0o644},
	}
	changed, err = w.Write(second)
	if err != nil || !changed {
		t.Fatalf("second Write = %v, %v; want true, nil", changed, err)
	}
	if got := readVisible(t, dir); !samePayload(got, second) {
		t.Errorf("files after the update = %v, want %v", got, second)
	}
	if _, err := os.Lstat(filepath.Join(dir, "nested")); !os.IsNotExist(err) {
		t.Errorf("removed key nested still visible (err %v)", err)
	}
	newTS, _ := os.Readlink(filepath.Join(dir, dataDirName))
	if got := dataDirs(t, dir); !slices.Equal(got, sorted(newTS, oldTS)) {
		t.Errorf("timestamped dirs = %v, want the new %s and the replaced %s", got, newTS, oldTS)
	}
	// The next change removes the replaced one.
	if _, err := w.Write(first); err != nil {
		t.Fatal(err)
	}
	latest, _ := os.Readlink(filepath.Join(dir, dataDirName))
	if got := dataDirs(t, dir); !slices.Equal(got, sorted(latest, newTS)) {
		t.Errorf("timestamped dirs = %v, want %s and %s (%s removed)", got, latest, newTS, oldTS)
	}
	if _, err := w.Write(second); err != nil {
		t.Fatal(err)
	}

	// Everything removed.
	if _, err := w.Write(map[string]FileProjection{}); err != nil {
		t.Fatal(err)
	}
	if got := readVisible(t, dir); len(got) != 0 {
		t.Errorf("files after an empty payload = %v, want none", got)
	}
}

func TestAtomicWriterRefusesBadPaths(t *testing.T) {
	for _, tc := range []struct{ name, path, want string }{
		{"absolute", "/etc/passwd", "invalid path: must be relative path: /etc/passwd"},
		{"leading dotdot", "../escape", "invalid path: must not start with '..': ../escape"},
		{"inner dotdot", "a/../../b", "invalid path: must not contain '..': a/../../b"},
		{"the writer's own name", "..data", "invalid path: must not start with '..': ..data"},
		{"empty", "", "invalid path: must not be empty"},
		{"long file name", strings.Repeat("x", 256), "invalid path: filenames must be less than or equal to 255 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := AtomicWriter{Dir: dir}.Write(map[string]FileProjection{tc.path: {Data: []byte("x"), Mode: 0o644}})
			if err == nil || err.Error() != tc.want {
				t.Errorf("Write(%q) error = %v, want %q", tc.path, err, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("a refused payload left %d entries", len(entries))
			}
		})
	}
}

// TestAtomicWriterNoPartialReads reads a file while it is rewritten over
// and over: every read that opens it sees one whole version, and the
// user-visible name never disappears. (An open may still fail with "no
// such file" when the reader stalls across two whole writes and its
// directory is removed; that is counted, not failed.)
func TestAtomicWriterNoPartialReads(t *testing.T) {
	dir := t.TempDir()
	w := AtomicWriter{Dir: dir}
	versions := [][]byte{bytes.Repeat([]byte("a"), 64*1024), bytes.Repeat([]byte("b"), 32*1024)}
	payload := func(v int) map[string]FileProjection {
		return map[string]FileProjection{"big": {Data: versions[v], Mode: 0o644}, "small": {Data: []byte{byte('0' + v)}, Mode: 0o644}}
	}
	if _, err := w.Write(payload(0)); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var reads, stale atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if _, err := os.Lstat(filepath.Join(dir, "big")); err != nil {
					errs <- "the name disappeared: " + err.Error()
					return
				}
				data, err := os.ReadFile(filepath.Join(dir, "big"))
				if os.IsNotExist(err) {
					stale.Add(1)
					continue
				}
				if err != nil {
					errs <- "read: " + err.Error()
					return
				}
				if !slices.ContainsFunc(versions, func(v []byte) bool { return bytes.Equal(v, data) }) {
					errs <- "a partial or mixed read of " + string(data[:min(8, len(data))]) + "..."
					return
				}
				reads.Add(1)
			}
		}()
	}
	for i := range 300 {
		if _, err := w.Write(payload(i % 2)); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if reads.Load() == 0 {
		t.Error("the readers never read")
	}
	t.Logf("%d whole reads, %d opens of a removed generation", reads.Load(), stale.Load())
	if got := dataDirs(t, dir); len(got) != 2 {
		t.Errorf("timestamped dirs left = %v, want the current and the replaced one", got)
	}
}
