package serviceendpoints

import (
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/navarch/navarch/internal/controller"
)

// TriggerTimes computes the endpoints.kubernetes.io/last-change-trigger-time
// annotation: the time of the earliest change (a pod's Ready transition,
// or the Service's creation) that the next write reflects and that the
// previous sync had not seen. Like upstream's tracker it may be off when
// one object changes several times between two syncs.
//
// It is safe for concurrent use on different Services; calls for one
// Service must not overlap (the workqueue guarantees that).
type TriggerTimes struct {
	mu sync.Mutex
	// services holds the last state seen per Service key; guarded by mu.
	services map[string]serviceTriggerState
}

type serviceTriggerState struct {
	service time.Time
	// pods maps pod name to its last Ready transition time.
	pods map[string]time.Time
}

func NewTriggerTimes() *TriggerTimes {
	return &TriggerTimes{services: map[string]serviceTriggerState{}}
}

// observe records the current state of a Service and its pods and returns
// the trigger time to publish; zero means the annotation is removed.
func (t *TriggerTimes) Observe(svc *corev1.Service, pods []*corev1.Pod) time.Time {
	key := svc.Namespace + "/" + svc.Name
	t.mu.Lock()
	previous, known := t.services[key]
	t.mu.Unlock()

	var earliest time.Time
	consider := func(at time.Time) {
		if earliest.IsZero() || at.Before(earliest) {
			earliest = at
		}
	}
	current := serviceTriggerState{service: svc.CreationTimestamp.Time, pods: make(map[string]time.Time, len(pods))}
	for _, pod := range pods {
		c := controller.PodReadyCondition(&pod.Status)
		if c == nil || c.LastTransitionTime.IsZero() {
			continue
		}
		current.pods[pod.Name] = c.LastTransitionTime.Time
		if c.LastTransitionTime.After(previous.pods[pod.Name]) {
			consider(c.LastTransitionTime.Time)
		}
	}
	if current.service.After(previous.service) {
		consider(current.service)
	}
	t.mu.Lock()
	t.services[key] = current
	t.mu.Unlock()
	if !known {
		// A Service seen for the first time: its creation started it all.
		return svc.CreationTimestamp.Time
	}
	return earliest
}

// forget drops the state of a deleted Service.
func (t *TriggerTimes) Forget(namespace, name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.services, namespace+"/"+name)
}
