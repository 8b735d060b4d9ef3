package scheduler

import (
	"container/heap"
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/utils/clock"
)

// Queue timings, as upstream's defaults.
const (
	initialBackoff = 1 * time.Second
	maxBackoff     = 10 * time.Second
	// maxUnschedulableWait is how long a pod may sit among the
	// unschedulable ones without any cluster event before it is tried
	// again anyway.
	maxUnschedulableWait = 5 * time.Minute
)

// queuedPod is a pod waiting to be scheduled, with its history.
type queuedPod struct {
	pod  *corev1.Pod
	info *PodInfo
	// attempts counts the scheduling attempts so far.
	attempts int
	// timestamp orders pods of equal priority: when the pod last entered
	// the active queue.
	timestamp time.Time
	// lastFailure is when the last attempt failed; with attempts it
	// decides the end of the backoff.
	lastFailure time.Time
	// unschedulablePlugins are the plugins that rejected the pod last
	// time; only events that concern one of them move it (empty: any).
	unschedulablePlugins sets.Set[string]
	// heapIndex is the pod's position in the heap holding it, -1 if none.
	heapIndex int
	// place tells which part of the queue holds the pod.
	place place
}

// place is where in the queue a pod is.
type place int

const (
	placeActive place = iota + 1
	placeBackoff
	placeUnschedulable
	// placeInFlight: popped, its scheduling attempt is running.
	placeInFlight
)

func (q *queuedPod) backoffExpiry() time.Time {
	d := initialBackoff
	for i := 1; i < q.attempts && d < maxBackoff; i++ {
		d *= 2
	}
	return q.lastFailure.Add(min(d, maxBackoff))
}

// clusterEvent is a change in the cluster that may make unschedulable pods
// schedulable; plugins names the plugins whose verdict it may change (nil
// means every plugin).
type clusterEvent struct {
	name    string
	plugins sets.Set[string]
}

// helps tells whether the event may change the verdict on a pod that the
// given plugins rejected.
func (e clusterEvent) helps(rejectedBy sets.Set[string]) bool {
	if e.plugins == nil || rejectedBy.Len() == 0 {
		return true
	}
	return e.plugins.HasAny(rejectedBy.UnsortedList()...)
}

// podHeap orders pods by a less function.
type podHeap struct {
	items []*queuedPod
	less  func(a, b *queuedPod) bool
}

func (h *podHeap) Len() int           { return len(h.items) }
func (h *podHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *podHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].heapIndex, h.items[j].heapIndex = i, j
}
func (h *podHeap) Push(x any) {
	p := x.(*queuedPod)
	p.heapIndex = len(h.items)
	h.items = append(h.items, p)
}
func (h *podHeap) Pop() any {
	n := len(h.items)
	p := h.items[n-1]
	h.items[n-1] = nil
	h.items = h.items[:n-1]
	p.heapIndex = -1
	return p
}

// schedulingQueue holds the pods waiting for a node in three places, as
// upstream's: the active queue (highest priority first, then oldest),
// the backoff queue (pods that failed recently, until their backoff
// ends), and the unschedulable pods (failed, waiting for a cluster event
// that may help them). Pods being scheduled are in none of them.
type schedulingQueue struct {
	clock clock.WithTicker

	mu   sync.Mutex
	cond *sync.Cond
	// All fields below are guarded by mu.
	active        *podHeap
	backoff       *podHeap
	unschedulable map[types.UID]*queuedPod
	// pods holds every pod the queue knows, wherever it is.
	pods map[types.UID]*queuedPod
	// cycle counts pops; moveCycle is the cycle of the last cluster event
	// that moved pods. A pod that fails in a cycle that started before
	// such an event goes to backoff, not unschedulable: the event may
	// have helped it and must not be lost.
	cycle, moveCycle int64
	closed           bool
}

