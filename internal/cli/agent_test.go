package cli

import (
	"runtime/debug"
	"strings"
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

func TestAgentGCPercentFlag(t *testing.T) {
	for _, value := range []string{"0", "-1"} {
		env, _, stderr := testEnvironment(nil)
		if code := run([]string{"navarch", "agent", "--gc-percent", value}, env); code != 1 {
			t.Errorf("--gc-percent %s: exit code %d, want 1", value, code)
		}
		if want := "--gc-percent " + value + ": want a positive percentage"; !strings.Contains(stderr.String(), want) {
			t.Errorf("--gc-percent %s: stderr = %q, want it to contain %q", value, stderr, want)
		}
	}
}
