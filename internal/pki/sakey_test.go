package pki

import (
	"os"
	"path/filepath"
	"testing"
)

func TestEnsureServiceAccountKeyKeepsKey(t *testing.T) {
	dir := t.TempDir()
	first, err := EnsureServiceAccountKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, ServiceAccountKeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", info.Mode().Perm())
	}
	second, err := EnsureServiceAccountKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Equal(second) {
		t.Error("the key changed across calls")
	}
	if err := os.WriteFile(filepath.Join(dir, ServiceAccountKeyFileName), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureServiceAccountKey(dir); err == nil {
		t.Error("a corrupt key file loaded without error")
	}
}
