package agent

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/agent/prober"
)

// Waiting reasons, as the kubelet reports them.
const (
	reasonContainerCreating          = "ContainerCreating"
	reasonPodInitializing            = "PodInitializing"
	reasonCrashLoopBackOff           = "CrashLoopBackOff"
	reasonErrImagePull               = "ErrImagePull"
	reasonImagePullBackOff           = "ImagePullBackOff"
	reasonErrImageNeverPull          = "ErrImageNeverPull"
	reasonCreateContainerConfigError = "CreateContainerConfigError"
	reasonCreateContainerError       = "CreateContainerError"
	reasonRunContainerError          = "RunContainerError"
	reasonPostStartHookError         = "PostStartHookError"
)

// Condition reasons, as the kubelet gives them.
const (
	// reasonContainersNotReady is the reason of a False Ready or
	// ContainersReady condition; reasonPodCompleted and reasonPodFailed
	// replace it once the pod has finished.
	reasonContainersNotReady       = "ContainersNotReady"
	reasonPodCompleted             = "PodCompleted"
	reasonPodFailed                = "PodFailed"
	reasonContainersNotInitialized = "ContainersNotInitialized"
	reasonReadinessGatesNotReady   = "ReadinessGatesNotReady"
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
	// probes holds the probe results; nil means none yet.
	probes probeResults
	// finished: no container of the pod will run again (podFinished),
	// so the phase is final whatever the restart policy says.
	finished bool
}

// probeResults is what the status reads from the prober
// (*prober.Manager).
type probeResults interface {
	Result(uid types.UID, containerID string, typ prober.Type) (prober.Result, bool)
}

// computePodStatus returns the pod's status as the kubelet shapes it:
// phase, conditions (PodReadyToStartContainers, Initialized, Ready,
// ContainersReady, PodScheduled), init and app container statuses, IPs
// and start time. Fields the agent does not own (qosClass,
// nominatedNodeName, resize...) are kept from the pod's current status,
// and condition transition times move only when a condition's status
// changes.
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

	st.InitContainerStatuses = nil
	for i := range pod.Spec.InitContainers {
		st.InitContainerStatuses = append(st.InitContainerStatuses, containerStatus(pod, &pod.Spec.InitContainers[i], true, in))
	}
	statuses := make([]corev1.ContainerStatus, 0, len(pod.Spec.Containers))
	for i := range pod.Spec.Containers {
		statuses = append(statuses, containerStatus(pod, &pod.Spec.Containers[i], false, in))
	}
	st.ContainerStatuses = statuses
	st.EphemeralContainerStatuses = ephemeralContainerStatuses(pod, in)

	terminal := old.Phase == corev1.PodSucceeded || old.Phase == corev1.PodFailed
	if terminal {
		st.Phase = old.Phase
	} else {
		st.Phase = podPhase(pod, st.InitContainerStatuses, statuses, in.finished)
	}
	if st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed {
		// A finished pod's containers are no longer ready, whatever the
		// runtime last said.
		for i := range st.ContainerStatuses {
			st.ContainerStatuses[i].Ready = false
		}
		for i := range st.InitContainerStatuses {
			if isSidecar(&pod.Spec.InitContainers[i]) {
				st.InitContainerStatuses[i].Ready = false
			}
		}
	}

	sandboxReady := in.state.sandbox != nil && in.state.sandbox.State == runtimeapi.PodSandboxState_SANDBOX_READY
	containersReady := containersReadyCondition(pod, &st)
	conditions := []corev1.PodCondition{
		{Type: corev1.PodReadyToStartContainers, Status: conditionStatus(sandboxReady)},
		initializedCondition(pod, &st),
		readyCondition(pod, containersReady, old.Conditions),
		containersReady,
	}
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

// containersReadyCondition is True when every app container and every
// sidecar is ready, as the kubelet's.
func containersReadyCondition(pod *corev1.Pod, st *corev1.PodStatus) corev1.PodCondition {
	cond := corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionTrue}
	switch st.Phase {
	case corev1.PodSucceeded:
		cond.Status, cond.Reason = corev1.ConditionFalse, reasonPodCompleted
		return cond
	case corev1.PodFailed:
		cond.Status, cond.Reason = corev1.ConditionFalse, reasonPodFailed
		return cond
	}
	var notReady []string
	for i, cs := range st.InitContainerStatuses {
		if isSidecar(&pod.Spec.InitContainers[i]) && !cs.Ready {
			notReady = append(notReady, cs.Name)
		}
	}
	for _, cs := range st.ContainerStatuses {
		if !cs.Ready {
			notReady = append(notReady, cs.Name)
		}
	}
	if len(notReady) > 0 {
		cond.Status, cond.Reason = corev1.ConditionFalse, reasonContainersNotReady
		cond.Message = fmt.Sprintf("containers with unready status: [%s]", strings.Join(notReady, " "))
	}
	return cond
}

