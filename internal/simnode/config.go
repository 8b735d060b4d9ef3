package simnode

import (
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Defaults of Config.
const (
	DefaultNamePrefix        = "simnode-"
	DefaultPods              = 110
	DefaultPodCIDR           = "10.128.0.0/9"
	DefaultNodeCIDR          = "10.127.0.0/16"
	DefaultHeartbeatInterval = 10 * time.Second
	DefaultWorkers           = 64
)

var (
	defaultCPU              = resource.MustParse("4")
	defaultMemory           = resource.MustParse("16Gi")
	defaultEphemeralStorage = resource.MustParse("100Gi")
)

// Config describes the simulated nodes. Zero fields take the defaults.
type Config struct {
	// Count is how many nodes to simulate (at least 1).
	Count int
	// NamePrefix names the nodes NamePrefix0 .. NamePrefix<Count-1>
	// (default "simnode-").
	NamePrefix string
	// CPU, Memory and EphemeralStorage are each node's capacity, all
	// allocatable (default 4 cores, 16Gi, 100Gi).
	CPU, Memory, EphemeralStorage resource.Quantity
	// Pods is how many pods each node takes (default 110).
	Pods int
	// PodCIDR is split into /24s, one per node in order (node i gets the
	// i-th): its spec.podCIDR and the addresses of its pods (default
	// 10.128.0.0/9, room for 32,768 nodes). Two simulators against one
	// cluster need distinct ranges.
	PodCIDR string
	// NodeCIDR holds the nodes' InternalIPs: node i gets the (i+1)-th
	// address (default 10.127.0.0/16).
	NodeCIDR string
	// HeartbeatInterval is how often each node renews its Lease in
	// kube-node-lease (default 10 s, as a kubelet).
	HeartbeatInterval time.Duration
	// Workers is how many pod status updates run at once (default 64;
	// under load each takes a server round trip of 100 ms or more, and too
	// few workers queue pods for seconds).
	Workers int
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	if c.NamePrefix == "" {
		c.NamePrefix = DefaultNamePrefix
	}
	if c.CPU.IsZero() {
		c.CPU = defaultCPU.DeepCopy()
	}
	if c.Memory.IsZero() {
		c.Memory = defaultMemory.DeepCopy()
	}
	if c.EphemeralStorage.IsZero() {
		c.EphemeralStorage = defaultEphemeralStorage.DeepCopy()
	}
	if c.Pods == 0 {
		c.Pods = DefaultPods
	}
	if c.PodCIDR == "" {
		c.PodCIDR = DefaultPodCIDR
	}
	if c.NodeCIDR == "" {
		c.NodeCIDR = DefaultNodeCIDR
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	return c
}

// addressing is where the nodes and their pods live.
type addressing struct {
	podNet  netip.Prefix // IPv4, bits <= 24
	nodeNet netip.Prefix // IPv4
}

// validate checks a defaulted config and parses its ranges.
func (c Config) validate() (addressing, error) {
	var a addressing
	if c.Count < 1 {
		return a, fmt.Errorf("simnode: count %d: at least one node", c.Count)
	}
	if c.Pods < 1 || c.Pods > 253 {
		// A node's pods share its /24: .2 to .254.
		return a, fmt.Errorf("simnode: pods %d: between 1 and 253 per node", c.Pods)
	}
	if c.HeartbeatInterval < 0 || c.Workers < 0 {
		return a, errors.New("simnode: negative heartbeat interval or workers")
	}
	var err error
	if a.podNet, err = netip.ParsePrefix(c.PodCIDR); err != nil || !a.podNet.Addr().Is4() || a.podNet.Bits() > 24 {
		return a, fmt.Errorf("simnode: pod CIDR %q: want an IPv4 prefix of /24 or larger", c.PodCIDR)
	}
	a.podNet = a.podNet.Masked()
	if subnets := 1 << (24 - a.podNet.Bits()); subnets < c.Count {
		return a, fmt.Errorf("simnode: pod CIDR %s holds %d /24s, not %d", c.PodCIDR, subnets, c.Count)
	}
	if a.nodeNet, err = netip.ParsePrefix(c.NodeCIDR); err != nil || !a.nodeNet.Addr().Is4() {
		return a, fmt.Errorf("simnode: node CIDR %q: want an IPv4 prefix", c.NodeCIDR)
	}
	a.nodeNet = a.nodeNet.Masked()
	if hostBits := 32 - a.nodeNet.Bits(); hostBits < bits.Len(uint(c.Count+1)) {
		return a, fmt.Errorf("simnode: node CIDR %s is too small for %d nodes", c.NodeCIDR, c.Count)
	}
	return a, nil
}

// podSubnet returns node i's /24.
func (a addressing) podSubnet(i int) netip.Prefix {
	return netip.PrefixFrom(addIPv4(a.podNet.Addr(), uint32(i)<<8), 24)
}

// nodeIP returns node i's InternalIP.
func (a addressing) nodeIP(i int) netip.Addr {
	return addIPv4(a.nodeNet.Addr(), uint32(i+1))
}

func addIPv4(ip netip.Addr, n uint32) netip.Addr {
	b := ip.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += n
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
