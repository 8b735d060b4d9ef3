package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"

	"github.com/navarch/navarch/internal/storage"
)

// Defaults of the service address ranges (as k3s uses them).
const (
	DefaultServiceCIDR   = "10.43.0.0/16"
	DefaultNodePortRange = "30000-32767"
)

// serviceAllocator gives Services their cluster IPs and node ports, the
// one piece of service creation that needs storage (so it lives here and
// not in the registry).
type serviceAllocator struct {
	ips       ipRange
	ipAlloc   *rangeAllocator
	portBase  int
	portRange string
	ports     *rangeAllocator
}

func newServiceAllocator(store storage.Interface, serviceCIDR, nodePortRange string) (*serviceAllocator, error) {
	if serviceCIDR == "" {
		serviceCIDR = DefaultServiceCIDR
	}
	if nodePortRange == "" {
		nodePortRange = DefaultNodePortRange
	}
	ips, err := newIPRange(serviceCIDR)
	if err != nil {
		return nil, err
	}
	lo, hi, ok := strings.Cut(nodePortRange, "-")
	base, err1 := strconv.Atoi(lo)
	last, err2 := strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil || base < 1 || last > 65535 || last < base {
		return nil, fmt.Errorf("apiserver: invalid node port range %q (want FIRST-LAST)", nodePortRange)
	}
	band := ips.size / 16
	band = max(16, min(band, 256))
	return &serviceAllocator{
		ips:       ips,
		ipAlloc:   &rangeAllocator{store: store, key: "/registry/ranges/serviceips", name: ips.prefix.String(), size: ips.size, staticBand: band},
		portBase:  base,
		portRange: nodePortRange,
		ports:     &rangeAllocator{store: store, key: "/registry/ranges/servicenodeports", name: nodePortRange, size: last - base + 1},
	}, nil
}

func needsClusterIP(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP != corev1.ClusterIPNone
}

func needsNodePorts(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
}

// held lists what a service holds: its IP offset (-1 for none) and its node
// port offsets.
func (a *serviceAllocator) held(svc *corev1.Service) (ip int, ports []int) {
	ip = -1
	if needsClusterIP(svc) && svc.Spec.ClusterIP != "" {
		if addr, err := netip.ParseAddr(svc.Spec.ClusterIP); err == nil {
			if o, ok := a.ips.offset(addr); ok {
				ip = o
			}
		}
	}
	if needsNodePorts(svc) {
		for _, p := range svc.Spec.Ports {
			if p.NodePort != 0 {
				ports = append(ports, int(p.NodePort)-a.portBase)
			}
		}
	}
	return ip, ports
}

// allocation records what one create or update took, so that a failure
// gives it back.
type allocation struct {
	ip    int // -1: none
	ports []int
}

// allocate gives svc whatever it lacks: a cluster IP when it needs one and
// has none, a node port for every port without one. Values the service
// already had in old are kept, not allocated again. Explicit requests must
// be free and in range, else 422.
func (a *serviceAllocator) allocate(ctx context.Context, svc, old *corev1.Service) (*allocation, error) {
	took := &allocation{ip: -1}
	fail := func(err error) (*allocation, error) {
		a.giveBack(ctx, took)
		return nil, err
	}
	oldIP, oldPorts := -1, map[int]bool{}
	if old != nil {
		var ports []int
		oldIP, ports = a.held(old)
		for _, p := range ports {
			oldPorts[p] = true
		}
	}
	if needsClusterIP(svc) {
		switch {
		case svc.Spec.ClusterIP == "":
			o, err := a.ipAlloc.allocateNext(ctx)
			if err != nil {
				return fail(invalidService(svc, field.NewPath("spec", "clusterIPs"), svc.Spec.ClusterIPs, fmt.Sprintf("failed to allocate a serviceIP: %v", err)))
			}
			took.ip = o
			ip := a.ips.addr(o).String()
			svc.Spec.ClusterIP, svc.Spec.ClusterIPs = ip, []string{ip}
		default:
			addr, err := netip.ParseAddr(svc.Spec.ClusterIP)
			if err != nil {
				return fail(invalidService(svc, field.NewPath("spec", "clusterIP"), svc.Spec.ClusterIP, "must be a valid IP address"))
			}
			o, ok := a.ips.offset(addr)
			if !ok {
				return fail(invalidService(svc, field.NewPath("spec", "clusterIPs"), svc.Spec.ClusterIPs,
					fmt.Sprintf("failed to allocate IP %s: the provided IP (%s) is not in the valid range. The range of valid IPs is %s", addr, addr, a.ips.prefix)))
			}
			if o != oldIP {
				if err := a.ipAlloc.allocate(ctx, o); err != nil {
					return fail(invalidService(svc, field.NewPath("spec", "clusterIPs"), svc.Spec.ClusterIPs, fmt.Sprintf("failed to allocate IP %s: %v", addr, ipErrorText(err))))
				}
				took.ip = o
			}
			if len(svc.Spec.ClusterIPs) == 0 {
				svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
			}
		}
	}
	if needsNodePorts(svc) {
		seen := map[int32]corev1.Protocol{}
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			path := field.NewPath("spec", "ports").Index(i).Child("nodePort")
			if p.NodePort == 0 {
				o, err := a.ports.allocateNext(ctx)
				if err != nil {
					return fail(invalidService(svc, path, p.NodePort, fmt.Sprintf("failed to allocate a nodePort: %v", err)))
				}
				took.ports = append(took.ports, o)
				p.NodePort = int32(a.portBase + o)
				seen[p.NodePort] = p.Protocol
				continue
			}
			if proto, dup := seen[p.NodePort]; dup {
				if proto == p.Protocol {
					return fail(invalidService(svc, path, p.NodePort, "may not reuse nodePort for the same protocol"))
				}
				continue
			}
			seen[p.NodePort] = p.Protocol
			o := int(p.NodePort) - a.portBase
			if oldPorts[o] {
				continue
			}
			if err := a.ports.allocate(ctx, o); err != nil {
				msg := "provided port is already allocated"
				if errors.Is(err, errOutOfRange) {
					msg = fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %s", a.portRange)
				} else if !errors.Is(err, errAllocated) {
					return fail(apierrors.NewInternalError(err))
				}
				return fail(invalidService(svc, path, p.NodePort, msg))
			}
			took.ports = append(took.ports, o)
		}
	}
	return took, nil
}

