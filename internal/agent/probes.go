package agent

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/navarch/navarch/internal/agent/prober"
)

// probeManager is the prober the pod sync drives (*prober.Manager).
type probeManager interface {
	UpdatePod(pod *corev1.Pod, podIP string, containers []prober.Container)
	RemovePod(uid types.UID)
	Result(uid types.UID, containerID string, typ prober.Type) (prober.Result, bool)
}

var _ probeManager = (*prober.Manager)(nil)

// updateProbes tells the prober which container runs under each name of
// pod after a sync, and whether status (the one the sync wrote) counts
// it as started, so its probe workers follow restarts. Pods without
// probes are skipped.
func (s *podSyncer) updateProbes(pod *corev1.Pod, state runtimeState, status *corev1.PodStatus) {
	if !hasProbes(pod) {
		return
	}
	started := map[string]bool{}
	for _, list := range [][]corev1.ContainerStatus{status.InitContainerStatuses, status.ContainerStatuses} {
		for _, cs := range list {
			started[cs.ContainerID] = cs.Started != nil && *cs.Started
		}
	}
	var containers []prober.Container
	add := func(name string) {
		history := state.latestContainers(name)
		if len(history) == 0 {
			return
		}
		latest := history[0]
		containers = append(containers, prober.Container{
			Name: name, ID: latest.Id, Running: latest.State == runtimeapi.ContainerState_CONTAINER_RUNNING,
			StartedAt: time.Unix(0, latest.StartedAt), Started: started[s.runtimeName+"://"+latest.Id],
		})
	}
	for _, c := range pod.Spec.InitContainers {
		add(c.Name)
	}
	for _, c := range pod.Spec.Containers {
		add(c.Name)
	}
	s.probes.UpdatePod(pod, status.PodIP, containers)
}

func hasProbes(pod *corev1.Pod) bool {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			if c.LivenessProbe != nil || c.ReadinessProbe != nil || c.StartupProbe != nil {
				return true
			}
		}
	}
	return false
}

// failedProbe names the probe ("liveness" or "startup") that running
// container id of c has failed, "" if none.
func (s *podSyncer) failedProbe(pod *corev1.Pod, c *corev1.Container, id string) string {
	if c.LivenessProbe != nil {
		if r, ok := s.probes.Result(pod.UID, id, prober.Liveness); ok && r == prober.Failure {
			return "liveness"
		}
	}
	if c.StartupProbe != nil {
		if r, ok := s.probes.Result(pod.UID, id, prober.Startup); ok && r == prober.Failure {
			return "startup"
		}
	}
	return ""
}

// started reports whether running container id of c has started: it
// has no startup probe or passed it.
func (s *podSyncer) started(pod *corev1.Pod, c *corev1.Container, id string) bool {
	started, _ := runningHealth(pod, c, false, s.runtimeName+"://"+id, id, s.probes)
	return started
}

// probeGracePeriod is the grace period of a container killed for
// failing probe ("liveness" or "startup"): the probe's own
// terminationGracePeriodSeconds when set, else the pod's.
func probeGracePeriod(pod *corev1.Pod, c *corev1.Container, probe string) int64 {
	p := c.LivenessProbe
	if probe == "startup" {
		p = c.StartupProbe
	}
	if p != nil && p.TerminationGracePeriodSeconds != nil {
		return max(*p.TerminationGracePeriodSeconds, minimumGracePeriod)
	}
	return gracePeriod(pod)
}