func newSchedulingQueue(clk clock.WithTicker) *schedulingQueue {
	q := &schedulingQueue{
		clock: clk,
		active: &podHeap{less: func(a, b *queuedPod) bool {
			pa, pb := corev1helpers.PodPriority(a.pod), corev1helpers.PodPriority(b.pod)
			if pa != pb {
				return pa > pb
			}
			return a.timestamp.Before(b.timestamp)
		}},
		backoff:       &podHeap{less: func(a, b *queuedPod) bool { return a.backoffExpiry().Before(b.backoffExpiry()) }},
		unschedulable: map[types.UID]*queuedPod{},
		pods:          map[types.UID]*queuedPod{},
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Add queues a new pending pod (or refreshes a known one).
func (q *schedulingQueue) Add(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if p, known := q.pods[pod.UID]; known {
		q.updateLocked(p, pod)
		return
	}
	q.pushActiveLocked(&queuedPod{pod: pod, info: NewPodInfo(pod), timestamp: q.clock.Now(), heapIndex: -1})
}

// Update refreshes a pending pod after a change of its object. A pod
// waiting because it was unschedulable is tried again (once its backoff
// ends), since the change may help it.
func (q *schedulingQueue) Update(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	p, known := q.pods[pod.UID]
	if !known {
		q.pushActiveLocked(&queuedPod{pod: pod, info: NewPodInfo(pod), timestamp: q.clock.Now(), heapIndex: -1})
		return
	}
	q.updateLocked(p, pod)
}

func (q *schedulingQueue) updateLocked(p *queuedPod, pod *corev1.Pod) {
	if p.pod.ResourceVersion == pod.ResourceVersion {
		return
	}
	switch p.place {
	case placeActive:
		p.pod, p.info = pod, refreshPodInfo(p.info, pod)
		heap.Fix(q.active, p.heapIndex)
	case placeBackoff:
		p.pod, p.info = pod, refreshPodInfo(p.info, pod)
	case placeUnschedulable:
		p.pod, p.info = pod, refreshPodInfo(p.info, pod)
		delete(q.unschedulable, pod.UID)
		q.requeueLocked(p)
	case placeInFlight:
		// The attempt in progress uses the old object; the pod's next
		// attempt, if any, gets the new one.
		p.pod, p.info = pod, refreshPodInfo(p.info, pod)
	}
}

// Delete forgets a pod (deleted, bound by someone else, or no longer
// ours).
func (q *schedulingQueue) Delete(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	p, ok := q.pods[pod.UID]
	if !ok {
		return
	}
	switch p.place {
	case placeActive:
		heap.Remove(q.active, p.heapIndex)
	case placeBackoff:
		heap.Remove(q.backoff, p.heapIndex)
	case placeUnschedulable:
		delete(q.unschedulable, pod.UID)
	}
	delete(q.pods, pod.UID)
}

// Pop blocks until a pod is active and returns it, marked in flight, with
// the scheduling cycle it starts. It returns false when the queue is
// closed.
func (q *schedulingQueue) Pop() (*queuedPod, int64, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.active.Len() == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return nil, 0, false
	}
	p := heap.Pop(q.active).(*queuedPod)
	p.attempts++
	q.cycle++
	p.place = placeInFlight
	return p, q.cycle, true
}

// Done ends an attempt that bound the pod (or found it gone): the queue
// forgets it.
func (q *schedulingQueue) Done(p *queuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pods[p.pod.UID] == p && p.place == placeInFlight {
		delete(q.pods, p.pod.UID)
	}
}

// AddUnschedulable puts back a pod that no node fits, rejected by the
// given plugins. It waits for a cluster event, unless one happened since
// its attempt began in cycle (then it only waits for its backoff).
func (q *schedulingQueue) AddUnschedulable(p *queuedPod, cycle int64, rejectedBy []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.inFlightLocked(p) {
		return // deleted meanwhile
	}
	p.lastFailure = q.clock.Now()
	p.unschedulablePlugins = sets.New(rejectedBy...)
	if q.moveCycle >= cycle {
		q.pushBackoffLocked(p)
		return
	}
	q.unschedulable[p.pod.UID] = p
	p.place = placeUnschedulable
}

// AddBackoff puts back a pod whose attempt failed for another reason (an
// API error): it is tried again after its backoff.
func (q *schedulingQueue) AddBackoff(p *queuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.inFlightLocked(p) {
		return
	}
	p.lastFailure = q.clock.Now()
	q.pushBackoffLocked(p)
}

// Requeue puts an in-flight pod straight back into the active queue (its
// attempt was cut short, not failed).
func (q *schedulingQueue) Requeue(p *queuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.inFlightLocked(p) {
		return
	}
	p.attempts--
	q.pushActiveLocked(p)
}

// OnEvent moves the unschedulable pods the event may help to the active
// queue, or to the backoff queue if their backoff has not ended.
func (q *schedulingQueue) OnEvent(e clusterEvent) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.moveCycle = q.cycle
	for uid, p := range q.unschedulable {
		if !e.helps(p.unschedulablePlugins) {
			continue
		}
		delete(q.unschedulable, uid)
		q.requeueLocked(p)
	}
}

// requeueLocked puts a pod that waited into backoff or active.
func (q *schedulingQueue) requeueLocked(p *queuedPod) {
	if q.clock.Now().Before(p.backoffExpiry()) {
		q.pushBackoffLocked(p)
		return
	}
	q.pushActiveLocked(p)
}

// flush moves pods whose backoff ended to the active queue, and pods that
// waited too long among the unschedulable ones back to be tried.
func (q *schedulingQueue) flush() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clock.Now()
	for q.backoff.Len() > 0 && !now.Before(q.backoff.items[0].backoffExpiry()) {
		p := heap.Pop(q.backoff).(*queuedPod)
		q.pushActiveLocked(p)
	}
	for uid, p := range q.unschedulable {
		if now.Sub(p.lastFailure) >= maxUnschedulableWait {
			delete(q.unschedulable, uid)
			q.requeueLocked(p)
		}
	}
}

// Run flushes the backoff and unschedulable pods every second until ctx
// ends, then closes the queue (Pop returns false until Open).
func (q *schedulingQueue) Run(ctx context.Context) {
	ticker := q.clock.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			q.Close()
			return
		case <-ticker.C():
			q.flush()
		}
	}
}

// Open makes a closed queue hand out pods again.
func (q *schedulingQueue) Open() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = false
}

// Close wakes Pop, which returns false until Open.
func (q *schedulingQueue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

func (q *schedulingQueue) pushActiveLocked(p *queuedPod) {
	p.timestamp = q.clock.Now()
	heap.Push(q.active, p)
	q.pods[p.pod.UID] = p
	p.place = placeActive
	q.cond.Signal()
}

func (q *schedulingQueue) pushBackoffLocked(p *queuedPod) {
	heap.Push(q.backoff, p)
	q.pods[p.pod.UID] = p
	p.place = placeBackoff
}

// inFlightLocked tells whether p is the queue's in-flight entry of its
// pod (not deleted or replaced meanwhile).
func (q *schedulingQueue) inFlightLocked(p *queuedPod) bool {
	return q.pods[p.pod.UID] == p && p.place == placeInFlight
}

// Len returns how many pods wait in each place (for tests and logs).
func (q *schedulingQueue) Len() (active, backoff, unschedulable int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.active.Len(), q.backoff.Len(), len(q.unschedulable)
}
