package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEnsureCACreatesCA(t *testing.T) {
	dir := t.TempDir()
	before := time.Now()
	ca, err := EnsureCA(dir)
	if err != nil {
		t.Fatalf("EnsureCA: %v", err)
	}
	cert := ca.Certificate()
	if !cert.IsCA || !cert.BasicConstraintsValid {
		t.Errorf("IsCA = %v, BasicConstraintsValid = %v; want both true", cert.IsCA, cert.BasicConstraintsValid)
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		t.Errorf("CA is not self-signed: %v", err)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("CA public key = %T, want ECDSA P-256", cert.PublicKey)
	}
	if got, want := cert.NotAfter.Sub(before), CAValidity; got < want-time.Minute || got > want+time.Minute {
		t.Errorf("CA valid for %v from now, want about %v", got, want)
	}
	onDisk, err := os.ReadFile(filepath.Join(dir, CACertFileName))
	if err != nil {
		t.Fatal(err)
	}
	if string(onDisk) != string(ca.CertPEM()) {
		t.Errorf("CertPEM() differs from %s on disk", CACertFileName)
	}
	assertMode(t, filepath.Join(dir, CAKeyFileName), 0o600)
	assertMode(t, filepath.Join(dir, CACertFileName), 0o644)
}

func TestEnsureCAReloadsSameCA(t *testing.T) {
	dir := t.TempDir()
	first, err := EnsureCA(dir)
	if err != nil {
		t.Fatalf("first EnsureCA: %v", err)
	}
	files := snapshotDir(t, dir)
	second, err := EnsureCA(dir)
	if err != nil {
		t.Fatalf("second EnsureCA: %v", err)
	}
	if string(second.CertPEM()) != string(first.CertPEM()) {
		t.Errorf("second EnsureCA returned another CA certificate")
	}
	assertSameFiles(t, files, snapshotDir(t, dir))
}

func TestEnsureCAStates(t *testing.T) {
	tests := []struct {
		name string
		// prepare leaves dir in the state under test.
		prepare func(t *testing.T, dir string)
		// wantErr is a substring of the error, or "" for success.
		wantErr string
	}{
		{
			name:    "empty directory",
			prepare: func(t *testing.T, dir string) {},
		},
		{
			name:    "directory does not exist yet",
			prepare: func(t *testing.T, dir string) { removeAll(t, dir) },
		},
		{
			name: "key without certificate is an unfinished first start",
			prepare: func(t *testing.T, dir string) {
				mustEnsureCA(t, dir)
				removeFile(t, filepath.Join(dir, CACertFileName))
			},
		},
		{
			name: "certificate without key",
			prepare: func(t *testing.T, dir string) {
				mustEnsureCA(t, dir)
				removeFile(t, filepath.Join(dir, CAKeyFileName))
			},
			wantErr: "ca.key is missing",
		},
		{
			name: "key of another CA",
			prepare: func(t *testing.T, dir string) {
				mustEnsureCA(t, dir)
				other := t.TempDir()
				mustEnsureCA(t, other)
				copyFile(t, filepath.Join(other, CAKeyFileName), filepath.Join(dir, CAKeyFileName))
			},
			wantErr: "does not belong",
		},
		{
			name: "garbage certificate",
			prepare: func(t *testing.T, dir string) {
				mustEnsureCA(t, dir)
				writeFile(t, filepath.Join(dir, CACertFileName), "not a certificate")
			},
			wantErr: "parse ca.crt",
		},
		{
			name: "expired CA",
			prepare: func(t *testing.T, dir string) {
				issued := time.Now().Add(-CAValidity - 24*time.Hour)
				if _, err := createCA(filepath.Join(dir, CACertFileName), filepath.Join(dir, CAKeyFileName), func() time.Time { return issued }); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: "expired",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "pki")
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			tt.prepare(t, dir)
			ca, err := EnsureCA(dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "pki: ") {
					t.Fatalf("EnsureCA error = %v, want one starting with %q and containing %q", err, "pki: ", tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("EnsureCA: %v", err)
			}
			onDisk, err := os.ReadFile(filepath.Join(dir, CACertFileName))
			if err != nil {
				t.Fatal(err)
			}
			if string(onDisk) != string(ca.CertPEM()) {
				t.Errorf("returned CA differs from %s on disk", CACertFileName)
			}
		})
	}
}

func TestEnsureCATightensKeyMode(t *testing.T) {
	dir := t.TempDir()
	mustEnsureCA(t, dir)
	keyPath := filepath.Join(dir, CAKeyFileName)
	if err := os.Chmod(keyPath, 0o644); err != nil {
		t.Fatal(err)
	}
	mustEnsureCA(t, dir)
	assertMode(t, keyPath, 0o600)
}

// Helpers shared by this package's tests.

func mustEnsureCA(t *testing.T, dir string) *CA {
	t.Helper()
	ca, err := EnsureCA(dir)
	if err != nil {
		t.Fatalf("EnsureCA(%s): %v", dir, err)
	}
	return ca
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("mode of %s = %v, want %v", filepath.Base(path), got, want)
	}
}

// snapshotDir returns the content of every regular file directly in dir.
func snapshotDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := make(map[string]string)
	for _, entry := range entries {
		if !entry.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, entry.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[entry.Name()] = string(data)
	}
	return files
}

func assertSameFiles(t *testing.T, before, after map[string]string) {
	t.Helper()
	for name, content := range before {
		got, ok := after[name]
		switch {
		case !ok:
			t.Errorf("%s disappeared", name)
		case got != content:
			t.Errorf("%s changed:\ngot:\n%s\nwant:\n%s", name, got, content)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("new file %s appeared", name)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func removeFile(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func removeAll(t *testing.T, path string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
}
