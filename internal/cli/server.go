//go:build !agentonly

package cli

import (
	"context"
	"fmt"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/navarch/navarch/internal/agent/nodeapi"
	"github.com/navarch/navarch/internal/apiserver"
	"github.com/navarch/navarch/internal/controllermanager/builtin"
	"github.com/navarch/navarch/internal/server"
)

func newServerCommand(env environment) *cobra.Command {
	cfg := server.Config{Port: 6443, BindAddress: "0.0.0.0"}
	noAgent := false
	kubeletPort := nodeapi.DefaultPort
	watchCache := true
	memoryLimit := resource.NewQuantity(server.DefaultMemoryLimit, resource.BinarySI).String()
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane (API server on etcd, controllers, scheduler, DNS) and a local node agent",
		Long: `Run the Navarch control plane.

The API server listens on --bind-address:--port with TLS. At first start it
creates a CA, a serving certificate, an admin client certificate and the admin
kubeconfig <data-dir>/kubeconfig (used by "navarch kubectl" by default), and a
join token <data-dir>/token.

State lives in etcd: an embedded single-member etcd under <data-dir>/etcd by
default, or an external etcd cluster with --etcd-endpoints. Several servers
pointed at one etcd serve the same objects; the controllers and the scheduler
run on one of them at a time (a Lease in kube-system elects it).

The cluster DNS answers on the advertised address, port 53, and is reached by
pods as kube-system/kube-dns (10.43.0.10) (--cluster-dns=false turns it off).

Unless --no-agent is given, the server also runs a node agent for this
machine (as "navarch agent" does): it registers the machine as a Node and
runs its pods on containerd (see "navarch agent --help" for what it needs),
programs the Service rules in nftables, and serves Ingresses on ports 80 and
443.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.DataDir == "" {
				cfg.DataDir = dataDir(env.getenv)
			}
			cfg.Agent = !noAgent
			cfg.KubeletAddress = fmt.Sprintf(":%d", kubeletPort)
			cfg.NoWatchCache = !watchCache
			limit, err := resource.ParseQuantity(memoryLimit)
			if err != nil || limit.Sign() < 0 {
				return fmt.Errorf("--memory-limit %q: want a size such as 512Mi, or 0", memoryLimit)
			}
			cfg.MemoryLimit = limit.Value()
			cfg.Controllers = builtin.Controllers(builtin.Config{StorageDir: filepath.Join(cfg.DataDir, "storage")})
			s, err := server.New(cfg)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return s.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", "", "directory for certificates, kubeconfig, join token and embedded etcd data (default $"+dataDirEnv+" or "+defaultDataDir+")")
	f.StringVar(&cfg.BindAddress, "bind-address", cfg.BindAddress, "IP address the API server listens on")
	f.IntVar(&cfg.Port, "port", cfg.Port, "port of the API server (HTTPS); 0: any free port, written into the kubeconfig")
	f.StringVar(&cfg.AdvertiseAddress, "advertise-address", "", "IP address the kubernetes Service points at (default: first host address)")
	f.StringSliceVar(&cfg.EtcdEndpoints, "etcd-endpoints", nil, "external etcd endpoints (e.g. http://10.0.0.5:2379); default: an embedded etcd under the data dir")
	f.StringVar(&cfg.EtcdListenClientURL, "etcd-listen-client-url", "", "also expose the embedded etcd at this URL so other servers can share it (e.g. http://127.0.0.1:2379)")
	f.StringVar(&cfg.ServiceCIDR, "service-cidr", apiserver.DefaultServiceCIDR, "IPv4 range of Service cluster IPs")
	f.StringVar(&cfg.NodePortRange, "service-node-port-range", apiserver.DefaultNodePortRange, "port range of NodePort Services")
	f.StringSliceVar(&cfg.TLSSANs, "tls-san", nil, "extra DNS names or IP addresses for the serving certificate")
	f.BoolVar(&noAgent, "no-agent", false, "run the control plane only, without a local node agent")
	f.IntVar(&kubeletPort, "kubelet-port", nodeapi.DefaultPort, "port of the local agent's node API, which the API server calls for logs, exec, attach and port-forward (0: any free port)")
	f.BoolVar(&watchCache, "watch-cache", true, "serve watches from one etcd watch per kind, decoded and encoded once for all clients")
	f.StringVar(&memoryLimit, "memory-limit", memoryLimit, "soft limit of the server's Go memory (the garbage collector works harder near it), raised to 1.5x the live heap when that outgrows it; under it, while the server allocates fast, garbage is collected less often (GOGC 400, unless GOGC is set); 0: none (and GOGC as set); GOMEMLIMIT in the environment takes precedence")
	f.BoolVar(&cfg.Profiling, "profiling", true, "serve Go profiles at /debug/pprof/ of the API server (authenticated clients only)")
	f.BoolVar(&cfg.ClusterDNS, "cluster-dns", true, "serve the cluster DNS on the advertised address, port 53 (kube-system/kube-dns)")
	return cmd
}
