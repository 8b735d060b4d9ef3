package stats

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const procStat = `cpu  1000 20 300 5000 400 10 30 40 7 0
cpu0 500 10 150 2500 200 5 15 20 7 0
cpu1 500 10 150 2500 200 5 15 20 0 0
intr 12345
ctxt 999
btime 1700000000
processes 42
`

const procMeminfo = `MemTotal:        4000000 kB
MemFree:         1000000 kB
MemAvailable:    2500000 kB
Buffers:           50000 kB
Cached:          1500000 kB
Active(file):     700000 kB
Inactive(file):   600000 kB
AnonPages:        900000 kB
`

const procVmstat = `nr_free_pages 250000
pgfault 123456
pgmajfault 789
`

// writeProc writes a fake procfs with the given files ("" leaves a file
// out) and returns its directory.
func writeProc(t *testing.T, stat, meminfo, vmstat string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{"stat": stat, "meminfo": meminfo, "vmstat": vmstat} {
		if content == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestReadHost(t *testing.T) {
	h, err := readHost(writeProc(t, procStat, procMeminfo, procVmstat))
	if err != nil {
		t.Fatal(err)
	}
	// user+nice+system+irq+softirq+steal = 1000+20+300+10+30+40 ticks of 10 ms.
	if want := uint64(1400) * uint64(10*time.Millisecond); h.cpuTotal != want {
		t.Errorf("cpuTotal = %d, want %d", h.cpuTotal, want)
	}
	if want := time.Unix(1700000000, 0); !h.bootTime.Equal(want) {
		t.Errorf("bootTime = %v, want %v", h.bootTime, want)
	}
	const kiB = 1024
	if h.usage() != 3000000*kiB {
		t.Errorf("usage = %d, want MemTotal-MemFree = %d", h.usage(), 3000000*kiB)
	}
	if h.workingSet() != 2400000*kiB {
		t.Errorf("workingSet = %d, want usage-Inactive(file) = %d", h.workingSet(), 2400000*kiB)
	}
	if h.anonPages != 900000*kiB || !h.hasFaults || h.pageFaults != 123456 || h.majorPageFaults != 789 {
		t.Errorf("anon %d faults %v %d/%d, want %d and 123456/789", h.anonPages, h.hasFaults, h.pageFaults, h.majorPageFaults, 900000*kiB)
	}
}

func TestReadHostErrors(t *testing.T) {
	tests := []struct {
		name, stat, meminfo, wantErr string
	}{
		{"no stat", "", procMeminfo, "stat"},
		{"no meminfo", procStat, "", "meminfo"},
		{"no cpu line", "btime 1\n", procMeminfo, "no cpu line"},
		{"short cpu line", "cpu 1 2\n", procMeminfo, "short cpu line"},
		{"garbage cpu field", "cpu 1 x 3 4 5 6 7 8\n", procMeminfo, "cpu field 2"},
		{"no MemTotal", procStat, "MemFree: 1 kB\n", "no MemTotal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readHost(writeProc(t, tc.stat, tc.meminfo, ""))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("readHost error = %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
	h, err := readHost(writeProc(t, procStat, procMeminfo, ""))
	if err != nil || h.hasFaults {
		t.Errorf("without vmstat: err %v, hasFaults %v; want no error and no faults", err, h.hasFaults)
	}
}
