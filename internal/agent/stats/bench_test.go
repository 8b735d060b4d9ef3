package stats_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// BenchmarkSample measures one sample of a full node (110 pods of two
// containers) over fakecri, without sandbox stats as on containerd 1.6:
// mostly the provider's own cost, not the runtime's.
func BenchmarkSample(b *testing.B) {
	f := newFixture(b, nil)
	f.rt.FailSandboxStats(errors.New("cgroupPath is empty"))
	for i := range 110 {
		_, ids := f.runPod("default", fmt.Sprintf("pod-%d", i), fmt.Sprintf("uid-%d", i), false, "app", "sidecar")
		for _, id := range ids {
			f.setUsage(id, float64(i), uint64(i)*mib)
		}
	}
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		f.clock.Step(time.Minute) // every Summary takes a new sample
		if _, err := f.p.Summary(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
