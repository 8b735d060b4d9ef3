package cli

import (
	"runtime/debug"
	"testing"
)

func TestSetAgentGCPercent(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	withGOGC := func(key string) (string, bool) {
		if key == "GOGC" {
			return "200", true
		}
		return "", false
	}

	// The real setting: the runtime's percentage is the agent's after
	// the call.
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	setAgentGCPercent(defaultAgentGCPercent, noEnv, debug.SetGCPercent)
	if got := debug.SetGCPercent(100); got != defaultAgentGCPercent {
		t.Errorf("GC percent after setAgentGCPercent = %d, want %d", got, defaultAgentGCPercent)
	}

	// GOGC in the environment wins: nothing is set.
	called := false
	setAgentGCPercent(defaultAgentGCPercent, withGOGC, func(int) int { called = true; return 100 })
	if called {
		t.Error("setAgentGCPercent overrode GOGC from the environment")
	}
}
