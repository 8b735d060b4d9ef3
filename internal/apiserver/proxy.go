package apiserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/proxy"
	"k8s.io/klog/v2"
)

// The proxy subresources of pods, services and nodes (upstream's
// ProxyREST) forward any HTTP request, upgrades (WebSocket) included, to
// what the object names:
//
//	/api/v1/namespaces/NS/pods/[SCHEME:]NAME[:PORT]/proxy/PATH
//	    the pod's IP, at PORT or the first port its containers declare.
//	/api/v1/namespaces/NS/services/[SCHEME:]NAME[:PORT]/proxy/PATH
//	    a ready endpoint of the service (Endpoints object), PORT naming
//	    the service port by name or number; 503 "no endpoints available".
//	/api/v1/nodes/[SCHEME:]NAME[:PORT]/proxy/PATH
//	    the node agent's API (nodeapi) with the kubelet client
//	    certificate, or another PORT of the node's address.
//
// PATH and the query string go through; the API prefix does not. HTML
// answers have their links rewritten under the proxy URL and redirects
// point back through it (apimachinery's proxy transport), as upstream.
//
// Two rules keep the API server from being a way into places its
// clients cannot reach:
//   - the caller's Authorization header is never forwarded (the API
//     server speaks with its own identity, or none);
//   - the target address must be a global unicast address: loopback,
//     link-local (cloud metadata at 169.254.169.254), multicast and
//     unspecified addresses are refused, both when the target is chosen
//     and when the connection is dialled (proxyDialControl). A service
//     endpoint must moreover be the IP of a pod it references in the
//     service's namespace, so a hand-written Endpoints object cannot aim
//     the API server at an arbitrary host (CVE-2020-8562 and kin).

// proxyMethods are the methods the proxy subresources forward (upstream's
// ConnectMethods, with PATCH).
var proxyMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// errAddressNotAllowed is upstream's answer for a target address the API
// server will not connect to.
var errAddressNotAllowed = errors.New("address not allowed")

// proxyableAddress is the address rule above: nil for a global unicast
// address, errAddressNotAllowed for anything else.
func proxyableAddress(ip netip.Addr) error {
	ip = ip.Unmap()
	if !ip.IsValid() || !ip.IsGlobalUnicast() || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
		return errAddressNotAllowed
	}
	return nil
}

// proxyableIP parses s (an IP literal) and applies proxyableAddress.
func proxyableIP(s string) error {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return errAddressNotAllowed
	}
	return proxyableAddress(ip)
}

// proxyDialControl refuses, at connect time, addresses proxyableAddress
// refuses: a host name that resolves somewhere else than when it was
// checked, or a redirect, still cannot reach the API server's loopback.
func proxyDialControl(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("apiserver: proxy dial %q: %w", address, err)
	}
	if err := proxyableIP(host); err != nil {
		return fmt.Errorf("apiserver: proxy dial %s: %w", host, err)
	}
	return nil
}

// newProxyTransport is the transport to pods, service endpoints and
// node ports other than the agent's: no proxy from the environment,
// proxyDialControl on every connection, and (as upstream's proxy
// transport) TLS without verifying the backend's certificate, which a
// pod cannot get signed by anything the API server trusts.
func newProxyTransport() *http.Transport {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: proxyDialControl}
	return &http.Transport{
		Proxy:       nil,
		DialContext: dialer.DialContext,
		TLSClientConfig: &tls.Config{
			InsecureSkipVerify: true, //nolint:gosec // as upstream's proxy transport: pods serve self-signed certificates
			MinVersion:         tls.VersionTLS12,
		},
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 10,
		IdleConnTimeout:     90 * time.Second,
	}
}

// proxyTarget is where one proxy request goes.
type proxyTarget struct {
	loc       *url.URL // scheme and host
	transport http.RoundTripper
}

// serveProxy answers pods/proxy, services/proxy and nodes/proxy.
func (s *Server) serveProxy(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	if !proxyMethods[r.Method] {
		writeError(w, r, methodNotSupported(res, info.Verb))
		return
	}
	kind := strings.TrimSuffix(res.gr.Resource, "s") // pod, service, node
	scheme, name, port, ok := utilnet.SplitSchemeNamePort(info.Name)
	if !ok {
		writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("invalid %s request %q", kind, info.Name)))
		return
	}
	var (
		target *proxyTarget
		err    error
	)
	switch res.gr.Resource {
	case "pods":
		target, err = s.podProxyTarget(r.Context(), res, info.Namespace, scheme, name, port)
	case "services":
		target, err = s.serviceProxyTarget(r.Context(), res, info.Namespace, info.Name, scheme, name, port)
	case "nodes":
		target, err = s.nodeProxyTarget(r.Context(), scheme, name, port)
	default:
		err = notFoundPath()
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	loc := *target.loc
	loc.Path = proxyPath(info)
	// The query goes through as it came (the upgrade path reads it from
	// the location, the plain one from the request).
	loc.RawQuery = r.URL.RawQuery
	klog.FromContext(r.Context()).V(4).Info("proxying", "resource", res.gr.Resource, "name", info.Name, "to", loc.Host, "path", loc.Path)
	h := proxy.NewUpgradeAwareHandler(&loc, target.transport, true, false, proxyResponder{})
	h.ServeHTTP(w, withoutCredentials(r))
}

