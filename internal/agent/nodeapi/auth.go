package nodeapi

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// APIServerUser is the common name of the only client certificate the
// endpoint serves: the API server's kubelet client (upstream's
// kube-apiserver-kubelet-client).
const APIServerUser = "kube-apiserver-kubelet-client"

// Files of the self-signed serving certificate under Config.CertDir.
const (
	ServingCertFile = "kubelet.crt"
	ServingKeyFile  = "kubelet.key"
)

// servingValidity is how long a new serving certificate is valid;
// renewBefore is how close to its expiry an existing one is replaced.
const (
	servingValidity = 365 * 24 * time.Hour
	renewBefore     = 30 * 24 * time.Hour
)

// ensureServingCert loads the serving certificate kept in dir, or creates
// a self-signed one for hosts (IPs and DNS names) when there is none, it
// cannot be parsed, or it expires within renewBefore. A certificate that
// lacks one of hosts is replaced too (the node IP changed).
func ensureServingCert(dir string, hosts []string, now time.Time) (tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, ServingCertFile), filepath.Join(dir, ServingKeyFile)
	if cert, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil && servingCertFits(cert, hosts, now) {
		return cert, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("nodeapi: certificate dir: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("nodeapi: serving key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("nodeapi: serial: %w", err)
	}
	name := "navarch-agent"
	if len(hosts) > 0 {
		name = hosts[0]
	}
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: fmt.Sprintf("%s@%d", name, now.Unix())},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(servingValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			template.IPAddresses = append(template.IPAddresses, ip)
		} else if h != "" {
			template.DNSNames = append(template.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("nodeapi: serving certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("nodeapi: serving key: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	// Key first, each through a rename: a crash in between leaves a pair
	// that does not match, which the next start replaces.
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("nodeapi: serving certificate: %w", err)
	}
	return cert, nil
}

// servingCertFits reports whether cert is still valid for a while and
// covers every host.
func servingCertFits(cert tls.Certificate, hosts []string, now time.Time) bool {
	if len(cert.Certificate) == 0 {
		return false
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil || now.Before(leaf.NotBefore) || leaf.NotAfter.Sub(now) < renewBefore {
		return false
	}
	for _, h := range hosts {
		if h != "" && leaf.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err != nil {
		return fmt.Errorf("nodeapi: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("nodeapi: writing %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("nodeapi: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("nodeapi: writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("nodeapi: %w", err)
	}
	return nil
}

// tlsConfig serves cert and verifies client certificates given against
// the CA in caPEM. A client may connect without a certificate (it then
// gets 401 from authorize, as the kubelet answers), but a certificate
// that does not verify fails the handshake.
func tlsConfig(cert tls.Certificate, caPEM []byte) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("nodeapi: the client CA holds no PEM certificate")
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
		// Upgraded connections (exec, attach, port-forward) need HTTP/1.1.
		NextProtos: []string{"http/1.1"},
	}, nil
}

// authorize lets through requests from the API server's kubelet client
// only: 401 without a verified client certificate, 403 for any other
// identity (with the kubelet's message).
func authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		user := r.TLS.VerifiedChains[0][0].Subject.CommonName
		if user != APIServerUser {
			verb := "get"
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				verb = "create"
			}
			http.Error(w, fmt.Sprintf("Forbidden (user=%s, verb=%s, resource=nodes, subresource=proxy)", user, verb), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}
