package agent

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestSyncPodActiveDeadline(t *testing.T) {
	h := newSyncHarness(t)
	h.runtime.AddImage("localhost/app:1")
	pod := h.createPod(testPod("timed", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To(int64(30)) }))

	after, result := h.sync(pod)
	if after.Status.Phase != corev1.PodRunning {
		t.Fatalf("phase %s, want Running before the deadline", after.Status.Phase)
	}
	if result.requeueAfter <= 0 || result.requeueAfter > 30*time.Second {
		t.Errorf("requeueAfter = %v, want the time left to the deadline", result.requeueAfter)
	}
	h.events()

	h.clock.Step(31 * time.Second)
	after, _ = h.sync(pod)
	if after.Status.Phase != corev1.PodFailed || after.Status.Reason != "DeadlineExceeded" ||
		after.Status.Message != "Pod was active on the node longer than the specified deadline" {
		t.Errorf("status phase %s reason %q message %q, want Failed DeadlineExceeded", after.Status.Phase, after.Status.Reason, after.Status.Message)
	}
	if cs := after.Status.ContainerStatuses[0]; cs.State.Terminated == nil || cs.Ready {
		t.Errorf("container status %+v, want terminated and not ready", cs)
	}
	if !slices.Contains(h.runtime.Calls(), "StopContainer app") {
		t.Errorf("runtime calls %v: the container was not stopped", h.runtime.Calls())
	}
	events := h.events()
	if !slices.Contains(events, "Normal DeadlineExceeded Pod was active on the node longer than the specified deadline") {
		t.Errorf("events %q lack DeadlineExceeded", events)
	}

	// It stays failed: nothing restarts, the reason stays, no second event.
	h.runtime.ResetCalls()
	after, result = h.sync(pod)
	for _, call := range h.runtime.Calls() {
		if call == "StartContainer app" || call == "RunPodSandbox timed" {
			t.Errorf("runtime calls %v after the pod failed", h.runtime.Calls())
		}
	}
	if after.Status.Phase != corev1.PodFailed || after.Status.Reason != "DeadlineExceeded" || result.requeueAfter != 0 {
		t.Errorf("second sync: phase %s reason %q requeue %v", after.Status.Phase, after.Status.Reason, result.requeueAfter)
	}
	if hasEvent(h.events(), "Normal DeadlineExceeded") {
		t.Error("DeadlineExceeded reported twice")
	}
}