// proxyPath is the path to request from the backend: what follows
// "proxy" in the request path, cleaned of "." and ".." ("" when nothing
// follows; the proxy then redirects .../proxy to .../proxy/).
func proxyPath(info requestInfo) string {
	if len(info.Parts) <= 3 {
		return ""
	}
	return path.Clean("/" + strings.Join(info.Parts[3:], "/"))
}

// podProxyTarget is upstream's pod ResourceLocation: the pod's first IP
// at port, or at the first port a container declares, or with no port
// (the scheme's default).
func (s *Server) podProxyTarget(ctx context.Context, res *resource, namespace, scheme, name, port string) (*proxyTarget, error) {
	if port != "" && !validPort(port) {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid pod request %q", joinSchemeNamePort(scheme, name, port)))
	}
	obj, err := s.getServed(ctx, res, namespace, name, "")
	if err != nil {
		return nil, err
	}
	pod := obj.(*corev1.Pod)
	if port == "" {
	containers:
		for _, c := range pod.Spec.Containers {
			for _, p := range c.Ports {
				port = strconv.Itoa(int(p.ContainerPort))
				break containers
			}
		}
	}
	podIP := pod.Status.PodIP
	if len(pod.Status.PodIPs) > 0 {
		podIP = pod.Status.PodIPs[0].IP
	}
	if err := proxyableIP(podIP); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	loc := &url.URL{Scheme: scheme, Host: hostPort(podIP, port)}
	return &proxyTarget{loc: loc, transport: s.proxyTransport}, nil
}

// serviceProxyTarget is upstream's service ResourceLocation: a port given
// by number becomes the service port's name; then a random ready address
// of the service's Endpoints that carries that port name, among those
// that are the IP of the pod they reference (see validEndpointAddress).
func (s *Server) serviceProxyTarget(ctx context.Context, res *resource, namespace, id, scheme, name, port string) (*proxyTarget, error) {
	obj, err := s.getServed(ctx, res, namespace, name, "")
	if err != nil {
		return nil, err
	}
	svc := obj.(*corev1.Service)
	if n, err := strconv.ParseInt(port, 10, 32); err == nil {
		found := false
		for _, p := range svc.Spec.Ports {
			if int64(p.Port) == n {
				port, found = p.Name, true
				break
			}
		}
		if !found {
			return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("no service port %d found for service %q", n, name))
		}
	}
	epRes := s.resources[schema.GroupVersionResource{Version: "v1", Resource: "endpoints"}]
	if epRes == nil {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("no endpoints available for service %q", name))
	}
	epObj, err := s.getServed(ctx, epRes, namespace, name, "")
	if err != nil {
		return nil, err
	}
	eps := epObj.(*corev1.Endpoints)
	if len(eps.Subsets) == 0 {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("no endpoints available for service %q", name))
	}
	podRes := s.resources[schema.GroupVersionResource{Version: "v1", Resource: "pods"}]
	podIPs := func(podName string) ([]corev1.PodIP, error) {
		if podRes == nil {
			return nil, errors.New("apiserver: pods are not served")
		}
		obj, err := s.getServed(ctx, podRes, namespace, podName, "")
		if err != nil {
			return nil, err
		}
		pod := obj.(*corev1.Pod)
		ips := pod.Status.PodIPs
		if len(ips) == 0 && pod.Status.PodIP != "" {
			ips = []corev1.PodIP{{IP: pod.Status.PodIP}}
		}
		return ips, nil
	}
	addr, epPort, err := pickEndpoint(eps, port, namespace, podIPs, rand.IntN)
	if err != nil {
		klog.FromContext(ctx).V(2).Info("service proxy: no usable endpoint", "service", klog.KRef(namespace, name), "port", port, "err", err)
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("no endpoints available for service %q", id))
	}
	loc := &url.URL{Scheme: scheme, Host: net.JoinHostPort(addr, strconv.Itoa(int(epPort)))}
	return &proxyTarget{loc: loc, transport: s.proxyTransport}, nil
}

