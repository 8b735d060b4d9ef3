package nodeapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/navarch/navarch/internal/agent/cri"
)

// DefaultPort is where the endpoint listens unless told otherwise: the
// kubelet's port.
const DefaultPort = 10250

// PodGetter finds the pods bound to this node by name; the agent answers
// from its pod informer's cache.
type PodGetter interface {
	// GetPod returns the pod, or false when the node has no such pod.
	GetPod(namespace, name string) (*corev1.Pod, bool)
}

// PodGetterFunc adapts a function to PodGetter.
type PodGetterFunc func(namespace, name string) (*corev1.Pod, bool)

// GetPod implements PodGetter.
func (f PodGetterFunc) GetPod(namespace, name string) (*corev1.Pod, bool) { return f(namespace, name) }

// Runtime is what the endpoint asks of the container runtime: container
// state and log paths, the pod's sandbox, and streaming URLs.
// *cri.Client implements it.
type Runtime interface {
	ContainerStatus(ctx context.Context, id string) (*runtimeapi.ContainerStatus, error)
	ListPodSandbox(ctx context.Context, filter *runtimeapi.PodSandboxFilter) ([]*runtimeapi.PodSandbox, error)
	cri.Streamer
}

var _ Runtime = (*cri.Client)(nil)

// Config is what the endpoint needs.
type Config struct {
	// Address is where it listens, "host:port"; default ":10250" (every
	// address, the kubelet's port). Port 0 picks a free port (tests); the
	// agent publishes the port it got in its Node's
	// status.daemonEndpoints.kubeletEndpoint.
	Address string
	// CertDir holds the self-signed serving certificate (ServingCertFile,
	// ServingKeyFile), created at the first start. Required.
	CertDir string
	// Hosts are the names and addresses the serving certificate covers
	// (node name, node IP).
	Hosts []string
	// ClientCA is the cluster CA (PEM) that client certificates must
	// chain to. Required.
	ClientCA []byte
	// Pods finds pod objects by name. Required.
	Pods PodGetter
	// Runtime reaches the containers. Required.
	Runtime Runtime
	// Extra are further handlers keyed by http.ServeMux pattern ("GET
	// /stats/summary"), served behind the same authentication as the
	// built-in routes. A pattern that clashes with a built-in one makes
	// New fail.
	Extra map[string]http.Handler
}

// Server is the endpoint. Build it with New; Start serves it.
type Server struct {
	cfg     Config
	handler http.Handler
	tls     *tls.Config

	mu sync.Mutex
	// ln is the listener once Listen ran. Guarded by mu.
	ln net.Listener
}

// New checks cfg, loads or creates the serving certificate and builds the
// routes. It does not listen yet.
func New(cfg Config) (*Server, error) {
	if cfg.Address == "" {
		cfg.Address = fmt.Sprintf(":%d", DefaultPort)
	}
	if cfg.CertDir == "" {
		return nil, errors.New("nodeapi: no certificate dir")
	}
	if len(cfg.ClientCA) == 0 {
		return nil, errors.New("nodeapi: no client CA")
	}
	if cfg.Pods == nil || cfg.Runtime == nil {
		return nil, errors.New("nodeapi: no pod getter or runtime")
	}
	cert, err := ensureServingCert(cfg.CertDir, cfg.Hosts, time.Now())
	if err != nil {
		return nil, err
	}
	tc, err := tlsConfig(cert, cfg.ClientCA)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, tls: tc}
	mux, err := s.routes()
	if err != nil {
		return nil, err
	}
	s.handler = authorize(mux)
	return s, nil
}

// routes registers the kubelet's paths and cfg.Extra.
func (s *Server) routes() (mux *http.ServeMux, err error) {
	mux = http.NewServeMux()
	defer func() {
		// ServeMux panics on a clashing pattern.
		if v := recover(); v != nil {
			mux, err = nil, fmt.Errorf("nodeapi: registering handlers: %v", v)
		}
	}()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", s.serveContainerLogs)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		mux.HandleFunc(method+" /exec/{namespace}/{pod}/{container}", s.serveExec)
		mux.HandleFunc(method+" /attach/{namespace}/{pod}/{container}", s.serveAttach)
		mux.HandleFunc(method+" /portForward/{namespace}/{pod}", s.servePortForward)
	}
	// More routes (/stats/summary for metrics, /pods) come from
	// Config.Extra.
	for pattern, h := range s.cfg.Extra {
		mux.Handle(pattern, h)
	}
	return mux, nil
}

// Handler returns the routes behind the caller check. The check reads the
// verified client certificate of r.TLS, so it serves only requests that
// came through a TLS listener configured like Start's.
func (s *Server) Handler() http.Handler { return s.handler }

// TLSConfig returns the server's TLS configuration (serving certificate,
// client CA); tests serve Handler with it.
func (s *Server) TLSConfig() *tls.Config { return s.tls.Clone() }

// Listen binds cfg.Address (once; later calls return the same port) and
// returns the port it got. Start calls it if the caller did not.
func (s *Server) Listen() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		ln, err := net.Listen("tcp", s.cfg.Address)
		if err != nil {
			return 0, fmt.Errorf("nodeapi: listen: %w", err)
		}
		s.ln = ln
	}
	return s.ln.Addr().(*net.TCPAddr).Port, nil
}

// Start serves until ctx ends, then shuts down: requests in flight get a
// few seconds, followed logs end with ctx. Upgraded connections (exec,
// attach, port-forward) are not cut: they end with their client or their
// container.
func (s *Server) Start(ctx context.Context) error {
	if _, err := s.Listen(); err != nil {
		return err
	}
	logger := klog.FromContext(ctx)
	srv := &http.Server{
		Handler:           s.handler,
		TLSConfig:         s.tls,
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		// Failed handshakes (a caller with the wrong CA, a port scan) are
		// no news worth a log line each.
		ErrorLog: log.New(verboseWriter{logger}, "", 0),
	}
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return fmt.Errorf("nodeapi: serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
	}
	return nil
}

// verboseWriter logs the http.Server's own messages at V(4).
type verboseWriter struct{ logger klog.Logger }

func (v verboseWriter) Write(p []byte) (int, error) {
	v.logger.V(4).Info("node API server", "msg", string(p))
	return len(p), nil
}
