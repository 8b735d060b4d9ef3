package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// serverHosts is what `navarch server` asks its serving certificate to
// cover, with a host IP stand-in.
var serverHosts = []string{
	"localhost", "127.0.0.1", "::1", "192.0.2.10",
	"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
	"10.43.0.1",
}

func TestServingCertVerifiesForEachSAN(t *testing.T) {
	dir := t.TempDir()
	ca := mustEnsureCA(t, dir)
	if err := ca.EnsureServingCert(dir, "apiserver", serverHosts); err != nil {
		t.Fatalf("EnsureServingCert: %v", err)
	}
	cert := readCert(t, CertFile(dir, "apiserver"))
	if cert.Subject.CommonName != "apiserver" {
		t.Errorf("CommonName = %q, want %q", cert.Subject.CommonName, "apiserver")
	}
	for _, host := range serverHosts {
		t.Run(host, func(t *testing.T) {
			_, err := cert.Verify(x509.VerifyOptions{
				DNSName:   host,
				Roots:     ca.CertPool(),
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			})
			if err != nil {
				t.Errorf("Verify for %s: %v", host, err)
			}
		})
	}
	t.Run("host not asked for", func(t *testing.T) {
		_, err := cert.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: ca.CertPool()})
		if err == nil {
			t.Errorf("Verify for example.com succeeded, want a hostname error")
		}
	})
	t.Run("key matches certificate", func(t *testing.T) {
		key := readKey(t, KeyFile(dir, "apiserver"))
		if !key.PublicKey.Equal(cert.PublicKey) {
			t.Errorf("apiserver.key does not match apiserver.crt")
		}
	})
	assertMode(t, KeyFile(dir, "apiserver"), 0o600)
	assertMode(t, CertFile(dir, "apiserver"), 0o644)
}

func TestServingCertReuseOrReissue(t *testing.T) {
	initialHosts := []string{"localhost", "127.0.0.1", "kubernetes.default.svc"}
	tests := []struct {
		name string
		// prepare runs after the first EnsureServingCert(initialHosts).
		prepare     func(t *testing.T, ca *CA, dir string)
		hosts       []string
		wantReissue bool
	}{
		{name: "same hosts", hosts: initialHosts},
		{name: "same hosts in another order and case", hosts: []string{"Kubernetes.Default.Svc.", "127.0.0.1", "LOCALHOST"}},
		{name: "fewer hosts", hosts: []string{"127.0.0.1"}},
		{name: "IPv4 written as IPv6-mapped", hosts: []string{"::ffff:127.0.0.1"}},
		{name: "new DNS name", hosts: append(slices.Clone(initialHosts), "navarch.example.com"), wantReissue: true},
		{name: "new IP", hosts: append(slices.Clone(initialHosts), "192.0.2.7"), wantReissue: true},
		{name: "new IPv6 in brackets", hosts: append(slices.Clone(initialHosts), "[2001:db8::1]"), wantReissue: true},
		{
			name: "expires within RenewBefore",
			prepare: func(t *testing.T, ca *CA, dir string) {
				issueAt(t, ca, time.Now().Add(-(LeafValidity - RenewBefore + 24*time.Hour)), func() error {
					return os.Remove(CertFile(dir, "apiserver"))
				}, func() error { return ca.EnsureServingCert(dir, "apiserver", initialHosts) })
			},
			hosts:       initialHosts,
			wantReissue: true,
		},
		{
			name: "expires after RenewBefore",
			prepare: func(t *testing.T, ca *CA, dir string) {
				issueAt(t, ca, time.Now().Add(-(LeafValidity - RenewBefore - 24*time.Hour)), func() error {
					return os.Remove(CertFile(dir, "apiserver"))
				}, func() error { return ca.EnsureServingCert(dir, "apiserver", initialHosts) })
			},
			hosts: initialHosts,
		},
		{
			name: "signed by another CA",
			prepare: func(t *testing.T, _ *CA, dir string) {
				other := mustEnsureCA(t, t.TempDir())
				if err := os.Remove(CertFile(dir, "apiserver")); err != nil {
					t.Fatal(err)
				}
				if err := other.EnsureServingCert(dir, "apiserver", initialHosts); err != nil {
					t.Fatal(err)
				}
			},
			hosts:       initialHosts,
			wantReissue: true,
		},
		{
			name: "key replaced",
			prepare: func(t *testing.T, _ *CA, dir string) {
				key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				keyPEM, err := encodeKeyPEM(key)
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, KeyFile(dir, "apiserver"), string(keyPEM))
			},
			hosts:       initialHosts,
			wantReissue: true,
		},
		{
			name:        "certificate file corrupt",
			prepare:     func(t *testing.T, _ *CA, dir string) { writeFile(t, CertFile(dir, "apiserver"), "garbage") },
			hosts:       initialHosts,
			wantReissue: true,
		},
		{
			name:        "key file missing",
			prepare:     func(t *testing.T, _ *CA, dir string) { removeFile(t, KeyFile(dir, "apiserver")) },
			hosts:       initialHosts,
			wantReissue: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ca := mustEnsureCA(t, dir)
			if err := ca.EnsureServingCert(dir, "apiserver", initialHosts); err != nil {
				t.Fatalf("first EnsureServingCert: %v", err)
			}
			if tt.prepare != nil {
				tt.prepare(t, ca, dir)
			}
			before := snapshotDir(t, dir)

			if err := ca.EnsureServingCert(dir, "apiserver", tt.hosts); err != nil {
				t.Fatalf("EnsureServingCert(%v): %v", tt.hosts, err)
			}

			after := snapshotDir(t, dir)
			reissued := after["apiserver.crt"] != before["apiserver.crt"]
			if reissued != tt.wantReissue {
				t.Errorf("reissued = %v, want %v", reissued, tt.wantReissue)
			}
			if !tt.wantReissue && after["apiserver.key"] != before["apiserver.key"] {
				t.Errorf("key changed although the certificate was kept")
			}
			// Whatever happened, the result must serve every wanted host
			// and match its key.
			cert := readCert(t, CertFile(dir, "apiserver"))
			if !readKey(t, KeyFile(dir, "apiserver")).PublicKey.Equal(cert.PublicKey) {
				t.Errorf("key does not match certificate")
			}
			for _, host := range tt.hosts {
				host = strings.Trim(host, "[]")
				if _, err := cert.Verify(x509.VerifyOptions{DNSName: host, Roots: ca.CertPool()}); err != nil {
					t.Errorf("Verify for %s: %v", host, err)
				}
			}
			if got := cert.NotAfter.Sub(time.Now()); got < RenewBefore {
				t.Errorf("certificate expires in %v, want more than %v", got, RenewBefore)
			}
		})
	}
}

