package endpoints

import "net/netip"

// isIPv6 reports whether s is an IPv6 address (an IPv4-mapped one counts
// as IPv4, as upstream's helpers say).
func isIPv6(s string) bool {
	addr, err := netip.ParseAddr(s)
	return err == nil && addr.Is6() && !addr.Is4In6()
}
