package apiserver

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/navarch/navarch/internal/storage"
)

// errRangeFull and errAllocated are the allocator's outcomes a caller
// turns into 422 Invalid.
var (
	errRangeFull  = errors.New("range is full")
	errAllocated  = errors.New("provided value is already allocated")
	errOutOfRange = errors.New("provided value is not in the valid range")
)

// rangeAllocator hands out integer offsets 0..size-1 of a range, keeping
// the bitmap in one storage key (a core/v1 RangeAllocation, as upstream
// did) and changing it by compare-and-swap, so that API servers sharing an
// etcd never hand out one offset twice.
type rangeAllocator struct {
	store storage.Interface
	key   string
	// name describes the range for humans and for the RangeAllocation's
	// Range field ("10.43.0.0/16", "30000-32767").
	name string
	size int
	// staticBand is how many low offsets dynamic allocation avoids while the
	// rest of the range has room, keeping them for explicit requests (as
	// upstream does for service IPs).
	staticBand int
}

// allocate marks offset as used; errAllocated if it already is.
func (a *rangeAllocator) allocate(ctx context.Context, offset int) error {
	if offset < 0 || offset >= a.size {
		return errOutOfRange
	}
	return a.update(ctx, func(bits *big.Int) error {
		if bits.Bit(offset) == 1 {
			return errAllocated
		}
		bits.SetBit(bits, offset, 1)
		return nil
	})
}

// allocateNext marks a free offset as used and returns it, preferring
// random offsets above the static band.
func (a *rangeAllocator) allocateNext(ctx context.Context) (int, error) {
	var got int
	err := a.update(ctx, func(bits *big.Int) error {
		pick := func(lo, hi int) (int, bool) {
			if hi <= lo {
				return 0, false
			}
			start := lo + rand.IntN(hi-lo)
			for i := 0; i < hi-lo; i++ {
				o := lo + (start-lo+i)%(hi-lo)
				if bits.Bit(o) == 0 {
					return o, true
				}
			}
			return 0, false
		}
		o, ok := pick(a.staticBand, a.size)
		if !ok {
			o, ok = pick(0, a.staticBand)
		}
		if !ok {
			return errRangeFull
		}
		bits.SetBit(bits, o, 1)
		got = o
		return nil
	})
	return got, err
}

// release marks offset as free; releasing a free offset is a no-op.
func (a *rangeAllocator) release(ctx context.Context, offset int) error {
	if offset < 0 || offset >= a.size {
		return nil
	}
	return a.update(ctx, func(bits *big.Int) error {
		bits.SetBit(bits, offset, 0)
		return nil
	})
}

// ensure marks every offset in used as allocated.
func (a *rangeAllocator) ensure(ctx context.Context, used []int) error {
	return a.update(ctx, func(bits *big.Int) error {
		for _, o := range used {
			if o >= 0 && o < a.size {
				bits.SetBit(bits, o, 1)
			}
		}
		return nil
	})
}

func (a *rangeAllocator) update(ctx context.Context, change func(bits *big.Int) error) error {
	out := &corev1.RangeAllocation{}
	return a.store.GuaranteedUpdate(ctx, a.key, out, true, nil, func(current runtime.Object) (runtime.Object, error) {
		ra := current.(*corev1.RangeAllocation)
		if ra.Range != "" && ra.Range != a.name {
			return nil, fmt.Errorf("apiserver: stored range %q does not match the configured range %q; was the range changed?", ra.Range, a.name)
		}
		bits := new(big.Int).SetBytes(ra.Data)
		if err := change(bits); err != nil {
			return nil, err
		}
		ra.Name = a.key
		ra.Range = a.name
		ra.Data = bits.Bytes()
		return ra, nil
	})
}

// ipRange maps the addresses of an IPv4 CIDR to allocator offsets,
// leaving out the network and broadcast addresses.
type ipRange struct {
	prefix netip.Prefix
	base   netip.Addr // first usable address (offset 0)
	size   int
}

func newIPRange(cidr string) (ipRange, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() {
		return ipRange{}, fmt.Errorf("apiserver: service CIDR %q is not an IPv4 CIDR", cidr)
	}
	p = p.Masked()
	bits := 32 - p.Bits()
	if bits < 2 || bits > 20 {
		return ipRange{}, fmt.Errorf("apiserver: service CIDR %q must be between /12 and /30", cidr)
	}
	return ipRange{prefix: p, base: p.Addr().Next(), size: 1<<bits - 2}, nil
}

func (r ipRange) offset(ip netip.Addr) (int, bool) {
	if !r.prefix.Contains(ip) {
		return 0, false
	}
	o := int(ipToUint(ip)) - int(ipToUint(r.base))
	if o < 0 || o >= r.size {
		return 0, false
	}
	return o, true
}

func (r ipRange) addr(offset int) netip.Addr {
	return uintToIP(ipToUint(r.base) + uint32(offset))
}

func ipToUint(ip netip.Addr) uint32 {
	b := ip.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func uintToIP(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