func TestClientCertReuseOrReissue(t *testing.T) {
	tests := []struct {
		name          string
		commonName    string
		organizations []string
		wantReissue   bool
	}{
		{name: "same subject", commonName: "navarch-admin", organizations: []string{"system:masters", "team-a"}},
		{name: "organizations reordered", commonName: "navarch-admin", organizations: []string{"team-a", "system:masters"}},
		{name: "other common name", commonName: "root", organizations: []string{"system:masters", "team-a"}, wantReissue: true},
		{name: "organization dropped", commonName: "navarch-admin", organizations: []string{"system:masters"}, wantReissue: true},
		{name: "organization added", commonName: "navarch-admin", organizations: []string{"system:masters", "team-a", "team-b"}, wantReissue: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ca := mustEnsureCA(t, dir)
			if err := ca.EnsureClientCert(dir, "admin", "navarch-admin", []string{"system:masters", "team-a"}); err != nil {
				t.Fatalf("first EnsureClientCert: %v", err)
			}
			before := snapshotDir(t, dir)
			if err := ca.EnsureClientCert(dir, "admin", tt.commonName, tt.organizations); err != nil {
				t.Fatalf("EnsureClientCert: %v", err)
			}
			after := snapshotDir(t, dir)
			if reissued := after["admin.crt"] != before["admin.crt"]; reissued != tt.wantReissue {
				t.Errorf("reissued = %v, want %v", reissued, tt.wantReissue)
			}
			cert := readCert(t, CertFile(dir, "admin"))
			if cert.Subject.CommonName != tt.commonName {
				t.Errorf("CommonName = %q, want %q", cert.Subject.CommonName, tt.commonName)
			}
			if !sameStringSet(cert.Subject.Organization, tt.organizations) {
				t.Errorf("Organization = %q, want %q in any order", cert.Subject.Organization, tt.organizations)
			}
		})
	}
}

func TestClientCertUsage(t *testing.T) {
	dir := t.TempDir()
	ca := mustEnsureCA(t, dir)
	if err := ca.EnsureClientCert(dir, "node-a", "system:node:a", []string{"system:nodes"}); err != nil {
		t.Fatalf("EnsureClientCert: %v", err)
	}
	cert := readCert(t, CertFile(dir, "node-a"))
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.CertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("Verify as client certificate: %v", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.CertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Errorf("client certificate also verifies as a serving certificate")
	}
	if got, want := cert.NotAfter.Sub(cert.NotBefore), LeafValidity+clockSkew; got != want {
		t.Errorf("validity = %v, want %v", got, want)
	}
	assertMode(t, KeyFile(dir, "node-a"), 0o600)
}

func TestEnsureIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	ensureAll := func() {
		t.Helper()
		ca := mustEnsureCA(t, dir)
		if err := ca.EnsureServingCert(dir, "apiserver", serverHosts); err != nil {
			t.Fatalf("EnsureServingCert: %v", err)
		}
		if err := ca.EnsureClientCert(dir, "admin", "navarch-admin", []string{"system:masters"}); err != nil {
			t.Fatalf("EnsureClientCert: %v", err)
		}
		if err := WriteKubeconfig(filepath.Join(dir, "kubeconfig"), "https://127.0.0.1:6443", ca.CertPEM(), CertFile(dir, "admin"), KeyFile(dir, "admin")); err != nil {
			t.Fatalf("WriteKubeconfig: %v", err)
		}
	}
	ensureAll()
	first := snapshotDir(t, dir)
	wantFiles := []string{"admin.crt", "admin.key", "apiserver.crt", "apiserver.key", "ca.crt", "ca.key", "kubeconfig"}
	if diff := cmp.Diff(wantFiles, sortedKeys(first)); diff != "" {
		t.Errorf("files after first start (-want +got):\n%s", diff)
	}
	ensureAll()
	assertSameFiles(t, first, snapshotDir(t, dir))
}

func TestParseHosts(t *testing.T) {
	tests := []struct {
		name      string
		hosts     []string
		wantDNS   []string
		wantIPs   []string
		wantError bool
	}{
		{
			name:    "mixed",
			hosts:   []string{"localhost", "127.0.0.1", "::1", "kubernetes.default.svc"},
			wantDNS: []string{"localhost", "kubernetes.default.svc"},
			wantIPs: []string{"127.0.0.1", "::1"},
		},
		{
			name:    "duplicates, case, trailing dot, blanks and brackets",
			hosts:   []string{"Example.COM.", "example.com", " ", "[2001:db8::1]", "2001:db8::1", "10.0.0.1", "::ffff:10.0.0.1"},
			wantDNS: []string{"example.com"},
			wantIPs: []string{"2001:db8::1", "10.0.0.1"},
		},
		{name: "wildcard", hosts: []string{"*.apps.example.com"}, wantDNS: []string{"*.apps.example.com"}},
		{name: "not a host", hosts: []string{"has space"}, wantError: true},
		{name: "nothing", hosts: []string{"", " "}, wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dns, ips, err := parseHosts(tt.hosts)
			if tt.wantError {
				if err == nil {
					t.Fatalf("parseHosts(%q) = %q, %v; want an error", tt.hosts, dns, ips)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseHosts(%q): %v", tt.hosts, err)
			}
			var gotIPs []string
			for _, ip := range ips {
				gotIPs = append(gotIPs, ip.String())
				if ip.To4() != nil && len(ip) != net.IPv4len {
					t.Errorf("IPv4 address %s has %d bytes, want 4", ip, len(ip))
				}
			}
			if diff := cmp.Diff(tt.wantDNS, dns); diff != "" {
				t.Errorf("DNS names (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantIPs, gotIPs); diff != "" {
				t.Errorf("IPs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnsureLeafRejectsPathNames(t *testing.T) {
	dir := t.TempDir()
	ca := mustEnsureCA(t, dir)
	for _, name := range []string{"", "../escape", "a/b", ".."} {
		t.Run(name, func(t *testing.T) {
			if err := ca.EnsureClientCert(dir, name, "user", nil); err == nil {
				t.Errorf("EnsureClientCert(name %q) succeeded, want an error", name)
			}
		})
	}
}

// issueAt removes what must be reissued, then runs ensure with the CA's
// clock set to at, so the new certificate looks issued at that time.
func issueAt(t *testing.T, ca *CA, at time.Time, remove, ensure func() error) {
	t.Helper()
	if err := remove(); err != nil {
		t.Fatal(err)
	}
	realNow := ca.now
	ca.now = func() time.Time { return at }
	defer func() { ca.now = realNow }()
	if err := ensure(); err != nil {
		t.Fatal(err)
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := parseCertPEM(data)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return cert
}

func readKey(t *testing.T, path string) *ecdsa.PrivateKey {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	key, err := parseKeyPEM(data)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return key
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
