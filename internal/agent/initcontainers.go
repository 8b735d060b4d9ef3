package agent

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// runInitContainers runs the pod's init containers in spec order, as the
// kubelet does, and reports whether the pod is initialized (the app
// containers may start). A regular init container runs to completion
// before the next one starts; when it fails it is restarted after the
// back-off, or, under restartPolicy Never, fails the pod. A sidecar (an
// init container with restartPolicy Always) must have started (passed
// its startup probe, if any) before the next one starts, and is then
// kept running, restarted whenever it exits. Once an app container
// exists in the current sandbox the pod counts as initialized and only
// the sidecars are looked after.
//
// Each call moves at most one init container along; the relist wakes
// the pod when that container runs or exits.
func (s *podSyncer) runInitContainers(ctx context.Context, run *podRun) (bool, error) {
	pod := run.pod
	initialized := run.appContainerCreated()
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if initialized && !isSidecar(c) {
			continue
		}
		done, err := s.syncInitContainer(ctx, run, c)
		if err != nil {
			return false, err
		}
		if !done && !initialized {
			return false, nil
		}
	}
	return true, nil
}

// syncInitContainer moves init container c along and reports whether it
// has done its part of the initialization: a regular one exited 0 in the
// current sandbox, a sidecar runs and has started.
func (s *podSyncer) syncInitContainer(ctx context.Context, run *podRun, c *corev1.Container) (bool, error) {
	pod := run.pod
	history := run.state.latestContainers(c.Name)
	var latest *runtimeapi.ContainerStatus
	if len(history) > 0 && run.state.containerSandbox[history[0].Id] == run.sandboxID {
		latest = history[0]
	}
	switch {
	case latest == nil:
		// Never run in this sandbox (a new sandbox runs them all again).
		attempt := uint32(0)
		if len(history) > 0 {
			attempt = history[0].GetMetadata().GetAttempt() + 1
		}
		_, err := s.startContainer(ctx, run, c, attempt)
		return false, err
	case latest.State == runtimeapi.ContainerState_CONTAINER_CREATED:
		s.startCreated(ctx, run, c, latest.Id)
		return false, nil
	case latest.State == runtimeapi.ContainerState_CONTAINER_RUNNING:
		if !isSidecar(c) {
			return false, nil
		}
		if probe := s.failedProbe(pod, c, latest.Id); probe != "" {
			if err := s.killContainer(ctx, pod, c, latest.Id, probeGracePeriod(pod, c, probe), fmt.Sprintf("Init container %s failed %s probe", c.Name, probe)); err != nil {
				return false, err
			}
			_, err := s.startContainer(ctx, run, c, latest.GetMetadata().GetAttempt()+1)
			return false, err
		}
		return s.started(pod, c, latest.Id), nil
	case latest.State == runtimeapi.ContainerState_CONTAINER_EXITED:
		if !isSidecar(c) {
			if latest.ExitCode == 0 {
				return true, nil
			}
			if pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
				// The pod has failed (its phase says so).
				return false, nil
			}
		}
		return false, s.restartContainer(ctx, run, c, latest)
	}
	return false, nil
}

// appContainerCreated reports whether an app container exists in the
// run's sandbox (so the init containers have done their work there).
func (r *podRun) appContainerCreated() bool {
	for _, c := range r.pod.Spec.Containers {
		for _, rc := range r.state.latestContainers(c.Name) {
			if r.state.containerSandbox[rc.Id] == r.sandboxID {
				return true
			}
		}
	}
	return false
}
