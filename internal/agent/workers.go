package agent

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
)

// errorRetryInterval is how soon a sync that returned an error runs again.
const errorRetryInterval = 2 * time.Second

// syncFunc syncs the pod with uid; done means the pod is gone and
// nothing of it is left, so its worker may end.
type syncFunc func(ctx context.Context, uid types.UID) (result syncResult, done bool, err error)

// podWorkers runs one goroutine per pod. wake asks for a sync of a pod;
// wakes that arrive while a sync runs fold into one more sync after it,
// so syncs of one pod never overlap and never pile up.
type podWorkers struct {
	sync syncFunc

	mu sync.Mutex
	// workers is guarded by mu.
	workers map[types.UID]*podWorker
	wg      sync.WaitGroup
}

type podWorker struct {
	// wake has room for one pending wake.
	wake chan struct{}
	// timer is the pending requeue, guarded by podWorkers.mu.
	timer *time.Timer
}

func newPodWorkers(sync syncFunc) *podWorkers {
	return &podWorkers{sync: sync, workers: map[types.UID]*podWorker{}}
}

// wake asks for a sync of uid, starting its worker if needed. It never
// blocks.
func (p *podWorkers) wake(ctx context.Context, uid types.UID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	w, ok := p.workers[uid]
	if !ok {
		w = &podWorker{wake: make(chan struct{}, 1)}
		p.workers[uid] = w
		p.wg.Add(1)
		go p.run(ctx, uid, w)
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// wakeAfter schedules a wake of uid's worker after d, replacing an
// earlier schedule.
func (p *podWorkers) wakeAfter(ctx context.Context, uid types.UID, w *podWorker, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
	}
	w.timer = time.AfterFunc(d, func() {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	})
}

// run is one pod's worker loop.
func (p *podWorkers) run(ctx context.Context, uid types.UID, w *podWorker) {
	defer p.wg.Done()
	logger := klog.FromContext(ctx).WithValues("podUID", uid)
	for {
		select {
		case <-ctx.Done():
			p.stopTimer(w)
			return
		case <-w.wake:
		}
		result, done, err := p.sync(ctx, uid)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				continue
			}
			logger.Error(err, "pod sync failed; retrying")
			p.wakeAfter(ctx, uid, w, errorRetryInterval)
		case done:
			p.mu.Lock()
			if len(w.wake) == 0 {
				if w.timer != nil {
					w.timer.Stop()
				}
				delete(p.workers, uid)
				p.mu.Unlock()
				return
			}
			p.mu.Unlock()
		case result.requeueAfter > 0:
			p.wakeAfter(ctx, uid, w, result.requeueAfter)
		}
	}
}

func (p *podWorkers) stopTimer(w *podWorker) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
	}
}

// wait blocks until every worker has ended (after ctx ended).
func (p *podWorkers) wait() { p.wg.Wait() }
