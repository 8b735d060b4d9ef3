package agent

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

// Waiting reasons, as the kubelet reports them.
const (
	reasonContainerCreating          = "ContainerCreating"
	reasonCrashLoopBackOff           = "CrashLoopBackOff"
	reasonErrImagePull               = "ErrImagePull"
	reasonImagePullBackOff           = "ImagePullBackOff"
	reasonErrImageNeverPull          = "ErrImageNeverPull"
	reasonCreateContainerConfigError = "CreateContainerConfigError"
	reasonCreateContainerError       = "CreateContainerError"
	reasonRunContainerError          = "RunContainerError"
	// reasonContainersNotReady is the reason of a False Ready or
	// ContainersReady condition; reasonPodCompleted replaces it once the
	// pod has finished.
	reasonContainersNotReady = "ContainersNotReady"
	reasonPodCompleted       = "PodCompleted"
)

// waitingReason is why a container is not running, when the runtime's
// state alone does not say (image pull failures, back-off, config
// errors); the pod sync records it for the status.
type waitingReason struct {
	reason, message string
}

// runtimeState is what the runtime holds for one pod.
type runtimeState struct {
	// sandbox is the pod's newest sandbox, nil if it has none.
	sandbox *runtimeapi.PodSandboxStatus
	// containers are all the pod's containers, in any sandbox.
	containers []*runtimeapi.ContainerStatus
	// containerSandbox maps a container id to its sandbox id.
	containerSandbox map[string]string
}

// latestContainers returns name's containers, newest attempt first.
func (s runtimeState) latestContainers(name string) []*runtimeapi.ContainerStatus {
	var out []*runtimeapi.ContainerStatus
	for _, c := range s.containers {
		if c.GetMetadata().GetName() == name {
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		ai, aj := out[i].GetMetadata().GetAttempt(), out[j].GetMetadata().GetAttempt()
		if ai != aj {
			return ai > aj
		}
		return out[i].CreatedAt > out[j].CreatedAt
	})
	return out
}

// sandboxIP returns the IP of the newest sandbox while it is ready.
func (s runtimeState) sandboxIP() string {
	if s.sandbox == nil || s.sandbox.State != runtimeapi.PodSandboxState_SANDBOX_READY || s.sandbox.Network == nil {
		return ""
	}
	return s.sandbox.Network.Ip
}

// statusInput is everything computePodStatus reads besides the pod.
type statusInput struct {
	state   runtimeState
	waiting map[string]waitingReason
	hostIP  string
	// runtimeName prefixes container ids ("containerd://...").
	runtimeName string
	now         time.Time
}

