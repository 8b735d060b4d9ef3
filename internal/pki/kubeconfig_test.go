package pki

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// TestKubeconfigAuthenticatesOverTLS checks the whole chain a first start
// produces: a client built from the kubeconfig alone (the PKI directory
// deleted) trusts the serving certificate and is accepted by a server that
// requires a client certificate signed by the CA.
func TestKubeconfigAuthenticatesOverTLS(t *testing.T) {
	pkiDir := t.TempDir()
	ca := mustEnsureCA(t, pkiDir)
	if err := ca.EnsureServingCert(pkiDir, "apiserver", []string{"localhost", "127.0.0.1", "::1"}); err != nil {
		t.Fatal(err)
	}
	if err := ca.EnsureClientCert(pkiDir, "admin", "navarch-admin", []string{"system:masters"}); err != nil {
		t.Fatal(err)
	}
	serving, err := tls.LoadX509KeyPair(CertFile(pkiDir, "apiserver"), KeyFile(pkiDir, "apiserver"))
	if err != nil {
		t.Fatal(err)
	}
	server := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer := r.TLS.PeerCertificates[0]
		fmt.Fprintf(w, "%s %s", peer.Subject.CommonName, strings.Join(peer.Subject.Organization, ","))
	}))
	server.TLS = &tls.Config{
		Certificates: []tls.Certificate{serving},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.CertPool(),
	}
	// The handshake errors of the rejected clients below are expected;
	// keep them out of the test log.
	server.Config.ErrorLog = log.New(io.Discard, "", 0)
	server.StartTLS()
	t.Cleanup(server.Close)
	port := mustURL(t, server.URL).Port()

	kubeconfig := filepath.Join(t.TempDir(), "data", "kubeconfig")
	if err := WriteKubeconfig(kubeconfig, server.URL, ca.CertPEM(), CertFile(pkiDir, "admin"), KeyFile(pkiDir, "admin")); err != nil {
		t.Fatalf("WriteKubeconfig: %v", err)
	}
	assertMode(t, kubeconfig, 0o600)
	removeAll(t, pkiDir)

	raw, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatalf("load kubeconfig: %v", err)
	}
	if raw.CurrentContext != "navarch" || raw.Contexts["navarch"] == nil || raw.Contexts["navarch"].Cluster != "navarch" || raw.Contexts["navarch"].AuthInfo != "navarch" {
		t.Errorf("kubeconfig context = %q %+v, want current context navarch naming cluster and user navarch", raw.CurrentContext, raw.Contexts["navarch"])
	}
	admin, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatalf("rest.Config from kubeconfig: %v", err)
	}

	tests := []struct {
		name string
		host string
		// client turns the admin rest.Config into the client under test.
		client   func(admin *rest.Config) *rest.Config
		wantBody string
		wantErr  string
	}{
		{name: "admin by IP", host: "127.0.0.1", client: rest.CopyConfig, wantBody: "navarch-admin system:masters"},
		{name: "admin by DNS name", host: "localhost", client: rest.CopyConfig, wantBody: "navarch-admin system:masters"},
		{
			name: "server name not in certificate",
			host: "127.0.0.1",
			client: func(admin *rest.Config) *rest.Config {
				c := rest.CopyConfig(admin)
				c.TLSClientConfig.ServerName = "example.com"
				return c
			},
			wantErr: "certificate is valid for",
		},
		{
			name: "no client certificate",
			host: "127.0.0.1",
			client: func(admin *rest.Config) *rest.Config {
				c := rest.CopyConfig(admin)
				c.TLSClientConfig.CertData, c.TLSClientConfig.KeyData = nil, nil
				return c
			},
			wantErr: "certificate required",
		},
		{
			name: "client certificate of another CA",
			host: "127.0.0.1",
			client: func(admin *rest.Config) *rest.Config {
				otherDir := t.TempDir()
				other := mustEnsureCA(t, otherDir)
				if err := other.EnsureClientCert(otherDir, "admin", "navarch-admin", []string{"system:masters"}); err != nil {
					t.Fatal(err)
				}
				c := rest.CopyConfig(admin)
				c.TLSClientConfig.CertData = readBytes(t, CertFile(otherDir, "admin"))
				c.TLSClientConfig.KeyData = readBytes(t, KeyFile(otherDir, "admin"))
				return c
			},
			wantErr: "unknown certificate authority",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			config := tt.client(admin)
			config.Host = "https://" + net.JoinHostPort(tt.host, port)
			client, err := rest.HTTPClientFor(config)
			if err != nil {
				t.Fatalf("HTTPClientFor: %v", err)
			}
			resp, err := client.Get(config.Host + "/whoami")
			if tt.wantErr != "" {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("GET succeeded with status %s, want an error containing %q", resp.Status, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("GET error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if string(body) != tt.wantBody {
				t.Errorf("server saw client %q, want %q", body, tt.wantBody)
			}
		})
	}
}

func TestWriteKubeconfigRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	ca := mustEnsureCA(t, dir)
	if err := ca.EnsureClientCert(dir, "admin", "navarch-admin", []string{"system:masters"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		serverURL string
		caPEM     []byte
		certFile  string
	}{
		{name: "relative server URL", serverURL: "127.0.0.1:6443", caPEM: ca.CertPEM(), certFile: CertFile(dir, "admin")},
		{name: "no CA", serverURL: "https://127.0.0.1:6443", certFile: CertFile(dir, "admin")},
		{name: "missing certificate file", serverURL: "https://127.0.0.1:6443", caPEM: ca.CertPEM(), certFile: CertFile(dir, "nobody")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kubeconfig")
			err := WriteKubeconfig(path, tt.serverURL, tt.caPEM, tt.certFile, KeyFile(dir, "admin"))
			if err == nil || !strings.HasPrefix(err.Error(), "pki: ") {
				t.Fatalf("WriteKubeconfig error = %v, want a pki: error", err)
			}
			if _, statErr := os.Stat(path); !os.IsNotExist(statErr) {
				t.Errorf("kubeconfig written despite the error (stat: %v)", statErr)
			}
		})
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func readBytes(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
