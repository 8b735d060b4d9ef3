package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/navarch/navarch/internal/agent"
	"github.com/navarch/navarch/internal/agent/cni"
	"github.com/navarch/navarch/internal/agent/nodeapi"
	"github.com/navarch/navarch/internal/proxy"
	"github.com/navarch/navarch/internal/simnode"
)

// agentDataDirName is the agent's directory inside the data dir.
const agentDataDirName = "agent"

func newAgentCommand(env environment) *cobra.Command {
	var (
		cfg                     agent.Config
		rootDataDir, kubeconfig string
		server, token, caFile   string
		cleanup                 bool
		simulate                int
		kubeletPort             int
		profilingAddress        string
		gcPercent               int
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the node agent: register this machine as a Node and run its pods on containerd",
		Long: `Run the Navarch node agent (the kubelet of Navarch).

The agent registers this machine as a Node (--node-name, default the host
name), renews its Lease every 10 s, and runs the pods bound to it through
containerd's CRI.

Without --container-runtime-endpoint it starts and supervises its own
containerd under <data-dir>/agent/containerd, with a CNI bridge network on
the node's pod CIDR and a pause image built from the pause program navarch
carries. It needs
Debian's containerd, runc and containernetworking-plugins packages
(hack/install-deps.sh installs them).

It reaches the API server with --kubeconfig (default <data-dir>/kubeconfig,
as written by "navarch server") or with --server and --token (the join
token in the server's <data-dir>/token).

The API server reaches the agent on --kubelet-port (10250, as the kubelet)
for kubectl logs, exec, attach and port-forward. Only the API server's
client certificate is served there, checked against the cluster CA: the
--certificate-authority file, else the kubeconfig's CA file, else the CA
the API server publishes in kube-system/kube-root-ca.crt.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if gcPercent <= 0 {
				return fmt.Errorf("agent: --gc-percent %d: want a positive percentage", gcPercent)
			}
			if cleanup {
				// Pods are gone with their sandboxes when containerd stops;
				// what stays on the host is the proxy's table and the
				// bridge network's leftovers.
				ctx := context.Background()
				if err := proxy.Cleanup(ctx, proxy.NftCommand{}); err != nil {
					return err
				}
				bridge := cfg.Bridge
				if bridge == "" {
					bridge = cni.DefaultBridge
				}
				return cni.RemoveLeftovers(ctx, bridge)
			}
			if rootDataDir == "" {
				rootDataDir = dataDir(env.getenv)
			}
			restConfig, err := agentRESTConfig(rootDataDir, kubeconfig, server, token, caFile)
			if err != nil {
				return err
			}
			client, err := kubernetes.NewForConfig(restConfig)
			if err != nil {
				return fmt.Errorf("agent: %w", err)
			}
			if simulate > 0 {
				// A thousand nodes renew a hundred Leases a second: no
				// client-side rate limit.
				restConfig.QPS, restConfig.Burst = -1, 0
				if client, err = kubernetes.NewForConfig(restConfig); err != nil {
					return fmt.Errorf("agent: %w", err)
				}
				// Simulated nodes accept pods and report them running
				// without containers, for testing the control plane at scale.
				prefix := cfg.NodeName
				if prefix == "" {
					prefix = "simnode-"
				}
				sim := simnode.New(client, simnode.Config{Count: simulate, NamePrefix: prefix})
				ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
				defer stop()
				return sim.Start(ctx)
			}
			setAgentGCPercent(gcPercent, os.LookupEnv, debug.SetGCPercent)
			cfg.DataDir = filepath.Join(rootDataDir, agentDataDirName)
			cfg.KubeletAddress = fmt.Sprintf(":%d", kubeletPort)
			// The node API verifies the API server against the cluster
			// CA: the one given, the kubeconfig's, or (neither) the one
			// the API server publishes.
			cfg.ClientCAFile = caFile
			if cfg.ClientCAFile == "" && server == "" {
				cfg.ClientCAFile = restConfig.TLSClientConfig.CAFile
			}
			a, err := agent.New(cfg, client)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if profilingAddress != "" {
				if err := serveProfiling(ctx, profilingAddress); err != nil {
					return err
				}
			}
			// The service proxy runs beside the agent; its rules stay when
			// the agent stops, so traffic keeps flowing across restarts.
			factory := informers.NewSharedInformerFactory(client, 0)
			proxier := proxy.New(proxy.Config{NodeName: a.NodeName()}, factory, proxy.NftCommand{})
			factory.Start(ctx.Done())
			errc := make(chan error, 2)
			go func() { errc <- a.Start(ctx) }()
			go func() { errc <- proxier.Start(ctx) }()
			err = <-errc
			stop()
			if err2 := <-errc; err == nil {
				err = err2
			}
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&simulate, "simulate", 0, "register this many simulated nodes (named <node-name>N, default simnode-N) that run pods without containers, instead of this machine")
	f.BoolVar(&cleanup, "cleanup", false, "remove the service rules and the pod network this agent left on the host, then exit")
	f.StringVar(&rootDataDir, "data-dir", "", "directory for the agent's state (default $"+dataDirEnv+" or "+defaultDataDir+")")
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig to reach the API server (default <data-dir>/kubeconfig)")
	f.StringVar(&server, "server", "", "API server URL (with --token, instead of a kubeconfig)")
	f.StringVar(&token, "token", "", "join token (with --server)")
	f.StringVar(&caFile, "certificate-authority", "", "the cluster CA: verifies the API server (with --server; default: do not verify) and the API server's calls to the node API (default: the kubeconfig's CA file, or the CA the API server publishes)")
	f.StringVar(&cfg.NodeName, "node-name", "", "name of this node (default: the host name)")
	f.StringVar(&cfg.RuntimeEndpoint, "container-runtime-endpoint", "", "CRI socket of an existing containerd (default: run our own)")
	f.StringVar(&cfg.NodeIP, "node-ip", "", "the node's InternalIP (default: the address of the default route's interface)")
	f.StringVar(&cfg.Bridge, "bridge", cni.DefaultBridge, "the pod network's bridge device (with --cleanup: the one to remove)")
	f.StringVar(&cfg.PodCIDR, "pod-cidr", agent.DefaultPodCIDR, "pod range of this node when its Node has no spec.podCIDR")
	f.StringSliceVar(&cfg.ClusterDNS, "cluster-dns", []string{agent.DefaultClusterDNS}, "nameservers of pods with dnsPolicy ClusterFirst")
	f.StringVar(&cfg.ClusterDomain, "cluster-domain", agent.DefaultClusterDomain, "the cluster's DNS domain")
	f.IntVar(&cfg.MaxPods, "max-pods", agent.DefaultMaxPods, "pods this node runs at most")
	f.StringVar(&profilingAddress, "profiling-address", "", "serve Go's pprof profiles (/debug/pprof/) on this address, e.g. 127.0.0.1:6060 (default: off)")
	f.IntVar(&gcPercent, "gc-percent", defaultAgentGCPercent, "the agent's GOGC: collect garbage when the heap has grown this many percent over what the last collection left live (Go's default: 100); GOGC in the environment takes precedence")
	f.IntVar(&kubeletPort, "kubelet-port", nodeapi.DefaultPort, "port of the node API the API server calls for logs, exec, attach and port-forward (0: any free port)")
	return cmd
}

// defaultAgentGCPercent is the agent's GOGC unless GOGC is set. An idle
// node agent keeps ~6 MiB live (its pods, informers, clients); with Go's
// default of 100 its heap grows to twice that between collections.
// Measured with bench/agent, 30 pods running: 25 takes the agent's
// anonymous memory from ~18 to ~12.5 MiB for 0.1% more of one core; its
// allocation rate at idle is low, so collections stay rare and cheap.
const defaultAgentGCPercent = 25

// setAgentGCPercent sets the garbage collector's percentage (through set,
// debug.SetGCPercent) to percent, unless GOGC in the environment (read
// through lookupEnv) has set it already.
func setAgentGCPercent(percent int, lookupEnv func(string) (string, bool), set func(int) int) {
	if _, fromEnv := lookupEnv("GOGC"); fromEnv {
		return
	}
	set(percent)
}

// The agent's client-side rate limit: the kubelet's defaults (kubeAPIQPS
// 50, kubeAPIBurst 100). client-go's own (5 and 10) let a node starting
// 50 pods take tens of seconds to report them, each pod's status updates
// and events waiting in line.
const (
	agentQPS   = 50
	agentBurst = 100
)

// agentRESTConfig picks how the agent reaches the API server, speaking
// protobuf as a kubelet does.
func agentRESTConfig(dataDir, kubeconfig, server, token, caFile string) (*rest.Config, error) {
	cfg, err := agentConnection(dataDir, kubeconfig, server, token, caFile)
	if err != nil {
		return nil, err
	}
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	return cfg, nil
}

// agentConnection is where and as whom the agent reaches the API server.
func agentConnection(dataDir, kubeconfig, server, token, caFile string) (*rest.Config, error) {
	if server != "" || token != "" {
		if server == "" || token == "" {
			return nil, fmt.Errorf("agent: --server and --token go together")
		}
		cfg := &rest.Config{Host: server, BearerToken: token, UserAgent: "navarch-agent", QPS: agentQPS, Burst: agentBurst}
		if caFile != "" {
			cfg.TLSClientConfig.CAFile = caFile
		} else {
			cfg.TLSClientConfig.Insecure = true
		}
		return cfg, nil
	}
	if kubeconfig == "" {
		kubeconfig = filepath.Join(dataDir, kubeconfigFileName)
	}
	if _, err := os.Stat(kubeconfig); err != nil {
		return nil, fmt.Errorf("agent: no kubeconfig (%w); give --kubeconfig or --server and --token", err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("agent: kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.UserAgent = "navarch-agent"
	cfg.QPS, cfg.Burst = agentQPS, agentBurst
	return cfg, nil
}

// serveProfiling serves net/http/pprof's handlers on addr, without
// authentication (give a loopback address), until ctx ends.
func serveProfiling(ctx context.Context, addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("agent: profiling address: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	go func() { <-ctx.Done(); _ = srv.Close() }()
	return nil
}
