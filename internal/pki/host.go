package pki

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"slices"
)

// HostIPs returns the addresses of this machine that a client elsewhere
// could use to reach it, for the serving certificate's SANs: the unicast
// addresses of the interfaces that are up, without loopback and without
// link-local addresses (those need an interface zone, which a SAN cannot
// carry). IPv4 addresses are in their 4-byte form; the order follows the
// interfaces and holds no duplicates.
func HostIPs() ([]net.IP, error) {
	interfaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("pki: list network interfaces: %w", err)
	}
	var ips []net.IP
	for _, iface := range interfaces {
		if iface.Flags&net.FlagUp == 0 || iface.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := iface.Addrs()
		if err != nil {
			return nil, fmt.Errorf("pki: addresses of interface %s: %w", iface.Name, err)
		}
		for _, addr := range addrs {
			ip := addrIP(addr)
			if !reachableHostIP(ip) || slices.ContainsFunc(ips, ip.Equal) {
				continue
			}
			if v4 := ip.To4(); v4 != nil {
				ip = v4
			}
			ips = append(ips, ip)
		}
	}
	return ips, nil
}

func addrIP(addr net.Addr) net.IP {
	switch a := addr.(type) {
	case *net.IPNet:
		return a.IP
	case *net.IPAddr:
		return a.IP
	}
	return nil
}

// reachableHostIP: unicast, not loopback, not link-local, not unspecified.
// Private ranges (10/8, 192.168/16, fd00::/8) count: that is where
// clusters usually live.
func reachableHostIP(ip net.IP) bool {
	return ip != nil && ip.IsGlobalUnicast()
}

// RandomToken returns 32 random bytes from crypto/rand, hex-encoded (64
// characters): the join token agents present to the server.
func RandomToken() (string, error) {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("pki: random token: %w", err)
	}
	return hex.EncodeToString(buf), nil
}
