package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"path/filepath"
	"time"
)

// Names of the CA files EnsureCA keeps in its directory.
const (
	CACertFileName = "ca.crt"
	CAKeyFileName  = "ca.key"
)

// Validity periods.
const (
	// CAValidity is how long a new CA is valid.
	CAValidity = 10 * 365 * 24 * time.Hour
	// LeafValidity is how long a serving or client certificate is valid
	// (never beyond the CA's own expiry).
	LeafValidity = 365 * 24 * time.Hour
	// RenewBefore: a leaf certificate that expires within this period is
	// issued again by the next Ensure call.
	RenewBefore = 30 * 24 * time.Hour
	// clockSkew backdates NotBefore so that a machine whose clock is a
	// little behind the server's accepts a certificate issued just now.
	clockSkew = time.Hour
)

// CA is the cluster's certificate authority: it signs the serving and
// client certificates. Get one with EnsureCA.
type CA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	// now is the clock issuing and renewal decisions read; tests move it.
	now func() time.Time
}

// EnsureCA loads the CA kept in dir (ca.crt, ca.key) or, when there is
// none, creates a self-signed ECDSA P-256 CA valid for CAValidity and
// writes it there (the key with mode 0600). dir is created if missing.
//
// An existing CA is never replaced: EnsureCA fails if ca.crt exists
// without ca.key, if the two do not match, or if the CA has expired,
// because a new CA would silently invalidate every certificate and
// kubeconfig already handed out. A ca.key without ca.crt is the trace of a
// first start that crashed before finishing (the key is written first), so
// that CA was never used and is created again.
func EnsureCA(dir string) (*CA, error) {
	certPath := filepath.Join(dir, CACertFileName)
	keyPath := filepath.Join(dir, CAKeyFileName)
	certPEM, err := readIfExists(certPath)
	if err != nil {
		return nil, fmt.Errorf("pki: read CA certificate: %w", err)
	}
	if certPEM == nil {
		return createCA(certPath, keyPath, time.Now)
	}
	ca, err := loadCA(certPEM, keyPath, time.Now)
	if err != nil {
		return nil, fmt.Errorf("pki: load CA from %s: %w", dir, err)
	}
	return ca, nil
}

func loadCA(certPEM []byte, keyPath string, now func() time.Time) (*CA, error) {
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %v", CACertFileName, err)
	}
	keyPEM, err := readIfExists(keyPath)
	if err != nil {
		return nil, err
	}
	if keyPEM == nil {
		return nil, fmt.Errorf("%s exists but %s is missing; restore the key or remove both to create a new CA (every issued certificate and kubeconfig must then be replaced)", CACertFileName, CAKeyFileName)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %v", CAKeyFileName, err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%s does not belong to %s", CAKeyFileName, CACertFileName)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%s is not a CA certificate", CACertFileName)
	}
	if expiry := cert.NotAfter; now().After(expiry) {
		return nil, fmt.Errorf("CA certificate expired at %s; remove %s and %s to create a new CA (every issued certificate and kubeconfig must then be replaced)", expiry.UTC().Format(time.RFC3339), CACertFileName, CAKeyFileName)
	}
	if err := restrictKeyFile(keyPath); err != nil {
		return nil, err
	}
	return &CA{cert: cert, key: key, certPEM: certPEM, now: now}, nil
}

func createCA(certPath, keyPath string, now func() time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generate CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("pki: CA serial: %w", err)
	}
	issued := now()
	template := &x509.Certificate{
		SerialNumber: serial,
		// A timestamp in the name keeps two installations' CAs apart in
		// trust stores and error messages, as k3s and kubeadm do.
		Subject:               pkix.Name{CommonName: fmt.Sprintf("navarch-ca@%d", issued.Unix())},
		NotBefore:             issued.Add(-clockSkew),
		NotAfter:              issued.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse new CA certificate: %w", err)
	}
	keyPEM, err := encodeKeyPEM(key)
	if err != nil {
		return nil, fmt.Errorf("pki: CA key: %w", err)
	}
	certPEM := encodeCertPEM(der)
	// Key first: a crash in between leaves a key without a certificate,
	// which EnsureCA recognises as an unfinished first start.
	if err := writeFileAtomic(keyPath, keyPEM, secretFileMode); err != nil {
		return nil, fmt.Errorf("pki: write CA key: %w", err)
	}
	if err := writeFileAtomic(certPath, certPEM, certFileMode); err != nil {
		return nil, fmt.Errorf("pki: write CA certificate: %w", err)
	}
	return &CA{cert: cert, key: key, certPEM: certPEM, now: now}, nil
}

// Certificate returns the CA certificate. Callers must not modify it.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// CertPEM returns the PEM encoding of the CA certificate, as kept in
// ca.crt: what clients put in a kubeconfig's certificate-authority-data.
func (ca *CA) CertPEM() []byte { return append([]byte(nil), ca.certPEM...) }

// CertPool returns a pool holding only this CA, for verifying the client
// certificates it issued (tls.Config.ClientCAs) or its serving
// certificates (tls.Config.RootCAs).
func (ca *CA) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return pool
}

// randomSerial returns a random positive serial number of at most 128
// bits; RFC 5280 asks for unique serials per CA, and random ones make a
// collision negligible without keeping a counter on disk.
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	serial, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return nil, err
	}
	// Serials must be positive; rand.Int may return zero.
	return serial.Add(serial, big.NewInt(1)), nil
}
