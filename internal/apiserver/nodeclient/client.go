package nodeclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// DefaultPort is the node API's port when a Node does not publish one
// (the kubelet's).
const DefaultPort = 10250

// NodeGetter reads a Node object; its errors (an API NotFound for a
// missing node) are returned to the caller unchanged.
type NodeGetter func(ctx context.Context, name string) (*corev1.Node, error)

// Config is what a Client needs.
type Config struct {
	// CertFile and KeyFile are the API server's kubelet client
	// certificate and key (PEM files). Required.
	CertFile, KeyFile string
	// Nodes reads Node objects. Required.
	Nodes NodeGetter
}

// Client reaches node agents. It is safe for concurrent use.
type Client struct {
	nodes     NodeGetter
	transport *http.Transport
}

// ErrNoAddress is returned (wrapped) for a Node that has no address to
// reach it at.
var ErrNoAddress = errors.New("nodeclient: no address for the node")

// New loads the client certificate and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.Nodes == nil {
		return nil, errors.New("nodeclient: no node getter")
	}
	cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("nodeclient: loading the kubelet client certificate: %w", err)
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy:       nil,
		DialContext: dialer.DialContext,
		TLSClientConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			// Node agents serve a self-signed certificate (see the
			// package doc): the connection is encrypted, the node is
			// not authenticated.
			InsecureSkipVerify: true, //nolint:gosec // as upstream without --kubelet-certificate-authority
			MinVersion:         tls.VersionTLS12,
		},
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 10,
		IdleConnTimeout:     90 * time.Second,
	}
	return &Client{nodes: cfg.Nodes, transport: transport}, nil
}

// Transport is the transport to node agents: it presents the kubelet
// client certificate. It is an *http.Transport so that upgrade proxies
// and SPDY clients can read its TLS configuration and dialer.
func (c *Client) Transport() *http.Transport { return c.transport }

// Location returns the URL of pathAndQuery ("/containerLogs/ns/pod/c?
// follow=true") on the node agent of nodeName.
func (c *Client) Location(ctx context.Context, nodeName, pathAndQuery string) (*url.URL, error) {
	node, err := c.nodes(ctx, nodeName)
	if err != nil {
		return nil, err
	}
	host, err := nodeAddress(node)
	if err != nil {
		return nil, err
	}
	port := int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port <= 0 {
		port = DefaultPort
	}
	path, query, _ := strings.Cut(pathAndQuery, "?")
	return &url.URL{Scheme: "https", Host: net.JoinHostPort(host, strconv.Itoa(port)), Path: path, RawQuery: query}, nil
}

// Do sends a request without body to pathAndQuery on the node agent of
// nodeName and returns its response, whatever its status; the caller
// closes the body. Errors are the node lookup's (unchanged), a missing
// address (ErrNoAddress) or the connection's.
func (c *Client) Do(ctx context.Context, nodeName, method, pathAndQuery string) (*http.Response, error) {
	loc, err := c.Location(ctx, nodeName, pathAndQuery)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, loc.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("nodeclient: %w", err)
	}
	resp, err := c.transport.RoundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("nodeclient: node %s: %w", nodeName, err)
	}
	return resp, nil
}

// nodeAddress picks the address to reach a node at: its InternalIP,
// else its ExternalIP, else its Hostname.
func nodeAddress(node *corev1.Node) (string, error) {
	for _, t := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeHostName} {
		for _, a := range node.Status.Addresses {
			if a.Type == t && a.Address != "" {
				return a.Address, nil
			}
		}
	}
	return "", fmt.Errorf("%w %s; known addresses: %v", ErrNoAddress, node.Name, node.Status.Addresses)
}
