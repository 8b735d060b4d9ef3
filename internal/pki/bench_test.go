package pki

import (
	"path/filepath"
	"testing"
)

// ensureServerPKI does what `navarch server` does with this package at
// every start.
func ensureServerPKI(b *testing.B, dir string) {
	ca, err := EnsureCA(dir)
	if err != nil {
		b.Fatal(err)
	}
	if err := ca.EnsureServingCert(dir, "apiserver", serverHosts); err != nil {
		b.Fatal(err)
	}
	if err := ca.EnsureClientCert(dir, "admin", "navarch-admin", []string{"system:masters"}); err != nil {
		b.Fatal(err)
	}
	if err := WriteKubeconfig(filepath.Join(dir, "kubeconfig"), "https://127.0.0.1:6443", ca.CertPEM(), CertFile(dir, "admin"), KeyFile(dir, "admin")); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkFirstStart: create the CA, a serving and a client certificate
// and the kubeconfig in an empty directory.
func BenchmarkFirstStart(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		b.StartTimer()
		ensureServerPKI(b, dir)
	}
}

// BenchmarkRestart: the same calls when everything is already there and
// kept.
func BenchmarkRestart(b *testing.B) {
	dir := b.TempDir()
	ensureServerPKI(b, dir)
	for b.Loop() {
		ensureServerPKI(b, dir)
	}
}
