package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"path/filepath"
)

// ServiceAccountKeyFileName is the file under the PKI directory holding
// the key that signs service account tokens (kubeadm's sa.key).
const ServiceAccountKeyFileName = "sa.key"

// EnsureServiceAccountKey returns the ECDSA P-256 key that signs service
// account tokens, kept in dir/sa.key: created at first start and loaded
// unchanged on later starts, so tokens issued before a restart stay valid.
func EnsureServiceAccountKey(dir string) (*ecdsa.PrivateKey, error) {
	path := filepath.Join(dir, ServiceAccountKeyFileName)
	data, err := readIfExists(path)
	if err != nil {
		return nil, fmt.Errorf("pki: reading the service account key: %w", err)
	}
	if data != nil {
		key, err := parseKeyPEM(data)
		if err != nil {
			return nil, fmt.Errorf("pki: parsing the service account key %s: %w", path, err)
		}
		if err := restrictKeyFile(path); err != nil {
			return nil, fmt.Errorf("pki: %w", err)
		}
		return key, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generating the service account key: %w", err)
	}
	pemData, err := encodeKeyPEM(key)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	if err := writeFileAtomic(path, pemData, secretFileMode); err != nil {
		return nil, fmt.Errorf("pki: writing the service account key: %w", err)
	}
	return key, nil
}
