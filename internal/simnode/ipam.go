package simnode

import (
	"fmt"
	"net/netip"
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// First and last host of a node's /24 handed to pods: .1 is the node's
// bridge, as with a CNI bridge, and .255 is the broadcast address.
const (
	firstPodHost = 2
	lastPodHost  = 254
)

// podIPs hands out the addresses of one node's /24 to its pods. It is
// safe for concurrent use.
type podIPs struct {
	subnet netip.Prefix

	mu sync.Mutex
	// byPod maps a pod UID to its host number; used marks the taken
	// host numbers. Both guarded by mu.
	byPod map[types.UID]uint8
	used  [256]bool
}

func newPodIPs(subnet netip.Prefix) *podIPs {
	return &podIPs{subnet: subnet, byPod: map[types.UID]uint8{}}
}

// allocate returns the pod's address, taking the lowest free one the
// first time.
func (p *podIPs) allocate(uid types.UID) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h, ok := p.byPod[uid]; ok {
		return p.addr(h), nil
	}
	for h := firstPodHost; h <= lastPodHost; h++ {
		if !p.used[h] {
			p.used[h] = true
			p.byPod[uid] = uint8(h)
			return p.addr(uint8(h)), nil
		}
	}
	return "", fmt.Errorf("simnode: no free pod address in %s", p.subnet)
}

// reserve records an address a pod already has (after a restart). It
// reports false when the address is outside the subnet or held by another
// pod.
func (p *podIPs) reserve(uid types.UID, ip string) bool {
	addr, err := netip.ParseAddr(ip)
	if err != nil || !p.subnet.Contains(addr) {
		return false
	}
	h := addr.As4()[3]
	if h < firstPodHost || h > lastPodHost {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if old, ok := p.byPod[uid]; ok {
		return old == h
	}
	if p.used[h] {
		return false
	}
	p.used[h] = true
	p.byPod[uid] = h
	return true
}

// release frees the pod's address.
func (p *podIPs) release(uid types.UID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h, ok := p.byPod[uid]; ok {
		p.used[h] = false
		delete(p.byPod, uid)
	}
}

func (p *podIPs) addr(h uint8) string {
	b := p.subnet.Addr().As4()
	b[3] = h
	return netip.AddrFrom4(b).String()
}