// computePodStatus returns the pod's status as the kubelet shapes it:
// phase, conditions (PodReadyToStartContainers, Initialized, Ready,
// ContainersReady, PodScheduled), container statuses, IPs and start time.
// Fields the agent does not own (qosClass, nominatedNodeName, resize...)
// are kept from the pod's current status, and condition transition times
// move only when a condition's status changes.
func computePodStatus(pod *corev1.Pod, in statusInput) corev1.PodStatus {
	old := pod.Status
	st := *old.DeepCopy()
	now := metav1.NewTime(in.now).Rfc3339Copy()

	st.HostIP = in.hostIP
	st.HostIPs = []corev1.HostIP{{IP: in.hostIP}}
	podIP := in.state.sandboxIP()
	if pod.Spec.HostNetwork && in.state.sandbox != nil {
		podIP = in.hostIP
	}
	if podIP != "" {
		st.PodIP = podIP
		st.PodIPs = []corev1.PodIP{{IP: podIP}}
	}
	// A pod keeps its IP in status after its sandbox is gone (as
	// upstream), so old.PodIP stays when there is no new one.
	if st.StartTime == nil {
		st.StartTime = &now
	}
	if st.QOSClass == "" {
		st.QOSClass = podQOSClass(pod)
	}
	if pod.Generation > 0 {
		st.ObservedGeneration = pod.Generation
	}

	statuses := make([]corev1.ContainerStatus, 0, len(pod.Spec.Containers))
	for i := range pod.Spec.Containers {
		statuses = append(statuses, containerStatus(&pod.Spec.Containers[i], in))
	}
	st.ContainerStatuses = statuses

	terminal := old.Phase == corev1.PodSucceeded || old.Phase == corev1.PodFailed
	if terminal {
		st.Phase = old.Phase
	} else {
		st.Phase = podPhase(pod, statuses)
	}
	if st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed {
		// A finished pod's containers are no longer ready, whatever the
		// runtime last said.
		for i := range st.ContainerStatuses {
			st.ContainerStatuses[i].Ready = false
		}
	}

	var notReady []string
	for _, cs := range st.ContainerStatuses {
		if !cs.Ready {
			notReady = append(notReady, cs.Name)
		}
	}
	sandboxReady := in.state.sandbox != nil && in.state.sandbox.State == runtimeapi.PodSandboxState_SANDBOX_READY
	conditions := []corev1.PodCondition{
		{Type: corev1.PodReadyToStartContainers, Status: conditionStatus(sandboxReady)},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue},
	}
	ready := corev1.PodCondition{Type: corev1.PodReady, Status: conditionStatus(len(notReady) == 0)}
	containersReady := corev1.PodCondition{Type: corev1.ContainersReady, Status: conditionStatus(len(notReady) == 0)}
	if len(notReady) > 0 {
		reason, msg := reasonContainersNotReady, fmt.Sprintf("containers with unready status: [%s]", strings.Join(notReady, " "))
		if st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed {
			reason, msg = reasonPodCompleted, ""
		}
		ready.Reason, ready.Message = reason, msg
		containersReady.Reason, containersReady.Message = reason, msg
	}
	conditions = append(conditions, ready, containersReady)
	scheduled := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}
	var others []corev1.PodCondition
	for _, c := range old.Conditions {
		switch c.Type {
		case corev1.PodScheduled:
			scheduled = c
		case corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady:
		default:
			// Conditions others own (readiness gates, DisruptionTarget).
			others = append(others, c)
		}
	}
	for i := range conditions {
		conditions[i].LastTransitionTime = now
		if pod.Generation > 0 {
			conditions[i].ObservedGeneration = pod.Generation
		}
		for _, c := range old.Conditions {
			if c.Type == conditions[i].Type && c.Status == conditions[i].Status {
				conditions[i].LastTransitionTime = c.LastTransitionTime
			}
		}
	}
	if scheduled.LastTransitionTime.IsZero() {
		scheduled.LastTransitionTime = now
	}
	conditions = append(conditions, scheduled)
	st.Conditions = append(conditions, others...)
	return st
}

func conditionStatus(b bool) corev1.ConditionStatus {
	if b {
		return corev1.ConditionTrue
	}
	return corev1.ConditionFalse
}

// containerStatus is one container's status from its newest runtime
// container (state) and the one before (lastState).
func containerStatus(c *corev1.Container, in statusInput) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, Started: ptr.To(false)}
	history := in.state.latestContainers(c.Name)
	waiting, hasWaiting := in.waiting[c.Name]
	if len(history) == 0 {
		if !hasWaiting {
			waiting = waitingReason{reason: reasonContainerCreating}
		}
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: waiting.reason, Message: waiting.message}
		return cs
	}
	latest := history[0]
	cs.RestartCount = int32(latest.GetMetadata().GetAttempt())
	if img := latest.GetImage().GetImage(); img != "" {
		cs.Image = img
	}
	cs.ImageID = latest.ImageRef
	cs.ContainerID = in.runtimeName + "://" + latest.Id
	var previous *runtimeapi.ContainerStatus
	if len(history) > 1 {
		previous = history[1]
	}
	switch latest.State {
	case runtimeapi.ContainerState_CONTAINER_RUNNING:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: nanoTime(latest.StartedAt)}
		cs.Ready = containerReady(c, latest)
		cs.Started = ptr.To(true)
		cs.LastTerminationState = terminatedState(previous, in.runtimeName)
	case runtimeapi.ContainerState_CONTAINER_EXITED:
		if hasWaiting {
			// About to restart (back-off, or a failed restart): the exit
			// becomes the last state.
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: waiting.reason, Message: waiting.message}
			cs.LastTerminationState = terminatedState(latest, in.runtimeName)
		} else {
			cs.State = terminatedState(latest, in.runtimeName)
			cs.LastTerminationState = terminatedState(previous, in.runtimeName)
		}
	default:
		// Created but not started, or unknown.
		if !hasWaiting {
			waiting = waitingReason{reason: reasonContainerCreating}
		}
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: waiting.reason, Message: waiting.message}
		cs.LastTerminationState = terminatedState(previous, in.runtimeName)
	}
	return cs
}