// readyCondition is ContainersReady, further held False by readiness
// gates whose conditions are not True, as the kubelet's.
func readyCondition(pod *corev1.Pod, containersReady corev1.PodCondition, conditions []corev1.PodCondition) corev1.PodCondition {
	cond := containersReady
	cond.Type = corev1.PodReady
	if cond.Status != corev1.ConditionTrue {
		return cond
	}
	var unready []string
	for _, gate := range pod.Spec.ReadinessGates {
		var found *corev1.PodCondition
		for i := range conditions {
			if conditions[i].Type == gate.ConditionType {
				found = &conditions[i]
			}
		}
		switch {
		case found == nil:
			unready = append(unready, fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", gate.ConditionType))
		case found.Status != corev1.ConditionTrue:
			unready = append(unready, fmt.Sprintf("the status of pod readiness gate %q is not \"True\", but %v", gate.ConditionType, found.Status))
		}
	}
	if len(unready) > 0 {
		cond.Status, cond.Reason, cond.Message = corev1.ConditionFalse, reasonReadinessGatesNotReady, strings.Join(unready, ", ")
	}
	return cond
}

// initializedCondition is True once every init container has succeeded
// (a sidecar: started), or an app container has run, as the kubelet's.
func initializedCondition(pod *corev1.Pod, st *corev1.PodStatus) corev1.PodCondition {
	cond := corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}
	if len(pod.Spec.InitContainers) == 0 {
		return cond
	}
	if st.Phase == corev1.PodSucceeded {
		cond.Reason = reasonPodCompleted
		return cond
	}
	for _, cs := range st.ContainerStatuses {
		if cs.State.Running != nil || cs.State.Terminated != nil {
			return cond
		}
	}
	var incomplete []string
	for i, cs := range st.InitContainerStatuses {
		c := &pod.Spec.InitContainers[i]
		if isSidecar(c) && (cs.Started == nil || !*cs.Started) || !isSidecar(c) && !cs.Ready {
			incomplete = append(incomplete, c.Name)
		}
	}
	if len(incomplete) > 0 {
		cond.Status, cond.Reason = corev1.ConditionFalse, reasonContainersNotInitialized
		cond.Message = fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(incomplete, " "))
	}
	return cond
}

func conditionStatus(b bool) corev1.ConditionStatus {
	if b {
		return corev1.ConditionTrue
	}
	return corev1.ConditionFalse
}

// containerStatus is one container's status from its newest runtime
// container (state) and the one before (lastState). init says c is an
// init container.
func containerStatus(pod *corev1.Pod, c *corev1.Container, init bool, in statusInput) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, Started: ptr.To(false)}
	history := in.state.latestContainers(c.Name)
	waiting, hasWaiting := in.waiting[c.Name]
	if !hasWaiting {
		waiting = waitingReason{reason: reasonContainerCreating}
		if len(pod.Spec.InitContainers) > 0 {
			waiting.reason = reasonPodInitializing
		}
	}
	if len(history) == 0 {
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
		started, ready := runningHealth(pod, c, init, cs.ContainerID, latest.Id, in.probes)
		cs.Started, cs.Ready = ptr.To(started), ready
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
			// A regular init container is ready once it has succeeded.
			cs.Ready = init && !isSidecar(c) && latest.ExitCode == 0
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

// runningHealth says whether a running container has started and is
// ready, as the kubelet's prober manager: started once its startup probe
// (if any) passed; ready once started and its readiness probe (if any)
// passed. A regular init container is started but never ready while it
// runs. Before a probe has concluded for this container, a started or
// ready status the pod already shows for the same container stands (a
// restarted agent keeps a ready pod ready until the probe says
// otherwise).
func runningHealth(pod *corev1.Pod, c *corev1.Container, init bool, statusID, runtimeID string, probes probeResults) (started, ready bool) {
	if init && !isSidecar(c) {
		return true, false
	}
	previous := previousStatus(pod, c.Name, statusID)
	result := func(typ prober.Type) (prober.Result, bool) {
		if probes == nil {
			return prober.Unknown, false
		}
		return probes.Result(pod.UID, runtimeID, typ)
	}
	started = true
	if c.StartupProbe != nil {
		r, ok := result(prober.Startup)
		started = r == prober.Success || !ok && previous != nil && previous.Started != nil && *previous.Started
	}
	if !started {
		return false, false
	}
	if c.ReadinessProbe == nil {
		return true, true
	}
	r, ok := result(prober.Readiness)
	if ok {
		return true, r == prober.Success
	}
	return true, previous != nil && previous.Ready
}

// previousStatus returns the pod's current status of container name if
// it is about the container statusID, nil otherwise.
func previousStatus(pod *corev1.Pod, name, statusID string) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses} {
		for i := range list {
			if list[i].Name == name && list[i].ContainerID == statusID {
				return &list[i]
			}
		}
	}
	return nil
}

