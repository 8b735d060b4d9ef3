package ingress

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
)

// backend is where matching requests go.
type backend struct {
	// service is "namespace/name:port" for humans.
	service string
	// endpoints are "ip:port" of ready endpoints; empty with reason set
	// when none can serve.
	endpoints []string
	reason    string
}

// pathRule is one path of a host.
type pathRule struct {
	path    string
	exact   bool
	backend *backend
	ingress string // namespace/name, for logs
}

// hostRules are the paths of one host, most specific first.
type hostRules struct {
	paths []pathRule
}

// match returns the backend for a request path, or nil.
func (h *hostRules) match(path string) *backend {
	for _, p := range h.paths {
		if p.exact {
			if path == p.path {
				return p.backend
			}
			continue
		}
		if prefixMatch(p.path, path) {
			return p.backend
		}
	}
	return nil
}

// prefixMatch is the Prefix path type: element-wise, "/foo" matches
// "/foo", "/foo/" and "/foo/bar" but not "/foobar".
func prefixMatch(prefix, path string) bool {
	if prefix == "/" {
		return true
	}
	prefix = strings.TrimSuffix(prefix, "/")
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// table is an immutable routing table.
type table struct {
	exact    map[string]*hostRules // host -> rules
	wildcard map[string]*hostRules // "example.com" for "*.example.com"
	any      *hostRules            // rules without a host
	fallback *backend              // a default backend, if any Ingress has one
	// tls maps a host (or "*.example.com") to its Secret "namespace/name".
	tls map[string]string
}

// lookup finds the backend of a request (the default backend when no
// rule matches), and whether some rule names the host (for the 404
// reason).
func (t *table) lookup(host, path string) (*backend, bool) {
	host = strings.ToLower(hostOnly(host))
	hostKnown := false
	if h := t.exact[host]; h != nil {
		hostKnown = true
		if b := h.match(path); b != nil {
			return b, true
		}
	}
	if i := strings.IndexByte(host, '.'); i > 0 {
		if h := t.wildcard[host[i+1:]]; h != nil {
			hostKnown = true
			if b := h.match(path); b != nil {
				return b, true
			}
		}
	}
	if t.any != nil {
		if b := t.any.match(path); b != nil {
			return b, true
		}
	}
	return t.fallback, hostKnown
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// builder resolves Ingress backends through listers.
type builder struct {
	services corelisters.ServiceLister
	slices   discoverylisters.EndpointSliceLister
}

// build computes the routing table of the given Ingresses (already
// filtered to our class), oldest first so the first one wins conflicts.
func (b *builder) build(ingresses []*networkingv1.Ingress) *table {
	sort.Slice(ingresses, func(i, j int) bool {
		ti, tj := ingresses[i].CreationTimestamp, ingresses[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return ingresses[i].Namespace+"/"+ingresses[i].Name < ingresses[j].Namespace+"/"+ingresses[j].Name
	})
	t := &table{exact: map[string]*hostRules{}, wildcard: map[string]*hostRules{}, tls: map[string]string{}}
	for _, ing := range ingresses {
		for _, tls := range ing.Spec.TLS {
			for _, h := range tls.Hosts {
				h = strings.ToLower(h)
				if _, taken := t.tls[h]; !taken && tls.SecretName != "" {
					t.tls[h] = ing.Namespace + "/" + tls.SecretName
				}
			}
		}
		if ing.Spec.DefaultBackend != nil && t.fallback == nil {
			t.fallback = b.resolve(ing.Namespace, ing.Spec.DefaultBackend)
		}
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			var rules *hostRules
			host := strings.ToLower(rule.Host)
			switch {
			case host == "":
				if t.any == nil {
					t.any = &hostRules{}
				}
				rules = t.any
			case strings.HasPrefix(host, "*."):
				if t.wildcard[host[2:]] == nil {
					t.wildcard[host[2:]] = &hostRules{}
				}
				rules = t.wildcard[host[2:]]
			default:
				if t.exact[host] == nil {
					t.exact[host] = &hostRules{}
				}
				rules = t.exact[host]
			}
			for _, p := range rule.HTTP.Paths {
				path := p.Path
				if path == "" {
					path = "/"
				}
				exact := p.PathType != nil && *p.PathType == networkingv1.PathTypeExact
				rules.paths = append(rules.paths, pathRule{path: path, exact: exact, backend: b.resolve(ing.Namespace, &p.Backend)})
			}
		}
	}
	for _, rules := range allRules(t) {
		// Exact paths first, then longer prefixes first; stable keeps the
		// oldest Ingress first among equals.
		sort.SliceStable(rules.paths, func(i, j int) bool {
			a, b := rules.paths[i], rules.paths[j]
			if a.exact != b.exact {
				return a.exact
			}
			return len(a.path) > len(b.path)
		})
	}
	return t
}

func allRules(t *table) []*hostRules {
	var out []*hostRules
	for _, r := range t.exact {
		out = append(out, r)
	}
	for _, r := range t.wildcard {
		out = append(out, r)
	}
	if t.any != nil {
		out = append(out, t.any)
	}
	return out
}

// resolve finds the ready endpoints of an Ingress backend.
func (b *builder) resolve(namespace string, ib *networkingv1.IngressBackend) *backend {
	if ib.Service == nil {
		return &backend{service: "(resource backend)", reason: "resource backends are not supported"}
	}
	port := ib.Service.Port.Name
	if port == "" {
		port = strconv.Itoa(int(ib.Service.Port.Number))
	}
	be := &backend{service: fmt.Sprintf("%s/%s:%s", namespace, ib.Service.Name, port)}
	svc, err := b.services.Services(namespace).Get(ib.Service.Name)
	if err != nil {
		be.reason = fmt.Sprintf("service %s/%s not found", namespace, ib.Service.Name)
		return be
	}
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if (ib.Service.Port.Name != "" && p.Name == ib.Service.Port.Name) || (ib.Service.Port.Number != 0 && p.Port == ib.Service.Port.Number) {
			sp = p
		}
	}
	if sp == nil {
		be.reason = fmt.Sprintf("service %s/%s has no port %s", namespace, ib.Service.Name, port)
		return be
	}
	slices, err := b.slices.EndpointSlices(namespace).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: svc.Name}))
	if err != nil {
		be.reason = err.Error()
		return be
	}
	seen := map[string]bool{}
	for _, s := range slices {
		var target int32 = -1
		for _, p := range s.Ports {
			if p.Port != nil && ((p.Name == nil && sp.Name == "") || (p.Name != nil && *p.Name == sp.Name)) {
				target = *p.Port
			}
		}
		if target < 0 {
			continue
		}
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				hp := net.JoinHostPort(a, strconv.Itoa(int(target)))
				if !seen[hp] {
					seen[hp] = true
					be.endpoints = append(be.endpoints, hp)
				}
			}
		}
	}
	sort.Strings(be.endpoints)
	if len(be.endpoints) == 0 {
		be.reason = fmt.Sprintf("service %s/%s has no ready endpoints", namespace, ib.Service.Name)
	}
	return be
}
