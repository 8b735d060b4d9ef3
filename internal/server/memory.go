package server

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"k8s.io/klog/v2"
)

// DefaultMemoryLimit is the soft memory limit of `navarch server` unless
// GOMEMLIMIT is set: with Go's default GOGC=100 the heap grows to twice
// what is live before a collection, so a control plane holding 270 MiB of
// objects (1,000 nodes and 10,000 pods: the API server's watch cache, the
// controllers' informers, etcd) would take 550 MiB of heap.
const DefaultMemoryLimit = 480 << 20

// Adjustment of the memory limit.
const (
	// liveHeadroom: the limit never goes below live heap times this, so
	// that a cluster whose objects outgrow the limit costs the GC what
	// GOGC=50 would, rather than a collection after every allocation.
	liveHeadroom = 1.5
	// memoryCheckEvery is how often the live heap is looked at.
	memoryCheckEvery = 5 * time.Second
)

// memoryTuner keeps the Go runtime's soft memory limit at the larger of
// base and liveHeadroom times the live heap.
type memoryTuner struct {
	base int64
	// set is debug.SetMemoryLimit; live reads the live heap (tests fake
	// both).
	set  func(int64) int64
	live func() int64
	// current is the limit last set.
	current int64
}

func newMemoryTuner(base int64) *memoryTuner {
	return &memoryTuner{base: base, set: debug.SetMemoryLimit, live: liveHeapBytes}
}

// Start implements Runnable: it sets the limit now and adjusts it until
// ctx ends, then leaves it as it is.
func (t *memoryTuner) Start(ctx context.Context) error {
	t.adjust(klog.FromContext(ctx))
	ticker := time.NewTicker(memoryCheckEvery)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			t.adjust(klog.FromContext(ctx))
		}
	}
}

// adjust sets the limit the live heap calls for, when it changed by more
// than a tenth.
func (t *memoryTuner) adjust(logger klog.Logger) {
	want := max(t.base, int64(liveHeadroom*float64(t.live())))
	if t.current != 0 && abs(want-t.current) < t.current/10 {
		return
	}
	t.set(want)
	if t.current != 0 {
		logger.V(2).Info("memory limit adjusted to the live heap", "limitBytes", want)
	}
	t.current = want
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// liveHeapBytes is the heap the last collection found live.
func liveHeapBytes() int64 {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(sample[0].Value.Uint64())
}

// memoryLimitFromEnvironment reports whether GOMEMLIMIT sets the limit,
// which the server then leaves alone.
func memoryLimitFromEnvironment() bool {
	_, set := os.LookupEnv("GOMEMLIMIT")
	return set
}
