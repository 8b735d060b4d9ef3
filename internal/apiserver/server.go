package apiserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/klog/v2"

	"github.com/navarch/navarch/internal/apiserver/metrics"
	"github.com/navarch/navarch/internal/apiserver/nodeclient"
	"github.com/navarch/navarch/internal/registry"
	"github.com/navarch/navarch/internal/satoken"
	"github.com/navarch/navarch/internal/storage"
	"github.com/navarch/navarch/internal/storage/cacher"
	"github.com/navarch/navarch/internal/version"
)

// Config is what the API server needs.
type Config struct {
	// Storage holds every object.
	Storage storage.Interface
	// Kinds are the served kinds (registry/builtin.Kinds()).
	Kinds []*registry.Kind
	// Authenticator identifies clients; a request it does not recognize gets
	// 401 except on the public health and version endpoints. Nil accepts
	// every request as an anonymous admin (in-process tests only).
	Authenticator Authenticator
	// ServiceAccountSigner, when set, signs and checks service account
	// tokens: the server serves serviceaccounts/NAME/token (TokenRequest)
	// and accepts those tokens besides Authenticator. Nil: neither.
	ServiceAccountSigner *satoken.Signer
	// ServiceAccountAdmission runs upstream's ServiceAccount admission on
	// new pods: the "default" account when the pod names none, 403 when
	// the account does not exist, and the projected kube-api-access volume
	// mounted in every container.
	ServiceAccountAdmission bool

	// OpenAPI serves /openapi/v2 and /openapi/v3 (openapi.New(Kinds));
	// nil answers 404 there.
	OpenAPI OpenAPIServer

	// ServiceCIDR and NodePortRange are where Services get their cluster
	// IPs and node ports ("" for DefaultServiceCIDR, DefaultNodePortRange).
	ServiceCIDR   string
	NodePortRange string

	// Metrics is where the resource metrics API (metrics.k8s.io, for
	// kubectl top) reads the nodes' /stats/summary; nil: through the node
	// client (KubeletClientCertFile), and without one the group is not
	// served. Tests set a fake.
	Metrics metrics.NodeStats

	// WatchCache serves the watches of every kind from one watch of the
	// storage per kind (storage/cacher), as kube-apiserver's --watch-cache
	// does; false watches the storage once per client.
	WatchCache bool

	// Profiling serves Go's profiles under /debug/pprof/ to authenticated
	// clients, as kube-apiserver's --profiling does.
	Profiling bool

	// Address is where Start listens ("0.0.0.0:6443"), with TLS.
	Address string
	// Listener, when set, is the socket Start serves on instead of
	// listening on Address: a caller that must know the bound port before
	// the server starts (port 0) opens it first.
	Listener net.Listener
	// TLS serves the API; Start refuses to serve without it.
	TLS *tls.Config

	// KubeletClientCertFile and KubeletClientKeyFile are the API
	// server's client certificate toward node agents (CN
	// kube-apiserver-kubelet-client), for pods/log, exec, attach and
	// portforward; empty: those answer 503.
	KubeletClientCertFile, KubeletClientKeyFile string
}

// OpenAPIServer serves the OpenAPI documents.
type OpenAPIServer interface {
	ServeV2(w http.ResponseWriter, r *http.Request)
	ServeV3(w http.ResponseWriter, r *http.Request)
}

// Server is the API server. Create it with New; serve it with Start, or
// use Handler in tests.
type Server struct {
	cfg   Config
	store storage.Interface
	// authn is Config.Authenticator, plus the service account tokens
	// when Config.ServiceAccountSigner is set.
	authn     Authenticator
	resources map[schema.GroupVersionResource]*resource
	discovery *discovery
	// services allocates Service IPs and ports; nil when services are not
	// served.
	services *serviceAllocator
	// metrics serves metrics.k8s.io; nil when Config.Metrics is.
	metrics *metrics.Server
	// ready turns true once the server may answer /readyz with 200
	// (SetReady, after bootstrap objects exist).
	ready atomic.Bool
	// listenAddr is the address Start is listening on, once it is.
	listenAddr atomic.Value
	// nodes reaches node agents; nil without a kubelet client
	// certificate.
	nodes *nodeclient.Client
	// proxyTransport carries pods/proxy and services/proxy requests
	// (proxy.go); it refuses loopback and link-local addresses.
	proxyTransport *http.Transport
	// cachers are the watch caches by storage prefix (Config.WatchCache),
	// cacherTypes an object of the type each stores.
	cachers     map[string]*cacher.Cacher
	cacherTypes map[string]runtime.Object
}

