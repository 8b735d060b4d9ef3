package scheduler

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	clocktesting "k8s.io/utils/clock/testing"
)

type queueLens struct{ active, backoff, unschedulable int }

func lens(q *schedulingQueue) queueLens {
	a, b, u := q.Len()
	return queueLens{a, b, u}
}

func popName(t *testing.T, q *schedulingQueue) (*queuedPod, int64) {
	t.Helper()
	if a, _, _ := q.Len(); a == 0 {
		t.Fatalf("Pop on an empty active queue would block")
	}
	p, cycle, ok := q.Pop()
	if !ok {
		t.Fatalf("Pop: queue closed")
	}
	return p, cycle
}

func TestQueuePopOrder(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	q := newSchedulingQueue(clk)
	high := makePod("high", func(p *corev1.Pod) { p.Spec.Priority = ptrTo(int32(10)) })
	q.Add(makePod("low-1"))
	clk.Step(time.Millisecond)
	q.Add(high)
	clk.Step(time.Millisecond)
	q.Add(makePod("low-2"))
	var got []string
	for i := 0; i < 3; i++ {
		p, _ := popName(t, q)
		got = append(got, p.pod.Name)
	}
	want := []string{"high", "low-1", "low-2"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func TestQueueBackoff(t *testing.T) {
	base := time.Unix(1000, 0)
	tests := []struct {
		attempts int
		want     time.Duration
	}{
		{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {4, 8 * time.Second}, {5, 10 * time.Second}, {12, 10 * time.Second},
	}
	for _, tc := range tests {
		p := &queuedPod{attempts: tc.attempts, lastFailure: base}
		if got := p.backoffExpiry().Sub(base); got != tc.want {
			t.Errorf("attempts %d: got %v, want %v", tc.attempts, got, tc.want)
		}
	}
}

// TestQueueUnschedulable walks a pod through failure, an event that does
// not concern it, one that does, its backoff and a retry.
func TestQueueUnschedulable(t *testing.T) {
	tests := []struct {
		name       string
		rejectedBy []string
		event      clusterEvent
		wantMoved  bool
	}{
		{name: "unrelated event", rejectedBy: []string{nameNodeResourcesFit}, event: eventAssignedPodAdd, wantMoved: false},
		{name: "pod deleted frees resources", rejectedBy: []string{nameNodeResourcesFit}, event: eventAssignedPodDelete, wantMoved: true},
		{name: "new node helps everyone", rejectedBy: []string{nameTaintToleration}, event: eventNodeAdd, wantMoved: true},
		{name: "claim bound", rejectedBy: []string{nameVolumeBinding}, event: clusterEvent{name: "PVC", plugins: sets.New(nameVolumeBinding)}, wantMoved: true},
		{name: "rejected by no named plugin", rejectedBy: nil, event: eventAssignedPodAdd, wantMoved: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(time.Now())
			q := newSchedulingQueue(clk)
			q.Add(makePod("p"))
			p, cycle := popName(t, q)
			q.AddUnschedulable(p, cycle, tc.rejectedBy)
			if got, want := lens(q), (queueLens{0, 0, 1}); got != want {
				t.Fatalf("after failure: got %+v, want %+v", got, want)
			}
			q.OnEvent(tc.event)
			if !tc.wantMoved {
				if got, want := lens(q), (queueLens{0, 0, 1}); got != want {
					t.Fatalf("after event: got %+v, want %+v", got, want)
				}
				return
			}
			// Still within its 1 s backoff: it waits in the backoff queue.
			if got, want := lens(q), (queueLens{0, 1, 0}); got != want {
				t.Fatalf("after event: got %+v, want %+v", got, want)
			}
			clk.Step(time.Second)
			q.flush()
			if got, want := lens(q), (queueLens{1, 0, 0}); got != want {
				t.Fatalf("after backoff: got %+v, want %+v", got, want)
			}
			if p, _ := popName(t, q); p.attempts != 2 {
				t.Errorf("second attempt: got attempts %d, want 2", p.attempts)
			}
		})
	}
}

// TestQueueEventDuringAttempt checks that an event that arrives while a
// pod is being scheduled is not lost: the pod skips the unschedulable
// pool.
func TestQueueEventDuringAttempt(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	q := newSchedulingQueue(clk)
	q.Add(makePod("p"))
	p, cycle := popName(t, q)
	q.OnEvent(eventNodeAdd)
	q.AddUnschedulable(p, cycle, []string{nameNodeResourcesFit})
	if got, want := lens(q), (queueLens{0, 1, 0}); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestQueueUnschedulableRetriedAfterMaxWait(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	q := newSchedulingQueue(clk)
	q.Add(makePod("p"))
	p, cycle := popName(t, q)
	q.AddUnschedulable(p, cycle, []string{nameNodeResourcesFit})
	clk.Step(maxUnschedulableWait - time.Second)
	q.flush()
	if got, want := lens(q), (queueLens{0, 0, 1}); got != want {
		t.Fatalf("before the max wait: got %+v, want %+v", got, want)
	}
	clk.Step(time.Second)
	q.flush()
	if got, want := lens(q), (queueLens{1, 0, 0}); got != want {
		t.Fatalf("after the max wait: got %+v, want %+v", got, want)
	}
}

func TestQueueUpdateAndDelete(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	tests := []struct {
		name string
		run  func(q *schedulingQueue, pod *corev1.Pod)
		want queueLens
	}{
		{
			name: "delete an active pod",
			run:  func(q *schedulingQueue, pod *corev1.Pod) { q.Add(pod); q.Delete(pod) },
			want: queueLens{0, 0, 0},
		},
		{
			name: "delete an unschedulable pod",
			run: func(q *schedulingQueue, pod *corev1.Pod) {
				q.Add(pod)
				p, cycle, _ := q.Pop()
				q.AddUnschedulable(p, cycle, nil)
				q.Delete(pod)
			},
			want: queueLens{0, 0, 0},
		},
		{
			name: "a pod deleted during its attempt is not put back",
			run: func(q *schedulingQueue, pod *corev1.Pod) {
				q.Add(pod)
				p, cycle, _ := q.Pop()
				q.Delete(pod)
				q.AddUnschedulable(p, cycle, nil)
				q.AddBackoff(p)
			},
			want: queueLens{0, 0, 0},
		},
		{
			name: "an updated unschedulable pod is tried again after its backoff",
			run: func(q *schedulingQueue, pod *corev1.Pod) {
				q.Add(pod)
				p, cycle, _ := q.Pop()
				q.AddUnschedulable(p, cycle, []string{nameTaintToleration})
				changed := pod.DeepCopy()
				changed.ResourceVersion = "2"
				changed.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
				q.Update(changed)
			},
			want: queueLens{0, 1, 0},
		},
		{
			name: "an update that changes nothing leaves the pod waiting",
			run: func(q *schedulingQueue, pod *corev1.Pod) {
				q.Add(pod)
				p, cycle, _ := q.Pop()
				q.AddUnschedulable(p, cycle, []string{nameTaintToleration})
				q.Update(pod)
			},
			want: queueLens{0, 0, 1},
		},
		{
			name: "adding a known pod twice keeps one entry",
			run:  func(q *schedulingQueue, pod *corev1.Pod) { q.Add(pod); q.Add(pod) },
			want: queueLens{1, 0, 0},
		},
		{
			name: "done forgets the pod, so it can come back",
			run: func(q *schedulingQueue, pod *corev1.Pod) {
				q.Add(pod)
				p, _, _ := q.Pop()
				q.Done(p)
				q.Add(pod)
			},
			want: queueLens{1, 0, 0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := newSchedulingQueue(clk)
			pod := makePod("p")
			pod.ResourceVersion = "1"
			tc.run(q, pod)
			if got := lens(q); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestQueueCloseWakesPop(t *testing.T) {
	q := newSchedulingQueue(clocktesting.NewFakeClock(time.Now()))
	done := make(chan bool)
	go func() {
		_, _, ok := q.Pop()
		done <- ok
	}()
	q.Close()
	select {
	case ok := <-done:
		if ok {
			t.Errorf("Pop after Close: got ok, want false")
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Pop did not return after Close")
	}
}
