package agent

import (
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/navarch/navarch/internal/agent/cni"
	"github.com/navarch/navarch/internal/agent/cri"
	"github.com/navarch/navarch/internal/agent/nodeapi"
)

// Config is what the agent needs to know. Zero fields take the defaults
// described on each.
type Config struct {
	// NodeName is the Node this agent registers; default the host name,
	// lowercased.
	NodeName string
	// DataDir holds the agent's state: containerd (when supervised),
	// pod logs, pod volumes, local-path volumes (storage/), CNI
	// configuration and IP leases. Required.
	DataDir string
	// RuntimeEndpoint is an existing CRI socket ("unix:///run/containerd/
	// containerd.sock"). Empty: the agent runs its own containerd.
	RuntimeEndpoint string
	// PodCIDR is the pod range used when the Node has no spec.podCIDR;
	// default 10.42.0.0/24. It is written to the Node's spec.
	PodCIDR string
	// ClusterDNS are the nameservers of pods with dnsPolicy ClusterFirst;
	// default [10.43.0.10].
	ClusterDNS []string
	// ClusterDomain is the cluster's DNS domain; default cluster.local.
	ClusterDomain string
	// Bridge is the CNI bridge device; default navarch0.
	Bridge string
	// CNIBinDir holds the CNI plugins; default /usr/lib/cni.
	CNIBinDir string
	// NodeIP is the node's InternalIP; default the address of the
	// interface holding the default route.
	NodeIP string
	// MaxPods is the node's pod capacity; default 110.
	MaxPods int
	// ResolvConf is the host's resolver configuration, the source of the
	// upstream search path and of dnsPolicy Default; default
	// /etc/resolv.conf.
	ResolvConf string
	// PauseBinary is a static pause program to build the pause image
	// from when the runtime lacks it; default the one navarch embeds.
	PauseBinary string
	// LeaseRenewInterval is how often the node Lease is renewed;
	// default 10 s (the Lease lasts four times that).
	LeaseRenewInterval time.Duration
	// NodeStatusInterval is how often the Node's conditions are
	// refreshed; default 1 min.
	NodeStatusInterval time.Duration
	// VolumeResyncInterval is how often the ConfigMap, Secret and
	// downward API volumes of running pods are refreshed; default 1 min
	// (plus up to 10% jitter), the kubelet's sync period.
	VolumeResyncInterval time.Duration
	// KubeletAddress is where the node API (package nodeapi: logs, exec,
	// attach and port-forward for the API server) listens, "host:port";
	// default ":10250", the kubelet's port on every address. Port 0 picks
	// a free port. The Node publishes the port in
	// status.daemonEndpoints.kubeletEndpoint.
	KubeletAddress string
	// ClientCAFile is the cluster CA (PEM) the node API verifies the API
	// server's client certificate against. Empty: the agent reads the CA
	// the API server publishes in the kube-root-ca.crt ConfigMap of
	// kube-system (key ca.crt).
	ClientCAFile string
	// NodeAPIHandlers are more handlers for the node API by
	// http.ServeMux pattern ("GET /stats/summary"), served to the API
	// server only, like the built-in routes.
	NodeAPIHandlers map[string]http.Handler
}

// Defaults the agent applies.
const (
	DefaultPodCIDR       = "10.42.0.0/24"
	DefaultClusterDNS    = "10.43.0.10"
	DefaultClusterDomain = "cluster.local"
	DefaultMaxPods       = 110
)

// complete fills the defaults and checks the fields.
func (c Config) complete() (Config, error) {
	if c.DataDir == "" {
		return c, fmt.Errorf("agent: no data dir")
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return c, fmt.Errorf("agent: data dir: %w", err)
	}
	c.DataDir = abs
	if c.NodeName == "" {
		host, err := os.Hostname()
		if err != nil {
			return c, fmt.Errorf("agent: node name: %w", err)
		}
		c.NodeName = host
	}
	c.NodeName = strings.ToLower(c.NodeName)
	if c.PodCIDR == "" {
		c.PodCIDR = DefaultPodCIDR
	}
	if _, err := netip.ParsePrefix(c.PodCIDR); err != nil {
		return c, fmt.Errorf("agent: pod CIDR: %w", err)
	}
	if len(c.ClusterDNS) == 0 {
		c.ClusterDNS = []string{DefaultClusterDNS}
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = DefaultClusterDomain
	}
	if c.Bridge == "" {
		c.Bridge = cni.DefaultBridge
	}
	if c.CNIBinDir == "" {
		c.CNIBinDir = cri.DefaultCNIBinDir
	}
	if c.NodeIP != "" {
		if _, err := netip.ParseAddr(c.NodeIP); err != nil {
			return c, fmt.Errorf("agent: node IP: %w", err)
		}
	}
	if c.MaxPods == 0 {
		c.MaxPods = DefaultMaxPods
	}
	if c.ResolvConf == "" {
		c.ResolvConf = "/etc/resolv.conf"
	}
	if c.LeaseRenewInterval == 0 {
		c.LeaseRenewInterval = 10 * time.Second
	}
	if c.NodeStatusInterval == 0 {
		c.NodeStatusInterval = time.Minute
	}
	if c.KubeletAddress == "" {
		c.KubeletAddress = fmt.Sprintf(":%d", nodeapi.DefaultPort)
	}
	return c, nil
}

// containerdDir is where a supervised containerd keeps everything.
func (c Config) containerdDir() string { return filepath.Join(c.DataDir, "containerd") }

// cniConfDir is the CNI conf dir of a supervised containerd.
func (c Config) cniConfDir() string { return filepath.Join(c.DataDir, "cni", "net.d") }

// ipamDir is where host-local records IP leases.
func (c Config) ipamDir() string { return filepath.Join(c.DataDir, "cni", "ipam") }

// nodeAPICertDir holds the node API's self-signed serving certificate.
func (c Config) nodeAPICertDir() string { return filepath.Join(c.DataDir, "pki") }

// podLogDir is the root of the pods' log directories.
func (c Config) podLogDir() string { return filepath.Join(c.DataDir, "pods") }

// seccompDir holds the seccomp profiles that pods name with
// seccompProfile type Localhost (the kubelet's <root-dir>/seccomp).
func (c Config) seccompDir() string { return filepath.Join(c.DataDir, "seccomp") }

// volumeDir is the root of the pods' volume directories (package volume).
func (c Config) volumeDir() string { return filepath.Join(c.DataDir, "volumes") }

// storageDir holds this node's local-path volumes; the Node advertises
// it in the navarch.io/local-path-dir annotation.
func (c Config) storageDir() string { return filepath.Join(c.DataDir, "storage") }
