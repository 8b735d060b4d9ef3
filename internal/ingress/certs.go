package ingress

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// certStore answers TLS handshakes with the certificate of the Secret the
// Ingresses name for the SNI host, or a self-signed default.
type certStore struct {
	secrets  corelisters.SecretLister
	proxy    *Proxy
	fallback *tls.Certificate

	mu sync.Mutex
	// parsed caches certificates by "namespace/name@resourceVersion", so a
	// changed Secret is parsed anew on the next handshake.
	parsed map[string]*tls.Certificate
}

func newCertStore(secrets corelisters.SecretLister, proxy *Proxy) (*certStore, error) {
	fallback, err := selfSigned("navarch-ingress-default")
	if err != nil {
		return nil, err
	}
	return &certStore{secrets: secrets, proxy: proxy, fallback: fallback, parsed: map[string]*tls.Certificate{}}, nil
}

// secretFor returns the Secret key configured for host (exact first, then
// a wildcard entry).
func (c *certStore) secretFor(host string) string {
	t := c.proxy.table.Load()
	host = strings.ToLower(host)
	if k, ok := t.tls[host]; ok {
		return k
	}
	if i := strings.IndexByte(host, '.'); i > 0 {
		if k, ok := t.tls["*"+host[i:]]; ok {
			return k
		}
	}
	return ""
}

// GetCertificate implements tls.Config.GetCertificate.
func (c *certStore) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	key := c.secretFor(hello.ServerName)
	if key == "" {
		return c.fallback, nil
	}
	cert, ok := c.load(key)
	if !ok {
		return c.fallback, nil
	}
	return cert, nil
}

// load returns the parsed certificate of a kubernetes.io/tls Secret.
func (c *certStore) load(key string) (*tls.Certificate, bool) {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	secret, err := c.secrets.Secrets(ns).Get(name)
	if err != nil {
		return nil, false
	}
	cacheKey := key + "@" + secret.ResourceVersion
	c.mu.Lock()
	defer c.mu.Unlock()
	if cert, ok := c.parsed[cacheKey]; ok {
		return cert, true
	}
	cert, err := tls.X509KeyPair(secret.Data[corev1.TLSCertKey], secret.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		return nil, false
	}
	// Drop older versions of this Secret.
	for k := range c.parsed {
		if strings.HasPrefix(k, key+"@") {
			delete(c.parsed, k)
		}
	}
	c.parsed[cacheKey] = &cert
	return &cert, true
}

// selfSigned makes the default certificate served when no Secret fits.
func selfSigned(cn string) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{cn},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
