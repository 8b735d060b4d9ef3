package stats

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/stat: USER_HZ, which the
// kernel fixes at 100 ticks a second in its user-space ABI.
const userHZ = 100

// hostSample is one reading of the node's totals.
type hostSample struct {
	// cpuTotal is the CPU time spent outside the idle and iowait states
	// since boot, over all CPUs, in nanoseconds.
	cpuTotal uint64
	bootTime time.Time
	// Memory, in bytes, from /proc/meminfo.
	memTotal, memFree, inactiveFile, anonPages uint64
	// pageFaults and majorPageFaults come from /proc/vmstat; hasFaults
	// is false when it could not be read.
	pageFaults, majorPageFaults uint64
	hasFaults                   bool
}

// workingSet is the memory in use minus what the kernel can reclaim
// first (inactive file pages), as cAdvisor computes it for the root
// cgroup.
func (h hostSample) workingSet() uint64 {
	used := h.usage()
	if h.inactiveFile > used {
		return 0
	}
	return used - h.inactiveFile
}

// usage is all memory in use, page cache included.
func (h hostSample) usage() uint64 {
	if h.memFree > h.memTotal {
		return 0
	}
	return h.memTotal - h.memFree
}

// readHost reads /proc/stat and /proc/meminfo (required) and
// /proc/vmstat (optional) under procDir.
func readHost(procDir string) (hostSample, error) {
	var h hostSample
	stat, err := os.ReadFile(filepath.Join(procDir, "stat"))
	if err != nil {
		return h, fmt.Errorf("stats: %w", err)
	}
	if h.cpuTotal, h.bootTime, err = parseProcStat(stat); err != nil {
		return h, err
	}
	meminfo, err := os.ReadFile(filepath.Join(procDir, "meminfo"))
	if err != nil {
		return h, fmt.Errorf("stats: %w", err)
	}
	mem := parseKeyValues(meminfo, ":")
	total, ok := mem["MemTotal"]
	if !ok {
		return h, fmt.Errorf("stats: %s has no MemTotal", filepath.Join(procDir, "meminfo"))
	}
	const kiB = 1024 // meminfo counts in kB, which means KiB
	h.memTotal = total * kiB
	h.memFree = mem["MemFree"] * kiB
	h.inactiveFile = mem["Inactive(file)"] * kiB
	h.anonPages = mem["AnonPages"] * kiB
	if vmstat, err := os.ReadFile(filepath.Join(procDir, "vmstat")); err == nil {
		vm := parseKeyValues(vmstat, " ")
		h.pageFaults, h.majorPageFaults = vm["pgfault"], vm["pgmajfault"]
		h.hasFaults = true
	}
	return h, nil
}

// parseProcStat returns the non-idle CPU time and the boot time from the
// contents of /proc/stat. The first line is
// "cpu user nice system idle iowait irq softirq steal guest guest_nice";
// guest time is already part of user time, so it is not added again.
func parseProcStat(data []byte) (uint64, time.Time, error) {
	var cpu uint64
	var boot time.Time
	foundCPU := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "cpu":
			if len(fields) < 5 {
				return 0, boot, fmt.Errorf("stats: /proc/stat: short cpu line %q", sc.Text())
			}
			var ticks uint64
			// user nice system [idle iowait] irq softirq steal
			for i, f := range fields[1:] {
				if i == 3 || i == 4 || i >= 8 {
					continue
				}
				n, err := strconv.ParseUint(f, 10, 64)
				if err != nil {
					return 0, boot, fmt.Errorf("stats: /proc/stat: cpu field %d: %w", i+1, err)
				}
				ticks += n
			}
			cpu = ticks * (uint64(time.Second) / userHZ)
			foundCPU = true
		case "btime":
			if len(fields) == 2 {
				if secs, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
					boot = time.Unix(secs, 0)
				}
			}
		}
	}
	if !foundCPU {
		return 0, boot, fmt.Errorf("stats: /proc/stat has no cpu line")
	}
	return cpu, boot, nil
}

// parseKeyValues reads "Key<sep> value [unit]" lines (/proc/meminfo with
// ":", /proc/vmstat with " ") into a map, skipping malformed lines.
func parseKeyValues(data []byte, sep string) map[string]uint64 {
	out := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), sep)
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		if n, err := strconv.ParseUint(fields[0], 10, 64); err == nil {
			out[strings.TrimSpace(key)] = n
		}
	}
	return out
}
