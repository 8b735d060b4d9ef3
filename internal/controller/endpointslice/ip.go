package endpointslice

import (
	"errors"
	"net/netip"
)

var errBadIP = errors.New("endpointslice: not an IP address")

// isIPv6 reports whether s is an IPv6 address (an IPv4-mapped one counts
// as IPv4, as upstream's helpers say).
func isIPv6(s string) bool {
	_, v6, ok := canonicalIP(s)
	return ok && v6
}

// canonicalIP parses an IP leniently (leading zeros in IPv4 parts are
// accepted, as upstream's ParseIPSloppy does) and returns its canonical
// text and family.
func canonicalIP(s string) (text string, v6 bool, ok bool) {
	addr, err := netip.ParseAddr(s)
	if err != nil {
		addr, err = parseSloppyIPv4(s)
		if err != nil {
			return "", false, false
		}
	}
	if addr.Is4In6() {
		addr = addr.Unmap()
	}
	return addr.String(), addr.Is6(), true
}

// parseSloppyIPv4 accepts dotted quads with leading zeros ("010.0.0.1"),
// reading each part as decimal, as Go's net package did before 1.17.
func parseSloppyIPv4(s string) (netip.Addr, error) {
	var parts [4]byte
	n, value, digits := 0, 0, 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if digits == 0 || n == 4 {
				return netip.Addr{}, errBadIP
			}
			parts[n] = byte(value)
			n, value, digits = n+1, 0, 0
			continue
		}
		if s[i] < '0' || s[i] > '9' || digits == 3 {
			return netip.Addr{}, errBadIP
		}
		value = value*10 + int(s[i]-'0')
		digits++
		if value > 255 {
			return netip.Addr{}, errBadIP
		}
	}
	if n != 4 {
		return netip.Addr{}, errBadIP
	}
	return netip.AddrFrom4(parts), nil
}
