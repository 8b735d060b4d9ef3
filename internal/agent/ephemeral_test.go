package agent

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// addEphemeral adds a debugging container to the pod as the API holds it,
// as pods/ephemeralcontainers would.
func (h *syncHarness) addEphemeral(pod *corev1.Pod, ec corev1.EphemeralContainer) {
	h.t.Helper()
	current, err := h.client.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	current.Spec.EphemeralContainers = append(current.Spec.EphemeralContainers, ec)
	if _, err := h.client.CoreV1().Pods(pod.Namespace).Update(context.Background(), current, metav1.UpdateOptions{}); err != nil {
		h.t.Fatal(err)
	}
}

func TestSyncPodRunsEphemeralContainersOnce(t *testing.T) {
	h := newSyncHarness(t)
	h.runtime.AddImage("localhost/app:1")
	h.runtime.AddImage("localhost/tools:1")
	pod := h.createPod(testPod("web"))
	h.sync(pod)
	h.runtime.ResetCalls()

	h.addEphemeral(pod, corev1.EphemeralContainer{TargetContainerName: "app", EphemeralContainerCommon: corev1.EphemeralContainerCommon{
		Name: "debugger", Image: "localhost/tools:1", ImagePullPolicy: corev1.PullIfNotPresent, Command: []string{"sh"}, Stdin: true, TTY: true}})
	after, _ := h.sync(pod)

	if got, want := h.runtime.Calls(), []string{"CreateContainer debugger", "StartContainer debugger"}; !cmp.Equal(got, want) {
		t.Errorf("runtime calls = %v, want %v (the app container left alone)", got, want)
	}
	cfg := h.runtime.ContainerConfig(h.containerID("debugger"))
	ns := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions()
	if ns.GetPid() != runtimeapi.NamespaceMode_TARGET || ns.GetTargetId() != h.containerID("app") {
		t.Errorf("pid namespace %v target %q, want TARGET of the app container %q", ns.GetPid(), ns.GetTargetId(), h.containerID("app"))
	}
	if ns.GetNetwork() != runtimeapi.NamespaceMode_POD || !cfg.Stdin || !cfg.Tty {
		t.Errorf("config %+v: want the pod's network, stdin and tty", cfg)
	}
	if len(after.Status.EphemeralContainerStatuses) != 1 {
		t.Fatalf("ephemeral statuses %+v, want one", after.Status.EphemeralContainerStatuses)
	}
	ecs := after.Status.EphemeralContainerStatuses[0]
	if ecs.Name != "debugger" || ecs.State.Running == nil || ecs.Ready || ecs.Started != nil || ecs.ContainerID == "" {
		t.Errorf("ephemeral status %+v, want running, not ready, no started field", ecs)
	}
	if len(after.Status.ContainerStatuses) != 1 || !after.Status.ContainerStatuses[0].Ready || after.Status.Phase != corev1.PodRunning {
		t.Errorf("pod status %+v: the app container's status must not change", after.Status)
	}
	if !hasEvent(h.events(), "Normal Started") {
		t.Error("no Started event for the ephemeral container")
	}

	// It exits: never restarted, whatever the pod's restart policy, and the
	// pod stays Running.
	if err := h.runtime.Exit(h.containerID("debugger"), 3, "Error"); err != nil {
		t.Fatal(err)
	}
	h.runtime.ResetCalls()
	after, _ = h.sync(pod)
	if calls := h.runtime.Calls(); len(calls) != 0 {
		t.Errorf("runtime calls after the ephemeral container exited = %v, want none", calls)
	}
	ecs = after.Status.EphemeralContainerStatuses[0]
	if ecs.State.Terminated == nil || ecs.State.Terminated.ExitCode != 3 || ecs.RestartCount != 0 {
		t.Errorf("ephemeral status %+v, want terminated with exit code 3", ecs)
	}
	if after.Status.Phase != corev1.PodRunning {
		t.Errorf("phase %s, want Running", after.Status.Phase)
	}
}

func TestSyncPodEphemeralContainerWaitsForItsTarget(t *testing.T) {
	h := newSyncHarness(t)
	h.runtime.AddImage("localhost/tools:1")
	// The app's image is missing: the app container cannot run.
	pod := h.createPod(testPod("web"))
	h.sync(pod)
	h.addEphemeral(pod, corev1.EphemeralContainer{TargetContainerName: "app", EphemeralContainerCommon: corev1.EphemeralContainerCommon{
		Name: "debugger", Image: "localhost/tools:1", ImagePullPolicy: corev1.PullIfNotPresent}})
	h.runtime.ResetCalls()
	after, result := h.sync(pod)
	for _, call := range h.runtime.Calls() {
		if call == "CreateContainer debugger" {
			t.Errorf("the debugger was created while its target does not run: %v", h.runtime.Calls())
		}
	}
	if result.requeueAfter == 0 {
		t.Error("the pod was not requeued")
	}
	ecs := after.Status.EphemeralContainerStatuses
	if len(ecs) != 1 || ecs[0].State.Waiting == nil || ecs[0].State.Waiting.Reason != reasonContainerCreating {
		t.Errorf("ephemeral statuses %+v, want waiting in ContainerCreating", ecs)
	}

	// Without a target it starts even though the app container does not run.
	h.addEphemeral(pod, corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
		Name: "loose", Image: "localhost/tools:1", ImagePullPolicy: corev1.PullIfNotPresent}})
	after, _ = h.sync(pod)
	if ns := h.runtime.ContainerConfig(h.containerID("loose")).GetLinux().GetSecurityContext().GetNamespaceOptions(); ns.GetPid() != runtimeapi.NamespaceMode_CONTAINER {
		t.Errorf("pid namespace of an untargeted ephemeral container = %v, want its own", ns.GetPid())
	}
	if ecs := after.Status.EphemeralContainerStatuses; len(ecs) != 2 || ecs[1].State.Running == nil {
		t.Errorf("ephemeral statuses %+v, want loose running", ecs)
	}
}
