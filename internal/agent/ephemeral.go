package agent

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// syncEphemeralContainers starts the pod's ephemeral containers (the
// debugging containers `kubectl debug` adds through
// pods/ephemeralcontainers) that have not run yet. As the kubelet, it
// starts them whether or not the pod is initialized, runs each at most
// once (never restarted, whatever the restart policy), and gives one
// with a targetContainerName that container's process namespace once it
// runs.
func (s *podSyncer) syncEphemeralContainers(ctx context.Context, run *podRun) error {
	for i := range run.pod.Spec.EphemeralContainers {
		c := (*corev1.Container)(&run.pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
		history := run.state.latestContainers(c.Name)
		if len(history) == 0 {
			if _, err := s.startContainer(ctx, run, c, 0); err != nil {
				return err
			}
			continue
		}
		latest := history[0]
		if latest.State == runtimeapi.ContainerState_CONTAINER_CREATED && run.state.containerSandbox[latest.Id] == run.sandboxID {
			s.startCreated(ctx, run, c, latest.Id)
		}
	}
	return nil
}

// ephemeralTarget returns the targetContainerName of pod's ephemeral
// container name, "" when name is not an ephemeral container or targets
// none.
func ephemeralTarget(pod *corev1.Pod, name string) string {
	for i := range pod.Spec.EphemeralContainers {
		if ec := &pod.Spec.EphemeralContainers[i]; ec.Name == name {
			return ec.TargetContainerName
		}
	}
	return ""
}

// runningIn returns the id of container name's newest run if it is
// running in sandbox sandboxID.
func (s runtimeState) runningIn(name, sandboxID string) (string, bool) {
	history := s.latestContainers(name)
	if len(history) == 0 || history[0].State != runtimeapi.ContainerState_CONTAINER_RUNNING || s.containerSandbox[history[0].Id] != sandboxID {
		return "", false
	}
	return history[0].Id, true
}

// ephemeralContainerStatuses are the statuses of pod's ephemeral
// containers as the kubelet reports them: state and ids as any
// container's, but never ready and without a started field, since no
// probe runs for them.
func ephemeralContainerStatuses(pod *corev1.Pod, in statusInput) []corev1.ContainerStatus {
	var out []corev1.ContainerStatus
	for i := range pod.Spec.EphemeralContainers {
		c := (*corev1.Container)(&pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
		cs := containerStatus(pod, c, false, in)
		cs.Ready, cs.Started = false, nil
		out = append(out, cs)
	}
	return out
}