// containerReady is whether a running container counts as ready. Seam
// for readiness probes: with none, running is ready.
func containerReady(_ *corev1.Container, _ *runtimeapi.ContainerStatus) bool { return true }

// terminatedState is the terminated state of an exited container (empty
// for nil or a container that has not exited).
func terminatedState(c *runtimeapi.ContainerStatus, runtimeName string) corev1.ContainerState {
	if c == nil || c.State != runtimeapi.ContainerState_CONTAINER_EXITED {
		return corev1.ContainerState{}
	}
	reason := c.Reason
	if reason == "" {
		reason = "Completed"
		if c.ExitCode != 0 {
			reason = "Error"
		}
	}
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode:    c.ExitCode,
		Reason:      reason,
		Message:     exitMessage(c),
		StartedAt:   nanoTime(c.StartedAt),
		FinishedAt:  nanoTime(c.FinishedAt),
		ContainerID: runtimeName + "://" + c.Id,
	}}
}

// nanoTime converts a CRI timestamp to an API time at the second
// precision the API stores (so an unchanged status compares equal).
func nanoTime(ns int64) metav1.Time {
	if ns == 0 {
		return metav1.Time{}
	}
	return metav1.NewTime(time.Unix(0, ns)).Rfc3339Copy()
}

// podPhase derives the phase from the container statuses, as upstream's
// kubelet: any container waiting for its first start keeps the pod
// Pending; running containers make it Running; when all have stopped,
// the restart policy decides between Running (they will restart),
// Succeeded and Failed.
func podPhase(pod *corev1.Pod, statuses []corev1.ContainerStatus) corev1.PodPhase {
	var pending, running, stopped, succeeded int
	for _, cs := range statuses {
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.State.Waiting != nil:
			if cs.LastTerminationState.Terminated != nil {
				stopped++
				if cs.LastTerminationState.Terminated.ExitCode == 0 {
					succeeded++
				}
			} else {
				pending++
			}
		default:
			pending++
		}
	}
	switch {
	case pending > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0:
		switch pod.Spec.RestartPolicy {
		case corev1.RestartPolicyAlways:
			return corev1.PodRunning
		case corev1.RestartPolicyOnFailure:
			if stopped == succeeded {
				return corev1.PodSucceeded
			}
			return corev1.PodRunning
		default:
			if stopped == succeeded {
				return corev1.PodSucceeded
			}
			return corev1.PodFailed
		}
	}
	return corev1.PodPending
}

// podFinished reports whether no container of the pod will run again:
// every container has exited and the restart policy will not restart it.
func podFinished(pod *corev1.Pod, state runtimeState) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return true
	}
	if len(pod.Spec.Containers) == 0 {
		return false
	}
	for _, c := range pod.Spec.Containers {
		history := state.latestContainers(c.Name)
		if len(history) == 0 || history[0].State != runtimeapi.ContainerState_CONTAINER_EXITED {
			return false
		}
		if shouldRestart(pod.Spec.RestartPolicy, history[0].ExitCode) {
			return false
		}
	}
	return true
}

// shouldRestart applies the restart policy to an exit code.
func shouldRestart(policy corev1.RestartPolicy, exitCode int32) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	}
	return true
}