// isSidecar reports whether init container c is a sidecar: restarted
// whenever it exits, and running alongside the app containers.
func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

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

// podPhase derives the phase from the container statuses, as
// upstream's kubelet: an init container that failed under restartPolicy
// Never fails the pod; an unfinished initialization or a container
// waiting for its first start keeps it Pending; running containers make
// it Running; when all have stopped, the restart policy (or finished,
// when nothing will run again) decides between Running, Succeeded and
// Failed.
func podPhase(pod *corev1.Pod, initStatuses, statuses []corev1.ContainerStatus, finished bool) corev1.PodPhase {
	find := func(list []corev1.ContainerStatus, name string) (corev1.ContainerStatus, bool) {
		for _, cs := range list {
			if cs.Name == name {
				return cs, true
			}
		}
		return corev1.ContainerStatus{}, false
	}
	var pendingInit, failedInit int
	var unknown, running, waiting, stopped, succeeded int
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cs, ok := find(initStatuses, c.Name)
		if isSidecar(c) {
			switch {
			case !ok:
				unknown++
			case cs.State.Running != nil:
				if cs.Started == nil || !*cs.Started {
					pendingInit++
				}
				running++
			case cs.State.Terminated != nil:
			case cs.State.Waiting != nil && cs.LastTerminationState.Terminated != nil:
			default:
				pendingInit++
				waiting++
			}
			continue
		}
		switch {
		case !ok || cs.State.Running != nil:
			pendingInit++
		case cs.State.Terminated != nil:
			if cs.State.Terminated.ExitCode != 0 {
				failedInit++
			}
		case cs.State.Waiting != nil && cs.LastTerminationState.Terminated != nil:
			if cs.LastTerminationState.Terminated.ExitCode != 0 {
				failedInit++
			}
		default:
			pendingInit++
		}
	}
	anyStarted := false
	for _, c := range pod.Spec.Containers {
		cs, ok := find(statuses, c.Name)
		switch {
		case !ok:
			unknown++
		case cs.State.Running != nil:
			running++
			anyStarted = true
		case cs.State.Terminated != nil:
			stopped++
			anyStarted = true
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.State.Waiting != nil && cs.LastTerminationState.Terminated != nil:
			stopped++
		case cs.State.Waiting != nil:
			waiting++
		default:
			unknown++
		}
	}
	if failedInit > 0 && pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
		return corev1.PodFailed
	}
	switch {
	case pendingInit > 0 && !anyStarted, waiting > 0:
		return corev1.PodPending
	case running > 0 && unknown == 0:
		return corev1.PodRunning
	case running == 0 && stopped > 0 && unknown == 0:
		if finished {
			if stopped == succeeded {
				return corev1.PodSucceeded
			}
			return corev1.PodFailed
		}
		switch pod.Spec.RestartPolicy {
		case corev1.RestartPolicyAlways:
			return corev1.PodRunning
		case corev1.RestartPolicyNever:
			if stopped == succeeded {
				return corev1.PodSucceeded
			}
			return corev1.PodFailed
		}
		if stopped == succeeded {
			return corev1.PodSucceeded
		}
		return corev1.PodRunning
	}
	return corev1.PodPending
}

// podFinished reports whether no container of the pod will run again:
// an init container failed under restartPolicy Never, or every app
// container has exited and the restart policy will not restart it
// (sidecars do not count: they are stopped once the app is done).
func podFinished(pod *corev1.Pod, state runtimeState) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return true
	}
	if pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
		for i := range pod.Spec.InitContainers {
			c := &pod.Spec.InitContainers[i]
			history := state.latestContainers(c.Name)
			if !isSidecar(c) && len(history) > 0 && history[0].State == runtimeapi.ContainerState_CONTAINER_EXITED && history[0].ExitCode != 0 {
				return true
			}
		}
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
