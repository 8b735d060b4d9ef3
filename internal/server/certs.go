package server

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/navarch/navarch/internal/agent/nodeapi"
	"github.com/navarch/navarch/internal/apiserver"
	"github.com/navarch/navarch/internal/apiserver/inprocess"
	"github.com/navarch/navarch/internal/pki"
	"github.com/navarch/navarch/internal/satoken"
)

// Names of the certificates under DataDir/pki.
const (
	servingCertName = "apiserver"
	adminCertName   = "admin"
	// kubeletClientCertName is the API server's client certificate for
	// the node agents' API (logs, exec, port-forward), upstream's
	// apiserver-kubelet-client.
	kubeletClientCertName = "apiserver-kubelet-client"
)

// credentials are the TLS material of a running server.
type credentials struct {
	ca          *pki.CA
	serverTLS   *tls.Config
	loopbackURL string
	// nodeUser is the local agent's user (system:node:HOSTNAME in
	// system:nodes, as a node's client certificate names it).
	nodeUser *apiserver.User
	// kubeletClientCert is the API server's certificate toward the node
	// agents.
	kubeletClientCert, kubeletClientKey string
	// caFile is the cluster CA certificate (PEM).
	caFile string
	token  string
	// saSigner signs and checks service account tokens with the key
	// kept beside the CA.
	saSigner *satoken.Signer
}

// prepareCredentials creates or reloads the CA, the serving and client
// certificates, the admin kubeconfig, the join token and the service
// account signing key.
func prepareCredentials(cfg Config, advertise net.IP) (*credentials, error) {
	dir := cfg.pkiDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	ca, err := pki.EnsureCA(dir)
	if err != nil {
		return nil, err
	}
	hosts := []string{"localhost", "127.0.0.1", "::1", "kubernetes", "kubernetes.default",
		"kubernetes.default.svc", "kubernetes.default.svc.cluster.local", firstServiceIP(cfg.ServiceCIDR)}
	if ips, err := pki.HostIPs(); err == nil {
		for _, ip := range ips {
			hosts = append(hosts, ip.String())
		}
	}
	if advertise != nil {
		hosts = append(hosts, advertise.String())
	}
	hosts = append(hosts, cfg.TLSSANs...)
	if err := ca.EnsureServingCert(dir, servingCertName, hosts); err != nil {
		return nil, err
	}
	if err := ca.EnsureClientCert(dir, adminCertName, "navarch-admin", []string{"system:masters"}); err != nil {
		return nil, err
	}
	nodeName, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if err := ca.EnsureClientCert(dir, kubeletClientCertName, nodeapi.APIServerUser, []string{"system:masters"}); err != nil {
		return nil, err
	}
	serving, err := tls.LoadX509KeyPair(pki.CertFile(dir, servingCertName), pki.KeyFile(dir, servingCertName))
	if err != nil {
		return nil, fmt.Errorf("server: loading serving certificate: %w", err)
	}
	host := "127.0.0.1"
	if cfg.BindAddress != "" && cfg.BindAddress != "0.0.0.0" && cfg.BindAddress != "::" {
		host = cfg.BindAddress
	}
	url := "https://" + net.JoinHostPort(host, strconv.Itoa(cfg.Port))
	if err := pki.WriteKubeconfig(cfg.kubeconfigPath(), url, ca.CertPEM(),
		pki.CertFile(dir, adminCertName), pki.KeyFile(dir, adminCertName)); err != nil {
		return nil, err
	}
	token, err := loadOrCreateToken(cfg.tokenPath())
	if err != nil {
		return nil, err
	}
	saKey, err := pki.EnsureServiceAccountKey(dir)
	if err != nil {
		return nil, err
	}
	saSigner, err := satoken.NewSigner(saKey, "")
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return &credentials{
		ca: ca,
		serverTLS: &tls.Config{
			Certificates: []tls.Certificate{serving},
			ClientAuth:   tls.VerifyClientCertIfGiven,
			ClientCAs:    ca.CertPool(),
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"h2", "http/1.1"},
		},
		loopbackURL:       url,
		nodeUser:          &apiserver.User{Name: "system:node:" + strings.ToLower(nodeName), Groups: []string{"system:nodes"}},
		kubeletClientCert: pki.CertFile(dir, kubeletClientCertName),
		kubeletClientKey:  pki.KeyFile(dir, kubeletClientCertName),
		caFile:            filepath.Join(dir, pki.CACertFileName),
		token:             token,
		saSigner:          saSigner,
	}, nil
}

// loopbackUser is the in-process controllers', scheduler's, cluster
// DNS's and ingress controller's user.
var loopbackUser = &apiserver.User{Name: "system:navarch-controller-manager", Groups: []string{"system:masters"}}

// authenticator accepts the in-process clients (by their Transport, never
// by anything a request carries), the cluster's client certificates and
// the join token (as a node bootstrapper).
func (c *credentials) authenticator() apiserver.Authenticator {
	return apiserver.UnionAuthenticator{
		inprocess.Authenticator{},
		apiserver.CertAuthenticator{},
		apiserver.TokenAuthenticator{Tokens: map[string]*apiserver.User{
			c.token: {Name: "system:node-bootstrap", Groups: []string{"system:bootstrappers", "system:nodes"}},
		}},
	}
}

func loadOrCreateToken(path string) (string, error) {
	if data, err := os.ReadFile(path); err == nil && len(data) > 0 {
		return string(trimNewline(data)), nil
	} else if err != nil && !os.IsNotExist(err) {
		return "", fmt.Errorf("server: reading join token: %w", err)
	}
	token, err := pki.RandomToken()
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("server: writing join token: %w", err)
	}
	return token, nil
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
