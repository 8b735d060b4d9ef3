package stats

import "time"

// MinWindow is the shortest time between two CPU samples that a rate is
// computed over; samples closer than that to the newest one are measured
// against the one before it instead of replacing it.
const MinWindow = time.Second

// cpuSample is one reading of a cumulative CPU counter.
type cpuSample struct {
	at time.Time
	// total is the CPU time used so far, in nanoseconds.
	total uint64
}

// cpuHistory is what rateTracker keeps of one counter: the newest
// sample and the one at least MinWindow before it.
type cpuHistory struct {
	prev, last cpuSample
	hasPrev    bool
	// round is the sampling round that last observed the counter.
	round uint64
}

// rateTracker turns cumulative CPU counters, sampled repeatedly, into
// rates. It is not safe for concurrent use; Provider serialises samples.
type rateTracker struct {
	history map[string]*cpuHistory
	// round counts sampling rounds (endRound), to forget counters that
	// were not seen in the last one.
	round uint64
}

func newRateTracker() *rateTracker {
	return &rateTracker{history: map[string]*cpuHistory{}}
}

// observe records a sample of the counter key and returns its rate in
// nano-cores (CPU nanoseconds per second) since the previous sample at
// least MinWindow older. It returns false when there is none: the first
// sample of a counter, a second one within MinWindow of it, or a counter
// that went backwards (a new process measured under an old key), which
// starts its history again.
func (t *rateTracker) observe(key string, s cpuSample) (uint64, bool) {
	h := t.history[key]
	if h == nil || s.total < h.last.total || s.at.Before(h.last.at) {
		t.history[key] = &cpuHistory{last: s, round: t.round}
		return 0, false
	}
	h.round = t.round
	if s.at.Sub(h.last.at) >= MinWindow {
		h.prev, h.hasPrev, h.last = h.last, true, s
		return rate(h.prev, s), true
	}
	if h.hasPrev {
		return rate(h.prev, s), true
	}
	return 0, false
}

// endRound forgets the counters that the round now ending did not
// observe (containers that are gone) and starts the next round.
func (t *rateTracker) endRound() {
	for key, h := range t.history {
		if h.round != t.round {
			delete(t.history, key)
		}
	}
	t.round++
}

// rate is the mean CPU rate between two samples, in nano-cores.
func rate(from, to cpuSample) uint64 {
	elapsed := to.at.Sub(from.at)
	if elapsed <= 0 || to.total < from.total {
		return 0
	}
	return uint64(float64(to.total-from.total) / elapsed.Seconds())
}

// lifetimeRate is the mean CPU rate of a counter since start, in
// nano-cores, or false when start is unknown or not before now.
func lifetimeRate(total uint64, start, now time.Time) (uint64, bool) {
	if start.IsZero() || !start.Before(now) {
		return 0, false
	}
	return rate(cpuSample{at: start}, cpuSample{at: now, total: total}), true
}
