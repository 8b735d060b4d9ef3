package server

import (
	"testing"

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
		{name: "small heap keeps the base", live: []int64{10 * mib, 200 * mib}, want: []int64{480 * mib}},
		{name: "a heap outgrowing the base raises the limit", live: []int64{100 * mib, 400 * mib}, want: []int64{480 * mib, 600 * mib}},
		{name: "small changes are left alone", live: []int64{400 * mib, 420 * mib}, want: []int64{600 * mib}},
		{name: "the limit comes back down to the base", live: []int64{1000 * mib, 100 * mib}, want: []int64{1500 * mib, 480 * mib}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var set []int64
			i := 0
			tuner := &memoryTuner{
				base: 480 * mib,
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
