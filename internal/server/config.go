package server

import (
	"fmt"
	"net"
	"path/filepath"

	"github.com/navarch/navarch/internal/apiserver/metrics"
	"github.com/navarch/navarch/internal/controllermanager"
)

// Config is what `navarch server` is told by its flags.
type Config struct {
	// DataDir holds the certificates, the kubeconfig, the join token and
	// (with the embedded etcd) the etcd data.
	DataDir string
	// BindAddress and Port are where the API server listens (TLS); port 0
	// lets the kernel pick one (Server.Addr tells which).
	BindAddress string
	Port        int
	// AdvertiseAddress is the address other machines and pods reach the
	// API server at: the endpoint of the default/kubernetes Service.
	// Empty: the first non-loopback host address (or 127.0.0.1).
	AdvertiseAddress string
	// EtcdEndpoints selects an external etcd cluster; empty runs an
	// embedded single-member etcd under DataDir.
	EtcdEndpoints []string
	// EtcdListenClientURL additionally exposes the embedded etcd to other
	// servers (e.g. "http://127.0.0.1:2379"); empty keeps it private.
	EtcdListenClientURL string
	// ServiceCIDR and NodePortRange configure Service addressing.
	ServiceCIDR   string
	NodePortRange string
	// TLSSANs are extra names and addresses for the serving certificate.
	TLSSANs []string
	// ClusterDNS serves the cluster DNS on the advertised address (port 53)
	// behind the kube-dns Service.
	ClusterDNS bool
	// Agent runs a node agent for this machine inside the server, with
	// its state under DataDir/agent.
	Agent bool
	// KubeletAddress is where the local agent's node API listens (logs,
	// exec, attach, port-forward), "host:port"; default ":10250". Port 0
	// picks a free port.
	KubeletAddress string
	// Controllers are what the controller manager runs while this server
	// holds the lease (controllermanager/builtin.Controllers); none when
	// empty, e.g. in tests that drive one controller by themselves.
	Controllers []controllermanager.Named
	// DisableServiceAccountAdmission turns off the ServiceAccount admission
	// of new pods (a default account, which must exist, and the projected
	// kube-api-access volume), as kube-apiserver's
	// --disable-admission-plugins=ServiceAccount; for test clusters that do
	// not run the serviceaccount controller.
	DisableServiceAccountAdmission bool
	// NoWatchCache serves every watch from its own etcd watch instead of
	// the API server's watch caches (kube-apiserver's --watch-cache=false).
	NoWatchCache bool
	// MemoryLimit is the soft memory limit of the Go runtime, in bytes,
	// raised to 1.5 times the live heap when that outgrows it (see
	// DefaultMemoryLimit); 0 leaves the runtime's defaults, as does a
	// GOMEMLIMIT in the environment.
	MemoryLimit int64
	// Profiling serves Go's profiles under /debug/pprof/ to
	// authenticated clients (kube-apiserver's --profiling).
	Profiling bool
	// NodeStats reaches the agents' /stats/summary for the metrics.k8s.io
	// group (kubectl top); nil: the group is not served. Tests set a
	// fake; the composition root sets the node client.
	NodeStats metrics.NodeStats
}

// Paths inside the data directory.
func (c Config) pkiDir() string         { return filepath.Join(c.DataDir, "pki") }
func (c Config) etcdDir() string        { return filepath.Join(c.DataDir, "etcd") }
func (c Config) kubeconfigPath() string { return filepath.Join(c.DataDir, "kubeconfig") }
func (c Config) tokenPath() string      { return filepath.Join(c.DataDir, "token") }
func (c Config) agentDir() string       { return filepath.Join(c.DataDir, "agent") }

// KubeconfigPath is where the admin kubeconfig of a data dir is written.
func KubeconfigPath(dataDir string) string { return Config{DataDir: dataDir}.kubeconfigPath() }

func (c Config) validate() error {
	if c.DataDir == "" {
		return fmt.Errorf("server: no data dir")
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("server: invalid port %d", c.Port)
	}
	if c.BindAddress != "" && net.ParseIP(c.BindAddress) == nil {
		return fmt.Errorf("server: bind address %q is not an IP address", c.BindAddress)
	}
	if c.AdvertiseAddress != "" && net.ParseIP(c.AdvertiseAddress) == nil {
		return fmt.Errorf("server: advertise address %q is not an IP address", c.AdvertiseAddress)
	}
	return nil
}
