package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/navarch/navarch/internal/agent"
	"github.com/navarch/navarch/internal/apiserver"
	"github.com/navarch/navarch/internal/apiserver/inprocess"
	"github.com/navarch/navarch/internal/apiserver/openapi"
	"github.com/navarch/navarch/internal/controllermanager"
	"github.com/navarch/navarch/internal/dns"
	"github.com/navarch/navarch/internal/ingress"
	"github.com/navarch/navarch/internal/pki"
	"github.com/navarch/navarch/internal/proxy"
	"github.com/navarch/navarch/internal/registry/builtin"
)

// Client-side rate limit of the in-process controllers and scheduler.
const (
	loopbackQPS   = 5000
	loopbackBurst = 5000
)

// Runnable is a long-running part of the server. Start blocks until ctx
// ends or the part fails.
type Runnable interface {
	Start(ctx context.Context) error
}

// RunnableFunc adapts a function to Runnable.
type RunnableFunc func(ctx context.Context) error

// Start implements Runnable.
func (f RunnableFunc) Start(ctx context.Context) error { return f(ctx) }

// Server is a configured `navarch server`; Run starts it.
type Server struct {
	cfg Config
	// ready is closed once the API server answers and the bootstrap
	// objects exist.
	ready chan struct{}
	// addr is the API server's listen address once ready.
	addr string
}

// New checks cfg and returns a server ready to Run.
func New(cfg Config) (*Server, error) {
	if cfg.BindAddress == "" {
		cfg.BindAddress = "0.0.0.0"
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, ready: make(chan struct{})}, nil
}

// Ready is closed once the server serves and its bootstrap is done.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr is the API server's listen address ("127.0.0.1:43771"); valid once
// Ready is closed.
func (s *Server) Addr() string { return s.addr }