// New builds a Server from cfg; it does not listen yet.
func New(cfg Config) (*Server, error) {
	if cfg.Storage == nil {
		return nil, errors.New("apiserver: no storage configured")
	}
	s := &Server{
		cfg:       cfg,
		store:     cfg.Storage,
		resources: map[schema.GroupVersionResource]*resource{},

		proxyTransport: newProxyTransport(),
	}
	var list []*resource
	for _, k := range cfg.Kinds {
		res, err := newResource(k)
		if err != nil {
			return nil, err
		}
		gvr := k.GroupVersionResource()
		if _, dup := s.resources[gvr]; dup {
			return nil, fmt.Errorf("apiserver: kind %s registered twice", gvr)
		}
		res.store = cfg.Storage
		if cfg.WatchCache && !uncachedPrefixes[res.prefix] {
			if res.store, err = s.watchCacheFor(res); err != nil {
				return nil, err
			}
		}
		s.resources[gvr] = res
		list = append(list, res)
	}
	s.discovery = newDiscovery(list)
	s.authn = cfg.Authenticator
	if cfg.ServiceAccountSigner != nil && cfg.Authenticator != nil {
		s.authn = UnionAuthenticator{cfg.Authenticator, serviceAccountAuthenticator{validator: &satoken.Validator{
			Signer: cfg.ServiceAccountSigner, Audiences: s.apiAudiences(), Getter: objectGetter{s},
		}}}
	}
	if _, ok := s.resources[schema.GroupVersionResource{Version: "v1", Resource: "services"}]; ok {
		alloc, err := newServiceAllocator(cfg.Storage, cfg.ServiceCIDR, cfg.NodePortRange)
		if err != nil {
			return nil, err
		}
		s.services = alloc
	}
	if cfg.KubeletClientCertFile != "" {
		nodes, err := nodeclient.New(nodeclient.Config{
			CertFile: cfg.KubeletClientCertFile, KeyFile: cfg.KubeletClientKeyFile, Nodes: s.getNode,
		})
		if err != nil {
			return nil, err
		}
		s.nodes = nodes
	}
	// Resource metrics come from the node agents' stats summaries, through
	// the same client as logs and exec, unless the config names a source.
	nodeStats := cfg.Metrics
	if nodeStats == nil && s.nodes != nil {
		nodeStats = s.nodes
	}
	if nodeStats != nil {
		m, err := s.newMetrics(nodeStats)
		if err != nil {
			return nil, err
		}
		s.metrics = m
		s.discovery.addGroup(metrics.APIGroup(), metrics.APIResourceList(), metrics.AggregatedDiscovery())
	}
	return s, nil
}

// NodeClient returns the client the server reaches node agents with
// (nil when it has no kubelet client certificate).
func (s *Server) NodeClient() *nodeclient.Client { return s.nodes }

// getNode reads a Node from storage (for nodeclient).
func (s *Server) getNode(ctx context.Context, name string) (*corev1.Node, error) {
	res := s.resources[schema.GroupVersionResource{Version: "v1", Resource: "nodes"}]
	if res == nil {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "nodes"}, name)
	}
	obj, err := s.getServed(ctx, res, "", name, "")
	if err != nil {
		return nil, err
	}
	node, ok := obj.(*corev1.Node)
	if !ok {
		return nil, fmt.Errorf("apiserver: node %s is a %T", name, obj)
	}
	return node, nil
}

// RepairAllocations marks every IP and port held by a stored Service as
// allocated; the composition root calls it once at start-up.
func (s *Server) RepairAllocations(ctx context.Context) error {
	if s.services == nil {
		return nil
	}
	return s.services.repair(ctx, s.store)
}

