package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// File modes of what this package writes. Private keys and kubeconfigs
// (which embed a private key) are readable by their owner only.
const (
	certFileMode   os.FileMode = 0o644
	secretFileMode os.FileMode = 0o600
	dirMode        os.FileMode = 0o700
)

const (
	pemTypeCertificate = "CERTIFICATE"
	pemTypeECKey       = "EC PRIVATE KEY"
	pemTypePKCS8Key    = "PRIVATE KEY"
)

// CertFile is the path of the certificate EnsureServingCert and
// EnsureClientCert keep for name in dir.
func CertFile(dir, name string) string { return filepath.Join(dir, name+".crt") }

// KeyFile is the path of the private key EnsureServingCert and
// EnsureClientCert keep for name in dir.
func KeyFile(dir, name string) string { return filepath.Join(dir, name+".key") }

func encodeCertPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemTypeCertificate, Bytes: der})
}

// encodeKeyPEM writes SEC 1 ("EC PRIVATE KEY"), the form kubeadm and
// openssl ecparam produce, so the files look familiar to operators.
func encodeKeyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemTypeECKey, Bytes: der}), nil
}

// parseCertPEM returns the first certificate in data.
func parseCertPEM(data []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no CERTIFICATE block")
		}
		if block.Type == pemTypeCertificate {
			return x509.ParseCertificate(block.Bytes)
		}
	}
}

// parseKeyPEM accepts SEC 1 and PKCS #8 ECDSA keys, so a key an operator
// replaced by hand with either common form still loads.
func parseKeyPEM(data []byte) (*ecdsa.PrivateKey, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no EC PRIVATE KEY or PRIVATE KEY block")
		}
		switch block.Type {
		case pemTypeECKey:
			return x509.ParseECPrivateKey(block.Bytes)
		case pemTypePKCS8Key:
			key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, err
			}
			ecKey, ok := key.(*ecdsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("private key is %T, want ECDSA", key)
			}
			return ecKey, nil
		}
	}
}

// readIfExists returns the file's content, or nil and no error when the
// file does not exist.
func readIfExists(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

// writeFileAtomic replaces path with data and mode through a temporary
// file in the same directory and a rename, so readers see the old file or
// the new one, never a part. The file is synced before the rename so a
// crash cannot leave an empty file under the final name.
func writeFileAtomic(path string, data []byte, mode os.FileMode) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	// Chmod before writing: a secret must never sit in a file others can
	// read, not even for a moment (CreateTemp uses 0600, but be explicit).
	if err := tmp.Chmod(mode); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// writeFileIfChanged is writeFileAtomic that leaves a file alone when it
// already has the wanted content and mode, so repeated starts do not touch
// files other processes may be watching.
func writeFileIfChanged(path string, data []byte, mode os.FileMode) error {
	if info, err := os.Stat(path); err == nil && info.Mode().Perm() == mode {
		if current, err := os.ReadFile(path); err == nil && bytes.Equal(current, data) {
			return nil
		}
	}
	return writeFileAtomic(path, data, mode)
}

// restrictKeyFile makes sure a reused key file is readable by its owner
// only, even if someone loosened its mode since it was written.
func restrictKeyFile(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if info.Mode().Perm()&^secretFileMode != 0 {
		return os.Chmod(path, secretFileMode)
	}
	return nil
}