// pickEndpoint chooses, starting from a random subset and a random
// address in it (randN(n) is in [0, n)), the first ready address of a
// subset that has portName and passes validEndpointAddress. The error
// says why none did.
func pickEndpoint(eps *corev1.Endpoints, portName, namespace string, podIPs func(string) ([]corev1.PodIP, error), randN func(int) int) (string, int32, error) {
	var reasons []error
	subsetSeed := randN(len(eps.Subsets))
	for i := range eps.Subsets {
		ss := &eps.Subsets[(subsetSeed+i)%len(eps.Subsets)]
		if len(ss.Addresses) == 0 {
			continue
		}
		for _, p := range ss.Ports {
			if p.Name != portName {
				continue
			}
			addrSeed := randN(len(ss.Addresses))
			for j := range ss.Addresses {
				addr := ss.Addresses[(addrSeed+j)%len(ss.Addresses)]
				if err := validEndpointAddress(addr, namespace, podIPs); err != nil {
					reasons = append(reasons, err)
					continue
				}
				return addr.IP, p.Port, nil
			}
		}
	}
	if len(reasons) == 0 {
		return "", 0, fmt.Errorf("apiserver: no ready address with port %q", portName)
	}
	return "", 0, errors.Join(reasons...)
}

// validEndpointAddress accepts an endpoint address only if it is a
// proxyable address and the IP of the pod it references, in namespace.
func validEndpointAddress(addr corev1.EndpointAddress, namespace string, podIPs func(string) ([]corev1.PodIP, error)) error {
	if err := proxyableIP(addr.IP); err != nil {
		return fmt.Errorf("apiserver: endpoint %s: %w", addr.IP, err)
	}
	ref := addr.TargetRef
	if ref == nil || ref.Kind != "Pod" {
		return fmt.Errorf("apiserver: endpoint %s references no pod", addr.IP)
	}
	if ref.Namespace != namespace {
		return fmt.Errorf("apiserver: endpoint %s references a pod in namespace %q", addr.IP, ref.Namespace)
	}
	ips, err := podIPs(ref.Name)
	if err != nil {
		return fmt.Errorf("apiserver: endpoint %s: %w", addr.IP, err)
	}
	for _, ip := range ips {
		if ip.IP == addr.IP {
			return nil
		}
	}
	return fmt.Errorf("apiserver: endpoint %s is not an IP of pod %s/%s (%v)", addr.IP, namespace, ref.Name, ips)
}

// nodeProxyTarget is upstream's node ResourceLocation: without a port,
// or with the agent's, the node API over HTTPS with the kubelet client
// certificate; with another port, that port of the node's address
// through the plain proxy transport.
func (s *Server) nodeProxyTarget(ctx context.Context, scheme, name, port string) (*proxyTarget, error) {
	if port != "" && !validPort(port) {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid node request %q", joinSchemeNamePort(scheme, name, port)))
	}
	if s.nodes == nil {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("proxy of node %s: the API server has no client certificate for node agents", name))
	}
	agent, err := s.nodes.Location(ctx, name, "/")
	if err != nil {
		return nil, nodeError(err)
	}
	host := agent.Hostname()
	if err := proxyableHost(ctx, host); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if port == "" || port == agent.Port() {
		return &proxyTarget{loc: &url.URL{Scheme: agent.Scheme, Host: agent.Host}, transport: s.nodes.Transport()}, nil
	}
	return &proxyTarget{loc: &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, port)}, transport: s.proxyTransport}, nil
}

// proxyableHost checks an IP literal, or every address a host name
// resolves to, with proxyableAddress (upstream's isProxyableHostname).
func proxyableHost(ctx context.Context, host string) error {
	if ip, err := netip.ParseAddr(host); err == nil {
		return proxyableAddress(ip)
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("apiserver: resolving node address %s: %w", host, err)
	}
	if len(ips) == 0 {
		return errors.New("no addresses for hostname")
	}
	for _, ip := range ips {
		if err := proxyableAddress(ip); err != nil {
			return err
		}
	}
	return nil
}

// validPort reports whether p is a port number, 1 to 65535.
func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// hostPort joins ip and port, leaving the port out when it is empty
// (brackets kept around an IPv6 address).
func hostPort(ip, port string) string {
	if port != "" {
		return net.JoinHostPort(ip, port)
	}
	if strings.Contains(ip, ":") {
		return "[" + ip + "]"
	}
	return ip
}

func joinSchemeNamePort(scheme, name, port string) string {
	if scheme != "" {
		return scheme + ":" + name + ":" + port
	}
	return name + ":" + port
}
