package nodelifecycle

import (
	"time"

	"k8s.io/utils/clock"
)

// Config holds the timings of the controller. Zero (or negative) fields
// take the defaults of DefaultConfig.
type Config struct {
	// MonitorPeriod is how often node health is checked (upstream's
	// --node-monitor-period).
	MonitorPeriod time.Duration
	// GracePeriod is how long a node may go without renewing its Lease
	// or posting status before it is marked Unknown
	// (--node-monitor-grace-period).
	GracePeriod time.Duration
	// StartupGracePeriod replaces GracePeriod for a node that never
	// posted a Ready condition (--node-startup-grace-period).
	StartupGracePeriod time.Duration
	// Clock tells the time; tests set a fake one.
	Clock clock.PassiveClock
}

// DefaultConfig returns the production timings: check every 5 s, mark a
// node Unknown after 40 s of silence, 60 s for a node's first report.
func DefaultConfig() Config {
	return Config{
		MonitorPeriod:      5 * time.Second,
		GracePeriod:        40 * time.Second,
		StartupGracePeriod: 60 * time.Second,
		Clock:              clock.RealClock{},
	}
}

// withDefaults fills the unset fields of c.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MonitorPeriod <= 0 {
		c.MonitorPeriod = d.MonitorPeriod
	}
	if c.GracePeriod <= 0 {
		c.GracePeriod = d.GracePeriod
	}
	if c.StartupGracePeriod <= 0 {
		c.StartupGracePeriod = d.StartupGracePeriod
	}
	if c.Clock == nil {
		c.Clock = d.Clock
	}
	return c
}