func ipErrorText(err error) string {
	if errors.Is(err, errAllocated) {
		return "provided IP is already allocated"
	}
	return err.Error()
}

func invalidService(svc *corev1.Service, path *field.Path, value interface{}, msg string) error {
	return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), svc.Name,
		field.ErrorList{field.Invalid(path, value, msg)})
}

// giveBack releases what an allocation took.
func (a *serviceAllocator) giveBack(ctx context.Context, took *allocation) {
	if took == nil {
		return
	}
	if took.ip >= 0 {
		if err := a.ipAlloc.release(ctx, took.ip); err != nil {
			klog.FromContext(ctx).Error(err, "releasing service IP", "offset", took.ip)
		}
	}
	for _, p := range took.ports {
		if err := a.ports.release(ctx, p); err != nil {
			klog.FromContext(ctx).Error(err, "releasing node port", "port", a.portBase+p)
		}
	}
}

// releaseDropped gives back what old held and svc (its successor, or nil
// when deleted) no longer does.
func (a *serviceAllocator) releaseDropped(ctx context.Context, old, svc *corev1.Service) {
	oldIP, oldPorts := a.held(old)
	newIP, newPorts := -1, []int(nil)
	if svc != nil {
		newIP, newPorts = a.held(svc)
	}
	keep := map[int]bool{}
	for _, p := range newPorts {
		keep[p] = true
	}
	dropped := &allocation{ip: -1}
	if oldIP >= 0 && oldIP != newIP {
		dropped.ip = oldIP
	}
	for _, p := range oldPorts {
		if !keep[p] {
			dropped.ports = append(dropped.ports, p)
		}
	}
	a.giveBack(ctx, dropped)
}

// keepAllocated copies the allocated values of old into svc where the
// client left them out, as upstream does, so that re-applying a manifest
// without clusterIP or nodePort keeps them.
func keepAllocated(svc, old *corev1.Service) {
	if needsClusterIP(svc) && needsClusterIP(old) && svc.Spec.ClusterIP == "" && len(svc.Spec.ClusterIPs) == 0 {
		svc.Spec.ClusterIP = old.Spec.ClusterIP
		svc.Spec.ClusterIPs = append([]string(nil), old.Spec.ClusterIPs...)
	}
	if needsNodePorts(svc) && needsNodePorts(old) {
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if p.NodePort != 0 {
				continue
			}
			for _, op := range old.Spec.Ports {
				if op.Port == p.Port && op.Protocol == p.Protocol && op.NodePort != 0 {
					p.NodePort = op.NodePort
					break
				}
			}
		}
	}
}

// repair marks every value a stored service holds as allocated, so that a
// bitmap lost or rolled back never hands out a value in use. It only adds
// bits: clearing one could race with another API server's create.
func (a *serviceAllocator) repair(ctx context.Context, store storage.Interface) error {
	var list corev1.ServiceList
	if err := store.List(ctx, "/registry/services/", storage.ListOptions{}, &list); err != nil {
		return err
	}
	var ips, ports []int
	for i := range list.Items {
		ip, p := a.held(&list.Items[i])
		if ip >= 0 {
			ips = append(ips, ip)
		}
		ports = append(ports, p...)
	}
	if err := a.ipAlloc.ensure(ctx, ips); err != nil {
		return err
	}
	return a.ports.ensure(ctx, ports)
}
