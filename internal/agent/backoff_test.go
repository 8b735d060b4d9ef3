package agent

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	b := newBackoff()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if until := b.waitUntil("k", t0); !until.IsZero() {
		t.Fatalf("unknown key waits until %v, want no wait", until)
	}
	steps := []struct {
		name string
		// failAt is when the container exited, relative to t0.
		failAt time.Duration
		want   time.Duration
	}{
		{name: "first retry sets 10s", failAt: 0, want: 10 * time.Second},
		{name: "doubles", failAt: time.Minute, want: 20 * time.Second},
		{name: "doubles again", failAt: 2 * time.Minute, want: 40 * time.Second},
		{name: "resets after a long run", failAt: 30 * time.Minute, want: 10 * time.Second},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			at := t0.Add(s.failAt)
			b.failed("k", at)
			if got := b.current("k"); got != s.want {
				t.Errorf("delay = %v, want %v", got, s.want)
			}
			if got := b.waitUntil("k", at); !got.Equal(at.Add(s.want)) {
				t.Errorf("waitUntil = %v, want %v", got, at.Add(s.want))
			}
		})
	}
	t.Run("capped at 5 min", func(t *testing.T) {
		at := t0.Add(time.Hour)
		for range 10 {
			b.failed("cap", at)
		}
		if got := b.current("cap"); got != maxBackoff {
			t.Errorf("delay = %v, want %v", got, maxBackoff)
		}
	})
	t.Run("forgetPrefix", func(t *testing.T) {
		b.failed("uid1/a", t0)
		b.failed("uid2/a", t0)
		b.forgetPrefix("uid1/")
		if b.current("uid1/a") != 0 || b.current("uid2/a") == 0 {
			t.Errorf("forgetPrefix removed the wrong keys")
		}
	})
}