// Run starts storage, the API server and the controllers, and blocks
// until ctx ends (returning nil) or a part fails (returning its error,
// after stopping the rest).
func (s *Server) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	cfg := s.cfg
	// Listen before anything else: with port 0 the kernel picks the port,
	// and the kubeconfig, the loopback clients and the kubernetes Service
	// must all name the one it picked.
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.BindAddress, strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("server: API server listen: %w", err)
	}
	defer ln.Close()
	cfg.Port = ln.Addr().(*net.TCPAddr).Port
	advertise := advertiseAddress(cfg)
	creds, err := prepareCredentials(cfg, advertise)
	if err != nil {
		return err
	}

	store, closeStore, runnables, err := openStorage(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	if cfg.MemoryLimit > 0 && !memoryLimitFromEnvironment() {
		runnables = append(runnables, newMemoryTuner(cfg.MemoryLimit))
	}

	kinds := builtin.Kinds()
	api, err := apiserver.New(apiserver.Config{
		Storage:                 store,
		Kinds:                   kinds,
		Authenticator:           creds.authenticator(),
		ServiceAccountSigner:    creds.saSigner,
		ServiceAccountAdmission: !cfg.DisableServiceAccountAdmission,
		OpenAPI:                 openapi.New(kinds),
		ServiceCIDR:             cfg.ServiceCIDR,
		NodePortRange:           cfg.NodePortRange,
		Metrics:                 cfg.NodeStats,
		Profiling:               cfg.Profiling,
		WatchCache:              !cfg.NoWatchCache,
		Listener:                ln,
		TLS:                     creds.serverTLS,
		KubeletClientCertFile:   creds.kubeletClientCert,
		KubeletClientKeyFile:    creds.kubeletClientKey,
	})
	if err != nil {
		return err
	}
	if err := api.RepairAllocations(ctx); err != nil {
		return fmt.Errorf("server: repairing service allocations: %w", err)
	}

	// The in-process clients call the API server's handler directly
	// (package apiserver/inprocess): the same requests and bodies as over
	// HTTPS, without TLS, HTTP framing or a socket. The URL only names
	// the server in the requests (their Host).
	loopback := &rest.Config{
		Host:      creds.loopbackURL,
		Transport: &inprocess.Transport{Handler: api.Handler(), User: loopbackUser, LongRunning: apiserver.LongRunning},
		// The controllers and the scheduler share this client's rate
		// limit: a thousand pods a second is a thousand creates, binds,
		// Scheduled events and status reads through it.
		QPS:       loopbackQPS,
		Burst:     loopbackBurst,
		UserAgent: "navarch-server",
		// Protobuf, as kube-controller-manager and kube-scheduler talk:
		// a third of JSON's encoding cost on both sides. (The dynamic
		// client speaks JSON whatever this says.)
		ContentConfig: rest.ContentConfig{
			ContentType:        runtime.ContentTypeProtobuf,
			AcceptContentTypes: runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON,
		},
	}
	client, err := kubernetes.NewForConfig(loopback)
	if err != nil {
		return fmt.Errorf("server: loopback client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(loopback)
	if err != nil {
		return fmt.Errorf("server: loopback client: %w", err)
	}
	md, err := metadata.NewForConfig(loopback)
	if err != nil {
		return fmt.Errorf("server: loopback client: %w", err)
	}
	// Controllers create their pods, and the scheduler binds them, in
	// process too (ADR 003).
	pods := corev1.SchemeGroupVersion.WithResource("pods")
	createPod := func(ctx context.Context, namespace string, pod *corev1.Pod) (string, error) {
		created, err := api.LocalCreate(ctx, pods, namespace, pod)
		if err != nil {
			return "", err
		}
		m, err := meta.Accessor(created)
		if err != nil {
			return "", err
		}
		return m.GetName(), nil
	}
	manager := controllermanager.New(controllermanager.Clients{
		Kube: client, Dynamic: dyn, Metadata: md, CreatePod: createPod, BindPod: api.LocalBind,
	}, cfg.Controllers)
	// The controllers' and the scheduler's pods come from the watch cache
	// itself: a pod changes three times on its way to Running, and each
	// change was encoded for them and decoded again.
	podSource, err := api.LocalListerWatcher(pods)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	manager.ReadLocally(controllermanager.LocalSource{Object: &corev1.Pod{}, ListerWatcher: podSource})
	if cfg.Agent {
		// The local agent is the node's own user, as its client
		// certificate would make it.
		nodeConfig := rest.CopyConfig(loopback)
		nodeConfig.Transport = &inprocess.Transport{Handler: api.Handler(), User: creds.nodeUser, LongRunning: apiserver.LongRunning}
		nodeConfig.UserAgent = "navarch-agent"
		nodeClient, err := kubernetes.NewForConfig(nodeConfig)
		if err != nil {
			return fmt.Errorf("server: agent client: %w", err)
		}
		a, err := agent.New(agent.Config{
			DataDir: cfg.agentDir(), NodeIP: advertiseForAgent(advertise),
			KubeletAddress: cfg.KubeletAddress, ClientCAFile: creds.caFile,
		}, nodeClient)
		if err != nil {
			return err
		}
		nodeFactory := informers.NewSharedInformerFactory(nodeClient, 0)
		proxier := proxy.New(proxy.Config{NodeName: a.NodeName()}, nodeFactory, proxy.NftCommand{})
		runnables = append(runnables, RunnableFunc(func(ctx context.Context) error {
			// The agent registers its Node through the API: start it and
			// the service proxy once the API server answers.
			select {
			case <-s.ready:
			case <-ctx.Done():
				return nil
			}
			nodeFactory.Start(ctx.Done())
			return runAll(ctx, []Runnable{a, proxier})
		}))
		// The ingress controller proxies straight to pod IPs, so it runs
		// where the pod network is: beside the local agent.
		ingressFactory := informers.NewSharedInformerFactory(client, 0)
		ing, err := ingress.New(ingress.Config{HTTPAddr: ":80", HTTPSAddr: ":443", StatusAddress: dnsListenIP(advertise)}, client, ingressFactory)
		if err != nil {
			return err
		}
		runnables = append(runnables, RunnableFunc(func(ctx context.Context) error {
			select {
			case <-s.ready:
			case <-ctx.Done():
				return nil
			}
			ingressFactory.Start(ctx.Done())
			// A port already taken by another web server must not take the
			// control plane down with it.
			if err := ing.Start(ctx); err != nil {
				logger.Error(err, "ingress controller stopped; Ingresses are not served")
				<-ctx.Done()
			}
			return nil
		}))
	}
	if dnsIP := dnsListenIP(advertise); dnsIP != "" && cfg.ClusterDNS {
		dnsFactory := informers.NewSharedInformerFactory(client, 0)
		dnsServer := dns.New(dns.Config{Listen: net.JoinHostPort(dnsIP, "53")}, dnsFactory)
		runnables = append(runnables, RunnableFunc(func(ctx context.Context) error {
			select {
			case <-s.ready:
			case <-ctx.Done():
				return nil
			}
			dnsFactory.Start(ctx.Done())
			// Another DNS server on port 53 must not take the control plane
			// down with it.
			if err := dnsServer.Start(ctx); err != nil {
				logger.Error(err, "cluster DNS stopped; pods cannot resolve cluster names")
				<-ctx.Done()
			}
			return nil
		}))
	}

	runnables = append(runnables,
		api,
		RunnableFunc(func(ctx context.Context) error {
			if err := waitServing(ctx, api, client); err != nil {
				return err
			}
			if err := bootstrap(ctx, client, cfg, advertise, creds.ca.CertPEM()); err != nil {
				return err
			}
			// Clients listing now find their watch in the caches' history.
			if err := api.WaitForWatchCaches(ctx); err != nil {
				return err
			}
			api.SetReady()
			s.addr = api.Addr()
			close(s.ready)
			logger.Info("navarch server ready", "address", api.Addr(), "kubeconfig", cfg.kubeconfigPath())
			if len(cfg.Controllers) == 0 {
				<-ctx.Done()
				return nil
			}
			// Controllers start once the API answers, so their first lists
			// do not fail.
			return manager.Start(ctx)
		}),
	)
	return runAll(ctx, runnables)
}

// waitServing waits until the API server serves (its watch caches run
// and it listens) and answers the in-process clients. Those reach its
// handler whether it serves or not: this keeps them from starting first.
func waitServing(ctx context.Context, api *apiserver.Server, client kubernetes.Interface) error {
	for {
		if api.Addr() != "" {
			if _, err := client.Discovery().RESTClient().Get().AbsPath("/healthz").DoRaw(ctx); err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// runAll starts every runnable and waits for ctx to end or one of them to
// fail; then it cancels the others and waits for them to return.
func runAll(ctx context.Context, runnables []Runnable) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, len(runnables))
	for _, r := range runnables {
		wg.Add(1)
		go func(r Runnable) {
			defer wg.Done()
			if err := r.Start(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errc <- err
				cancel()
			}
		}(r)
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// dnsListenIP is where the cluster DNS listens: the advertised address,
// which the kube-dns Service's endpoints point at ("" when loopback, as
// in tests: pods could not reach it).
func dnsListenIP(ip net.IP) string {
	if ip == nil || ip.IsLoopback() || ip.IsUnspecified() {
		return ""
	}
	return ip.String()
}

// advertiseForAgent is the node IP the local agent reports: the
// advertised address unless that is loopback (then the agent finds the
// default route's address itself).
func advertiseForAgent(ip net.IP) string {
	if ip == nil || ip.IsLoopback() {
		return ""
	}
	return ip.String()
}

// advertiseAddress picks the address the kubernetes Service points at.
func advertiseAddress(cfg Config) net.IP {
	if cfg.AdvertiseAddress != "" {
		return net.ParseIP(cfg.AdvertiseAddress)
	}
	if ip := net.ParseIP(cfg.BindAddress); ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
		return ip
	}
	if ips, err := pki.HostIPs(); err == nil {
		for _, ip := range ips {
			if ip.To4() != nil {
				return ip
			}
		}
	}
	return net.ParseIP("127.0.0.1")
}
