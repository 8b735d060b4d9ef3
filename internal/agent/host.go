package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// hostFacts is what the agent reports about its machine.
type hostFacts struct {
	hostname      string
	ip            netip.Addr
	cpus          int
	memoryBytes   int64
	kernelVersion string
	osImage       string
	machineID     string
	systemUUID    string
	bootID        string
	architecture  string
	// ephemeralStorageBytes is the size of the filesystem holding the
	// data dir.
	ephemeralStorageBytes int64
}

// gatherHostFacts reads the facts from /proc, /etc and the kernel. A
// fact that cannot be read is left empty, except the node IP, which is
// required.
func gatherHostFacts(dataDir, nodeIP string) (hostFacts, error) {
	f := hostFacts{cpus: runtime.NumCPU(), architecture: runtime.GOARCH}
	f.hostname, _ = os.Hostname()
	f.hostname = strings.ToLower(f.hostname)
	if nodeIP != "" {
		ip, err := netip.ParseAddr(nodeIP)
		if err != nil {
			return f, fmt.Errorf("agent: node IP: %w", err)
		}
		f.ip = ip
	} else {
		ip, err := defaultRouteIP()
		if err != nil {
			return f, err
		}
		f.ip = ip
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		f.memoryBytes = parseMemTotal(data)
	}
	var uts syscall.Utsname
	if syscall.Uname(&uts) == nil {
		f.kernelVersion = utsString(uts.Release[:])
	}
	if data, err := os.ReadFile("/etc/os-release"); err == nil {
		f.osImage = parseOSRelease(data)
	}
	f.machineID = readTrimmed("/etc/machine-id")
	f.systemUUID = strings.ToLower(readTrimmed("/sys/class/dmi/id/product_uuid"))
	f.bootID = readTrimmed("/proc/sys/kernel/random/boot_id")
	var st syscall.Statfs_t
	if syscall.Statfs(dataDir, &st) == nil {
		f.ephemeralStorageBytes = int64(st.Blocks) * st.Bsize
	}
	return f, nil
}

func readTrimmed(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

func utsString(field []int8) string {
	var b strings.Builder
	for _, c := range field {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	return b.String()
}

// parseMemTotal returns MemTotal of /proc/meminfo in bytes.
func parseMemTotal(meminfo []byte) int64 {
	s := bufio.NewScanner(bytes.NewReader(meminfo))
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}

// parseOSRelease returns PRETTY_NAME of /etc/os-release.
func parseOSRelease(data []byte) string {
	s := bufio.NewScanner(bytes.NewReader(data))
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "PRETTY_NAME="); ok {
			if u, err := strconv.Unquote(v); err == nil {
				return u
			}
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}

// defaultRouteIP returns the first IPv4 address of the interface that
// holds the IPv4 default route, or of the first up, non-loopback
// interface when there is no default route.
func defaultRouteIP() (netip.Addr, error) {
	if iface := defaultRouteInterface(); iface != "" {
		if ip, ok := interfaceIPv4(iface); ok {
			return ip, nil
		}
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("agent: listing interfaces: %w", err)
	}
	for _, iface := range ifaces {
		if iface.Flags&net.FlagUp == 0 || iface.Flags&net.FlagLoopback != 0 {
			continue
		}
		if ip, ok := interfaceIPv4(iface.Name); ok {
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("agent: no host IPv4 address found; set the node IP")
}

// defaultRouteInterface reads /proc/net/route for the IPv4 default route.
func defaultRouteInterface() string {
	data, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return ""
	}
	return parseDefaultRoute(data)
}

// parseDefaultRoute returns the interface of the first route with
// destination and mask 0 in /proc/net/route's format.
func parseDefaultRoute(data []byte) string {
	s := bufio.NewScanner(bytes.NewReader(data))
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 8 && fields[1] == "00000000" && fields[7] == "00000000" {
			return fields[0]
		}
	}
	return ""
}

func interfaceIPv4(name string) (netip.Addr, bool) {
	iface, err := net.InterfaceByName(name)
	if err != nil {
		return netip.Addr{}, false
	}
	addrs, err := iface.Addrs()
	if err != nil {
		return netip.Addr{}, false
	}
	for _, a := range addrs {
		if ipnet, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipnet.IP.To4()); ok && ip.Is4() && !ip.IsLoopback() {
				return ip, true
			}
		}
	}
	return netip.Addr{}, false
}