// SetReady makes /readyz answer 200 (while storage answers too).
func (s *Server) SetReady() { s.ready.Store(true) }

// Handler returns the HTTP handler serving the whole API.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// uncachedPrefixes are the storage directories without a watch cache. As
// upstream (whose default cache sizes are 0 for them), events: many
// writes, few watchers, and a cache would hold every event in memory.
var uncachedPrefixes = map[string]bool{"/registry/events/": true}

// watchCacheFor returns the watch cache of res's storage prefix, made on
// first use; kinds stored under one prefix (core and events.k8s.io
// Events) share it.
func (s *Server) watchCacheFor(res *resource) (*cacher.Cacher, error) {
	if c, ok := s.cachers[res.prefix]; ok {
		if reflect.TypeOf(res.newStored()) != reflect.TypeOf(s.cacherTypes[res.prefix]) {
			return nil, fmt.Errorf("apiserver: kinds stored under %s have different types", res.prefix)
		}
		return c, nil
	}
	if s.cachers == nil {
		s.cachers = map[string]*cacher.Cacher{}
		s.cacherTypes = map[string]runtime.Object{}
	}
	c := cacher.New(cacher.Config{
		Storage:   s.cfg.Storage,
		Prefix:    res.prefix,
		NewObject: res.newStored,
		NewList:   res.newStoredList,
		KeyOf: func(obj runtime.Object) (string, error) {
			m, err := meta.Accessor(obj)
			if err != nil {
				return "", err
			}
			return res.key(m.GetNamespace(), m.GetName()), nil
		},
	})
	s.cachers[res.prefix] = c
	s.cacherTypes[res.prefix] = res.newStored()
	return c, nil
}

// WaitForWatchCaches waits until every watch cache holds its objects (or
// ctx ends). Start runs the caches.
func (s *Server) WaitForWatchCaches(ctx context.Context) error {
	for _, c := range s.cachers {
		select {
		case <-c.Ready():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Start runs the watch caches, listens on cfg.Address (or takes
// cfg.Listener) with TLS and serves until ctx ends, then shuts down
// gracefully (watches and other long requests are cut).
func (s *Server) Start(ctx context.Context) error {
	if s.cfg.TLS == nil {
		return errors.New("apiserver: refusing to serve without TLS")
	}
	var caches sync.WaitGroup
	defer caches.Wait()
	cacheCtx, stopCaches := context.WithCancel(ctx)
	defer stopCaches()
	for _, c := range s.cachers {
		caches.Add(1)
		go func() {
			defer caches.Done()
			_ = c.Run(cacheCtx)
		}()
	}
	ln := s.cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.cfg.Address); err != nil {
			return fmt.Errorf("apiserver: listen: %w", err)
		}
	}
	s.listenAddr.Store(ln.Addr().String())
	srv := &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         s.cfg.TLS.Clone(),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          nil,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return fmt.Errorf("apiserver: serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
	}
	return nil
}

// Addr returns the address Start listens on, or "" before it does.
func (s *Server) Addr() string {
	a, _ := s.listenAddr.Load().(string)
	return a
}

// publicPaths are served without credentials, as upstream's
// system:public-info-viewer role allows.
func isPublicPath(p string) bool {
	switch p {
	case "/healthz", "/livez", "/readyz", "/version", "/version/":
		return true
	}
	return strings.HasPrefix(p, "/healthz/") || strings.HasPrefix(p, "/livez/") || strings.HasPrefix(p, "/readyz/")
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			klog.FromContext(r.Context()).Error(fmt.Errorf("%v", v), "panic serving request", "method", r.Method, "path", r.URL.Path)
			writeError(w, r, apierrors.NewInternalError(fmt.Errorf("panic: %v", v)))
		}
	}()
	if !isPublicPath(r.URL.Path) && s.authn != nil {
		if _, ok := s.authn.Authenticate(r); !ok {
			writeError(w, r, apierrors.NewUnauthorized("Unauthorized"))
			return
		}
	}
	parts := splitPath(r.URL.Path)
	switch {
	case len(parts) == 0:
		s.serveRootPaths(w, r)
		return
	case r.URL.Path == "/version" || r.URL.Path == "/version/":
		info := version.Info()
		data, _ := jsonMarshal(info)
		writeRawJSON(w, http.StatusOK, "application/json", data)
		return
	case parts[0] == "healthz" || parts[0] == "livez":
		s.serveHealth(w, r, false)
		return
	case parts[0] == "readyz":
		s.serveHealth(w, r, true)
		return
	case parts[0] == "openapi" && len(parts) >= 2 && parts[1] == "v2" && s.cfg.OpenAPI != nil:
		s.cfg.OpenAPI.ServeV2(w, r)
		return
	case parts[0] == "openapi" && len(parts) >= 2 && parts[1] == "v3" && s.cfg.OpenAPI != nil:
		s.cfg.OpenAPI.ServeV3(w, r)
		return
	case s.cfg.Profiling && len(parts) >= 2 && parts[0] == "debug" && parts[1] == "pprof":
		serveProfiling(w, r, parts[2:])
		return
	case s.metrics != nil && len(parts) >= 2 && parts[0] == "apis" && parts[1] == metrics.GroupName:
		s.metrics.ServeHTTP(w, r)
		return
	case parts[0] == "api" || parts[0] == "apis":
		info := parseRequestInfo(r)
		if !info.IsResource {
			if r.Method == http.MethodGet && s.serveDiscovery(w, r, parts) {
				return
			}
			writeError(w, r, notFoundPath())
			return
		}
		s.serveResource(w, r, info)
		return
	}
	writeError(w, r, notFoundPath())
}

