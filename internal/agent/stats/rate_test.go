package stats

import (
	"testing"
	"time"
)

func TestRateTracker(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	type obs struct {
		at     time.Duration
		total  uint64
		want   uint64
		wantOK bool
	}
	tests := []struct {
		name string
		obs  []obs
	}{
		{"first sample has no rate", []obs{{0, 5e9, 0, false}}},
		{"two samples 10s apart", []obs{
			{0, 1e9, 0, false},
			{10 * time.Second, 6e9, 5e8, true}, // 5 s of CPU in 10 s: half a core
		}},
		{"a sample within MinWindow of the first has no rate", []obs{
			{0, 1e9, 0, false},
			{500 * time.Millisecond, 2e9, 0, false},
		}},
		{"a sample within MinWindow of the newest is measured from the one before", []obs{
			{0, 0, 0, false},
			{10 * time.Second, 10e9, 1e9, true},
			{10*time.Second + 500*time.Millisecond, 10.5e9, 1e9, true}, // 10.5 s of CPU over 10.5 s
			{20 * time.Second, 12e9, 2e8, true},                        // from the sample at 10 s: 2 s over 10 s
		}},
		{"a counter going back starts over", []obs{
			{0, 9e9, 0, false},
			{10 * time.Second, 1e9, 0, false},
			{20 * time.Second, 3e9, 2e8, true},
		}},
		{"two cores busy", []obs{
			{0, 0, 0, false},
			{4 * time.Second, 8e9, 2e9, true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newRateTracker()
			for i, o := range tc.obs {
				got, ok := tr.observe("c", cpuSample{at: at(o.at), total: o.total})
				if got != o.want || ok != o.wantOK {
					t.Errorf("observation %d: got (%d, %v), want (%d, %v)", i, got, ok, o.want, o.wantOK)
				}
			}
		})
	}
}

func TestRateTrackerForgetsUnseenCounters(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := newRateTracker()
	tr.observe("gone", cpuSample{at: t0, total: 1})
	tr.observe("kept", cpuSample{at: t0, total: 1})
	tr.endRound()
	tr.observe("kept", cpuSample{at: t0.Add(10 * time.Second), total: 2})
	tr.endRound()
	if _, ok := tr.history["gone"]; ok {
		t.Errorf("a counter not observed in the last round is still tracked")
	}
	if _, ok := tr.history["kept"]; !ok {
		t.Errorf("a counter observed in the last round was forgotten")
	}
}

func TestLifetimeRate(t *testing.T) {
	start := time.Unix(1000, 0)
	if got, ok := lifetimeRate(3e9, start, start.Add(10*time.Second)); !ok || got != 3e8 {
		t.Errorf("lifetimeRate = %d, %v; want 300000000 (0.3 cores), true", got, ok)
	}
	if _, ok := lifetimeRate(3e9, time.Time{}, start); ok {
		t.Errorf("lifetimeRate with an unknown start gave a rate")
	}
	if _, ok := lifetimeRate(3e9, start, start); ok {
		t.Errorf("lifetimeRate over no time gave a rate")
	}
}
