package server

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"k8s.io/klog/v2"
)

func TestMemoryTuner(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name string
		// live heaps seen at successive checks
		live []int64
		// limits set, in order
		want []int64
	}{
		{name: "small heap keeps the base", live: []int64{10 * mib, 200 * mib}, want: []int64{440 * mib}},
		{name: "a heap outgrowing the base raises the limit", live: []int64{100 * mib, 400 * mib}, want: []int64{440 * mib, 600 * mib}},
		{name: "small changes are left alone", live: []int64{400 * mib, 420 * mib}, want: []int64{600 * mib}},
		{name: "the limit comes back down to the base", live: []int64{1000 * mib, 100 * mib}, want: []int64{1500 * mib, 440 * mib}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var set []int64
			i := 0
			tuner := &memoryTuner{
				base: 440 * mib,
				set:  func(n int64) int64 { set = append(set, n); return 0 },
				live: func() int64 { v := tc.live[i]; i++; return v },
			}
			for range tc.live {
				tuner.adjust(klog.Background())
			}
			if len(set) != len(tc.want) {
				t.Fatalf("limits set %v MiB, want %v", mibs(set), mibs(tc.want))
			}
			for j := range set {
				if set[j] != tc.want[j] {
					t.Fatalf("limits set %v MiB, want %v", mibs(set), mibs(tc.want))
				}
			}
		})
	}
}

func mibs(bytes []int64) []int64 {
	out := make([]int64, len(bytes))
	for i, b := range bytes {
		out[i] = b >> 20
	}
	return out
}

func TestMemoryTunerGCPercent(t *testing.T) {
	const mib = 1 << 20
	// rates are the allocation rates (MiB/s) between successive checks,
	// one second apart; want the GC percentages set, with the check
	// (counted from 1) that set each.
	type set struct{ check, percent int }
	fast, slow := int64(busyAllocRate/mib*2), int64(1)
	repeat := func(rate int64, n int) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = rate
		}
		return out
	}
	then := func(parts ...[]int64) []int64 { return slices.Concat(parts...) }
	// The first check only reads; rates start with check 2.
	tests := []struct {
		name   string
		tuneGC bool
		rates  []int64
		want   []set
	}{
		{name: "an idle server keeps the default", tuneGC: true, rates: repeat(slow, 3)},
		{name: "a burst shorter than busyChecks (a start) is left alone", tuneGC: true,
			rates: then(repeat(fast, busyChecks-1), repeat(slow, 1), repeat(fast, busyChecks-1))},
		{name: "sustained fast allocation gets the busy percentage once", tuneGC: true,
			rates: then(repeat(slow, 1), repeat(fast, busyChecks+2)),
			want:  []set{{2 + busyChecks, busyGCPercent}}},
		{name: "a fast check among calm ones starts the count again", tuneGC: true,
			rates: then(repeat(fast, busyChecks), repeat(slow, calmChecks-1), repeat(fast, 1), repeat(slow, 2)),
			want:  []set{{1 + busyChecks, busyGCPercent}}},
		{name: "back to the default after calmChecks calm checks in a row", tuneGC: true,
			rates: then(repeat(fast, busyChecks), repeat(slow, calmChecks)),
			want:  []set{{1 + busyChecks, busyGCPercent}, {1 + busyChecks + calmChecks, idleGCPercent}}},
		{name: "GOGC in the environment is left alone", tuneGC: false, rates: repeat(fast, busyChecks+1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []set
			check := 0
			allocated := uint64(0)
			clock := time.Unix(1000, 0)
			tuner := &memoryTuner{
				base:         440 * mib,
				set:          func(int64) int64 { return 0 },
				live:         func() int64 { return 10 * mib },
				tuneGC:       tc.tuneGC,
				setGCPercent: func(p int) int { got = append(got, set{check, p}); return 0 },
				allocated:    func() uint64 { return allocated },
				now:          func() time.Time { return clock },
			}
			// The first check has nothing to compare with.
			check++
			tuner.adjust(klog.Background())
			for _, rate := range tc.rates {
				check++
				allocated += uint64(rate * mib)
				clock = clock.Add(time.Second)
				tuner.adjust(klog.Background())
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("GC percentages set (check, percent) %v, want %v", got, tc.want)
			}
		})
	}
}