// notFoundPath is the answer for paths the server does not serve.
func notFoundPath() error {
	return apierrors.NewGenericServerResponse(http.StatusNotFound, "", schema.GroupResource{}, "", "the server could not find the requested resource", 0, false)
}

func notAcceptable(r *http.Request) error {
	return apierrors.NewGenericServerResponse(http.StatusNotAcceptable, "", schema.GroupResource{}, "",
		fmt.Sprintf("only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf (asked for %q)", r.Header.Get("Accept")), 0, false)
}

func (s *Server) serveRootPaths(w http.ResponseWriter, r *http.Request) {
	paths := []string{"/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v2", "/openapi/v3", "/readyz", "/version"}
	for gv := range s.discovery.resourceLists {
		if strings.Contains(gv, "/") {
			group := strings.SplitN(gv, "/", 2)[0]
			paths = append(paths, "/apis/"+gv, "/apis/"+group)
		}
	}
	data, _ := jsonMarshal(map[string][]string{"paths": sortedUnique(paths)})
	writeRawJSON(w, http.StatusOK, "application/json", data)
}

// serveHealth answers /healthz, /livez (the process is up and etcd
// answers) and /readyz (that, and bootstrap is done). ?verbose lists the
// checks as upstream does.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request, readiness bool) {
	type check struct {
		name string
		err  error
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := []check{{name: "ping"}}
	_, err := s.store.CurrentRevision(ctx)
	checks = append(checks, check{name: "etcd", err: err})
	if readiness && !s.ready.Load() {
		checks = append(checks, check{name: "bootstrap", err: errors.New("bootstrap not finished")})
	}
	if readiness && len(s.cachers) > 0 {
		var err error
		for _, c := range s.cachers {
			if !c.IsReady() {
				err = errors.New("watch cache not ready")
				break
			}
		}
		checks = append(checks, check{name: "watch-cache", err: err})
	}
	failed := false
	var b strings.Builder
	for _, c := range checks {
		if c.err != nil {
			failed = true
			fmt.Fprintf(&b, "[-]%s failed: reason withheld\n", c.name)
		} else {
			fmt.Fprintf(&b, "[+]%s ok\n", c.name)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if failed {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "%s%s check failed\n", b.String(), strings.TrimPrefix(r.URL.Path, "/"))
		return
	}
	if _, verbose := r.URL.Query()["verbose"]; verbose {
		fmt.Fprintf(w, "%s%s check passed\n", b.String(), strings.TrimPrefix(r.URL.Path, "/"))
		return
	}
	_, _ = w.Write([]byte("ok"))
}
