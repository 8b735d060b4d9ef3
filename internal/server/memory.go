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
// controllers' informers, etcd) would take 550 MiB of heap. The process's
// RSS adds 115-140 MiB of mapped files (etcd's database, the binary's
// code) to what the limit bounds: with 480 MiB, 10,000 pods measured up
// to 586 MiB of RSS, against a target of 600; with 440, 552-558 MiB.
const DefaultMemoryLimit = 440 << 20

// Adjustment of the memory limit.
const (
	// liveHeadroom: the limit never goes below live heap times this, so
	// that a cluster whose objects outgrow the limit costs the GC what
	// GOGC=50 would, rather than a collection after every allocation.
	liveHeadroom = 1.5
	// memoryCheckEvery is how often the live heap and the allocation
	// rate are looked at.
	memoryCheckEvery = time.Second
)

// Adjustment of the garbage collector's percentage (GOGC) unless GOGC is
// set. While the server allocates fast (pods created, scheduled and
// started by the thousand, a large rollout), each collection waits for
// busyGCPercent of the live heap to be allocated rather than Go's default
// 100%, under the same soft memory limit, which still caps the heap.
// A collection's cost is the live heap it marks, so the cpu spent on
// collections per byte allocated falls with the percentage: in
// bench/scheduler (1,000 nodes, 10,000 pods created at once) the
// server's cpu per pod went from 2.12 to 1.96 ms (medians of 7
// alternating runs; collections were 11% of its cpu before). An idle
// server keeps the default, so that it stays small; it turns
// "busy" once busyChecks checks in a row found the allocation rate at
// least busyAllocRate (a server starting up allocates fast for a moment
// too), and stays so until calmChecks checks in a row found it below.
const (
	idleGCPercent = 100
	busyGCPercent = 400
	busyAllocRate = 32 << 20 // bytes per second
	busyChecks    = 3
	calmChecks    = 10
)

// memoryTuner keeps the Go runtime's soft memory limit at the larger of
// base and liveHeadroom times the live heap, and the GC percentage at
// busyGCPercent while the server allocates fast.
type memoryTuner struct {
	base int64
	// set is debug.SetMemoryLimit; live reads the live heap (tests fake
	// both).
	set  func(int64) int64
	live func() int64
	// current is the limit last set.
	current int64

	// tuneGC is false when GOGC is set in the environment. setGCPercent
	// is debug.SetGCPercent; allocated reads the bytes allocated since
	// the process started; now is time.Now (tests fake all three).
	tuneGC       bool
	setGCPercent func(int) int
	allocated    func() uint64
	now          func() time.Time
	// lastAllocated and lastCheck are the previous check's reading;
	// busy is whether busyGCPercent is set; fast counts the checks in a
	// row at busyAllocRate or more, calm those below it.
	lastAllocated uint64
	lastCheck     time.Time
	busy          bool
	fast, calm    int
}

func newMemoryTuner(base int64) *memoryTuner {
	_, gogcSet := os.LookupEnv("GOGC")
	return &memoryTuner{
		base: base, set: debug.SetMemoryLimit, live: liveHeapBytes,
		tuneGC: !gogcSet, setGCPercent: debug.SetGCPercent, allocated: allocatedBytes, now: time.Now,
	}
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
// than a tenth, and the GC percentage the allocation rate calls for.
func (t *memoryTuner) adjust(logger klog.Logger) {
	if t.tuneGC {
		t.adjustGCPercent(logger)
	}
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

// adjustGCPercent switches to busyGCPercent after busyChecks checks in a
// row found the allocation rate since the one before at busyAllocRate or
// more, and back to idleGCPercent after calmChecks checks below it.
func (t *memoryTuner) adjustGCPercent(logger klog.Logger) {
	allocated, now := t.allocated(), t.now()
	defer func() { t.lastAllocated, t.lastCheck = allocated, now }()
	if t.lastCheck.IsZero() || !now.After(t.lastCheck) {
		return
	}
	rate := float64(allocated-t.lastAllocated) / now.Sub(t.lastCheck).Seconds()
	if rate >= busyAllocRate {
		t.fast++
		t.calm = 0
	} else {
		t.fast = 0
		t.calm++
	}
	switch {
	case !t.busy && t.fast >= busyChecks:
		t.busy = true
		t.setGCPercent(busyGCPercent)
		logger.V(2).Info("allocating fast: garbage collection less often", "gcPercent", busyGCPercent, "bytesPerSecond", int64(rate))
	case t.busy && t.calm >= calmChecks:
		t.busy = false
		t.setGCPercent(idleGCPercent)
		logger.V(2).Info("allocation calmed down: garbage collection as usual", "gcPercent", idleGCPercent)
	}
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

// allocatedBytes is the heap allocated since the process started.
func allocatedBytes() uint64 {
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}

// memoryLimitFromEnvironment reports whether GOMEMLIMIT sets the limit,
// which the server then leaves alone.
func memoryLimitFromEnvironment() bool {
	_, set := os.LookupEnv("GOMEMLIMIT")
	return set
}
