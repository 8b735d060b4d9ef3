package agent

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }

func TestPodPhase(t *testing.T) {
	running := corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}, Started: ptrBool(true)}
	exited := func(code int32) corev1.ContainerStatus {
		return corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}
	}
	creating := corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}
	initializing := corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}
	backoff := corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}}
	tests := []struct {
		name     string
		policy   corev1.RestartPolicy
		init     []corev1.ContainerStatus
		statuses []corev1.ContainerStatus
		// sidecar makes the first init container a sidecar.
		sidecar  bool
		finished bool
		want     corev1.PodPhase
	}{
		{name: "creating", policy: corev1.RestartPolicyAlways, statuses: []corev1.ContainerStatus{creating}, want: corev1.PodPending},
		{name: "one running one creating", policy: corev1.RestartPolicyAlways, statuses: []corev1.ContainerStatus{running, creating}, want: corev1.PodPending},
		{name: "running", policy: corev1.RestartPolicyAlways, statuses: []corev1.ContainerStatus{running}, want: corev1.PodRunning},
		{name: "crash loop stays Running", policy: corev1.RestartPolicyAlways, statuses: []corev1.ContainerStatus{backoff}, want: corev1.PodRunning},
		{name: "Never, all succeeded", policy: corev1.RestartPolicyNever, statuses: []corev1.ContainerStatus{exited(0), exited(0)}, want: corev1.PodSucceeded},
		{name: "Never, one failed", policy: corev1.RestartPolicyNever, statuses: []corev1.ContainerStatus{exited(0), exited(3)}, want: corev1.PodFailed},
		{name: "Never, one still running", policy: corev1.RestartPolicyNever, statuses: []corev1.ContainerStatus{exited(0), running}, want: corev1.PodRunning},
		{name: "OnFailure, failed is Running", policy: corev1.RestartPolicyOnFailure, statuses: []corev1.ContainerStatus{exited(1)}, want: corev1.PodRunning},
		{name: "OnFailure, succeeded", policy: corev1.RestartPolicyOnFailure, statuses: []corev1.ContainerStatus{exited(0)}, want: corev1.PodSucceeded},
		{name: "Always, exited is Running", policy: corev1.RestartPolicyAlways, statuses: []corev1.ContainerStatus{exited(0)}, want: corev1.PodRunning},
		{name: "init running", policy: corev1.RestartPolicyAlways, init: []corev1.ContainerStatus{running, initializing},
			statuses: []corev1.ContainerStatus{initializing}, want: corev1.PodPending},
		{name: "init in back-off", policy: corev1.RestartPolicyAlways, init: []corev1.ContainerStatus{backoff, initializing},
			statuses: []corev1.ContainerStatus{initializing}, want: corev1.PodPending},
		{name: "init failed under Never", policy: corev1.RestartPolicyNever, init: []corev1.ContainerStatus{exited(0), exited(1)},
			statuses: []corev1.ContainerStatus{initializing}, want: corev1.PodFailed},
		{name: "init done, app running", policy: corev1.RestartPolicyAlways, init: []corev1.ContainerStatus{exited(0), exited(0)},
			statuses: []corev1.ContainerStatus{running}, want: corev1.PodRunning},
		{name: "sidecar running, app done, pod finished", policy: corev1.RestartPolicyNever, sidecar: true, finished: true,
			init: []corev1.ContainerStatus{running, exited(0)}, statuses: []corev1.ContainerStatus{exited(0)}, want: corev1.PodRunning},
		{name: "sidecar stopped, app done, pod finished", policy: corev1.RestartPolicyNever, sidecar: true, finished: true,
			init: []corev1.ContainerStatus{exited(137), exited(0)}, statuses: []corev1.ContainerStatus{exited(0)}, want: corev1.PodSucceeded},
		{name: "sidecar not started yet", policy: corev1.RestartPolicyAlways, sidecar: true,
			init:     []corev1.ContainerStatus{{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}, Started: ptrBool(false)}, initializing},
			statuses: []corev1.ContainerStatus{initializing}, want: corev1.PodPending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: tt.policy}}
			name := func(prefix string, list []corev1.ContainerStatus) []corev1.ContainerStatus {
				out := make([]corev1.ContainerStatus, len(list))
				for i, cs := range list {
					cs.Name = fmt.Sprintf("%s%d", prefix, i)
					out[i] = cs
				}
				return out
			}
			initStatuses, statuses := name("init", tt.init), name("app", tt.statuses)
			for i, cs := range initStatuses {
				c := corev1.Container{Name: cs.Name}
				if i == 0 && tt.sidecar {
					c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
				}
				pod.Spec.InitContainers = append(pod.Spec.InitContainers, c)
			}
			for _, cs := range statuses {
				pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: cs.Name})
			}
			if got := podPhase(pod, initStatuses, statuses, tt.finished); got != tt.want {
				t.Errorf("podPhase = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestComputePodStatusShape(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	earlier := metav1.NewTime(now.Add(-time.Hour))
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Generation: 1},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyAlways, Containers: []corev1.Container{
			{Name: "a", Image: "localhost/a:1"}, {Name: "b", Image: "localhost/b:1"}}},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: earlier},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: earlier},
		}},
	}
	started := now.Add(-time.Minute).UnixNano()
	state := runtimeState{
		sandbox: &runtimeapi.PodSandboxStatus{Id: "s1", State: runtimeapi.PodSandboxState_SANDBOX_READY, Network: &runtimeapi.PodSandboxNetworkStatus{Ip: "10.42.0.7"}},
		containers: []*runtimeapi.ContainerStatus{
			{Id: "c1", Metadata: &runtimeapi.ContainerMetadata{Name: "a", Attempt: 0}, State: runtimeapi.ContainerState_CONTAINER_RUNNING,
				StartedAt: started, Image: &runtimeapi.ImageSpec{Image: "localhost/a:1"}, ImageRef: "sha256:aaa"},
		},
		containerSandbox: map[string]string{"c1": "s1"},
	}
	st := computePodStatus(pod, statusInput{state: state, waiting: map[string]waitingReason{}, hostIP: "192.0.2.1", runtimeName: "containerd", now: now})

	nowT := metav1.NewTime(now)
	wantConditions := []corev1.PodCondition{
		{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue, LastTransitionTime: nowT, ObservedGeneration: 1},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: earlier, ObservedGeneration: 1},
		{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", Message: "containers with unready status: [b]", LastTransitionTime: nowT, ObservedGeneration: 1},
		{Type: corev1.ContainersReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", Message: "containers with unready status: [b]", LastTransitionTime: nowT, ObservedGeneration: 1},
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: earlier},
	}
	if diff := cmp.Diff(wantConditions, st.Conditions); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
	wantStatuses := []corev1.ContainerStatus{
		{Name: "a", Image: "localhost/a:1", ImageID: "sha256:aaa", ContainerID: "containerd://c1", Ready: true, Started: ptrBool(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(now.Add(-time.Minute))}}},
		{Name: "b", Image: "localhost/b:1", Started: ptrBool(false),
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}},
	}
	if diff := cmp.Diff(wantStatuses, st.ContainerStatuses); diff != "" {
		t.Errorf("container statuses (-want +got):\n%s", diff)
	}
	if st.Phase != corev1.PodPending || st.PodIP != "10.42.0.7" || st.HostIP != "192.0.2.1" || st.StartTime == nil || st.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("phase %s podIP %s hostIP %s startTime %v qos %s", st.Phase, st.PodIP, st.HostIP, st.StartTime, st.QOSClass)
	}
}

func ptrBool(b bool) *bool { return &b }
