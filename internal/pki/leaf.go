package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// leafRequest is what a serving or client certificate must hold for an
// existing one to be kept, and what a new one is issued with.
type leafRequest struct {
	commonName    string
	organizations []string
	dnsNames      []string
	ips           []net.IP
	usage         x509.ExtKeyUsage
}

// EnsureServingCert makes dir/name.crt and dir/name.key a TLS serving
// certificate signed by ca, whose subject alternative names cover every
// entry of hosts (IP addresses become IP SANs, anything else a DNS SAN;
// "[::1]" is accepted for an IPv6 address). Its common name is name.
//
// An existing certificate is kept, byte for byte, when it covers all of
// hosts (it may cover more), was signed by ca, matches its key and does
// not expire within RenewBefore. Otherwise a new key and certificate are
// issued for exactly hosts, valid for LeafValidity.
func (ca *CA) EnsureServingCert(dir, name string, hosts []string) error {
	dnsNames, ips, err := parseHosts(hosts)
	if err != nil {
		return fmt.Errorf("pki: serving certificate %q: %w", name, err)
	}
	req := leafRequest{commonName: name, dnsNames: dnsNames, ips: ips, usage: x509.ExtKeyUsageServerAuth}
	if err := ca.ensureLeaf(dir, name, req); err != nil {
		return fmt.Errorf("pki: serving certificate %q: %w", name, err)
	}
	return nil
}

// EnsureClientCert makes dir/name.crt and dir/name.key a TLS client
// certificate signed by ca for the user commonName in the groups
// organizations, which is how the API server's client-certificate
// authentication reads them: the admin is CN "navarch-admin", O
// "system:masters"; a node agent is CN "system:node:<node>", O
// "system:nodes".
//
// An existing certificate is kept, byte for byte, when its subject has
// exactly that common name and set of organizations, it was signed by ca,
// matches its key and does not expire within RenewBefore. Otherwise a new
// key and certificate are issued, valid for LeafValidity.
func (ca *CA) EnsureClientCert(dir, name, commonName string, organizations []string) error {
	if commonName == "" {
		return fmt.Errorf("pki: client certificate %q: empty common name", name)
	}
	req := leafRequest{
		commonName:    commonName,
		organizations: slices.Clone(organizations),
		usage:         x509.ExtKeyUsageClientAuth,
	}
	if err := ca.ensureLeaf(dir, name, req); err != nil {
		return fmt.Errorf("pki: client certificate %q: %w", name, err)
	}
	return nil
}

func (ca *CA) ensureLeaf(dir, name string, req leafRequest) error {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return errors.New("name must be a plain file name")
	}
	certPath, keyPath := CertFile(dir, name), KeyFile(dir, name)
	keep, err := ca.existingLeafFits(certPath, keyPath, req)
	if err != nil {
		return err
	}
	if keep {
		return restrictKeyFile(keyPath)
	}
	return ca.issueLeaf(certPath, keyPath, req)
}

// existingLeafFits reports whether certPath and keyPath hold a certificate
// and key that satisfy req. Missing or unparsable files do not fit (they
// are replaced); a file that cannot be read is an error, because replacing
// it would hide a permission problem the operator should fix.
func (ca *CA) existingLeafFits(certPath, keyPath string, req leafRequest) (bool, error) {
	certPEM, err := readIfExists(certPath)
	if err != nil {
		return false, err
	}
	keyPEM, err := readIfExists(keyPath)
	if err != nil {
		return false, err
	}
	if certPEM == nil || keyPEM == nil {
		return false, nil
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return false, nil
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return false, nil
	}
	return ca.fits(cert, key, req), nil
}

// fits is the reuse decision: true when cert, with key, still does what
// req asks for.
func (ca *CA) fits(cert *x509.Certificate, key *ecdsa.PrivateKey, req leafRequest) bool {
	if !key.PublicKey.Equal(cert.PublicKey) {
		return false
	}
	if !bytes.Equal(cert.RawIssuer, ca.cert.RawSubject) || cert.CheckSignatureFrom(ca.cert) != nil {
		return false
	}
	now := ca.now()
	if now.Before(cert.NotBefore) || cert.NotAfter.Sub(now) < RenewBefore {
		return false
	}
	if !slices.Contains(cert.ExtKeyUsage, req.usage) {
		return false
	}
	if cert.Subject.CommonName != req.commonName || !sameStringSet(cert.Subject.Organization, req.organizations) {
		return false
	}
	for _, name := range req.dnsNames {
		if !slices.ContainsFunc(cert.DNSNames, func(have string) bool { return strings.EqualFold(have, name) }) {
			return false
		}
	}
	for _, ip := range req.ips {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

// issueLeaf creates a new key and a certificate for req signed by ca and
// writes both.
func (ca *CA) issueLeaf(certPath, keyPath string, req leafRequest) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return fmt.Errorf("serial: %w", err)
	}
	now := ca.now()
	notAfter := now.Add(LeafValidity)
	if notAfter.After(ca.cert.NotAfter) {
		// A certificate cannot outlive the CA that vouches for it.
		notAfter = ca.cert.NotAfter
	}
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: req.commonName, Organization: req.organizations},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{req.usage},
		BasicConstraintsValid: true,
		DNSNames:              req.dnsNames,
		IPAddresses:           req.ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca.cert, key.Public(), ca.key)
	if err != nil {
		return fmt.Errorf("sign certificate: %w", err)
	}
	keyPEM, err := encodeKeyPEM(key)
	if err != nil {
		return err
	}
	// Key first: if a crash separates the two writes, the old certificate
	// no longer matches the new key and the next call issues again.
	if err := writeFileAtomic(keyPath, keyPEM, secretFileMode); err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	if err := writeFileAtomic(certPath, encodeCertPEM(der), certFileMode); err != nil {
		return fmt.Errorf("write certificate: %w", err)
	}
	return nil
}

// parseHosts splits hosts into DNS names (lower-cased) and IP addresses
// (IPv4 in its 4-byte form), dropping blanks and duplicates.
func parseHosts(hosts []string) (dnsNames []string, ips []net.IP, err error) {
	for _, host := range hosts {
		host = strings.TrimSpace(host)
		if host == "" {
			continue
		}
		if ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")); ip != nil {
			if v4 := ip.To4(); v4 != nil {
				ip = v4
			}
			if !slices.ContainsFunc(ips, ip.Equal) {
				ips = append(ips, ip)
			}
			continue
		}
		name := strings.ToLower(strings.TrimSuffix(host, "."))
		if validation.IsDNS1123Subdomain(name) != nil && validation.IsWildcardDNS1123Subdomain(name) != nil {
			return nil, nil, fmt.Errorf("host %q is neither an IP address nor a DNS name", host)
		}
		if !slices.Contains(dnsNames, name) {
			dnsNames = append(dnsNames, name)
		}
	}
	if len(dnsNames) == 0 && len(ips) == 0 {
		return nil, nil, errors.New("no hosts to name in the certificate")
	}
	return dnsNames, ips, nil
}

func sameStringSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
