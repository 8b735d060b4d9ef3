package agent

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/navarch/navarch/internal/agent/cri"
	"github.com/navarch/navarch/internal/agent/volume"
)

// The pod syncer's side of the volume manager (package volume): these
// are the only calls podsync.go makes into it. A syncer without a
// manager (some unit tests) mounts nothing.

// setUpVolumes sets the pod's volumes up before its sandbox exists. It
// returns false when the pod must wait for a volume (FailedMount was
// recorded; the pod is requeued after the volume's back-off), and asks
// for the periodic refresh of ConfigMap, Secret and downward API files.
func (s *podSyncer) setUpVolumes(ctx context.Context, pod *corev1.Pod, result *syncResult) (bool, error) {
	if s.volumes == nil {
		return true, nil
	}
	resync, err := s.volumes.SetUp(ctx, pod)
	var mountErr *volume.MountError
	if errors.As(err, &mountErr) {
		result.requeue(mountErr.RetryAfter)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if resync > 0 {
		result.requeue(resync)
	}
	return true, nil
}

// addContainerMounts adds container c's mounts to its CRI config. It
// returns false when the container cannot be created (a bad subPath: the
// container waits with CreateContainerConfigError, as upstream).
func (s *podSyncer) addContainerMounts(ctx context.Context, pod *corev1.Pod, c *corev1.Container, env []envVar, podIP string, cfg *runtimeapi.ContainerConfig, waiting map[string]waitingReason, result *syncResult) (bool, error) {
	if s.volumes == nil {
		return true, nil
	}
	vars := make(map[string]string, len(env))
	for _, v := range env {
		vars[v.name] = v.value
	}
	mounts, err := s.volumes.ContainerMounts(ctx, pod, c, vars, podIP)
	var cfgErr *volume.ConfigError
	if errors.As(err, &cfgErr) {
		s.event(containerRef(pod, c.Name), corev1.EventTypeWarning, eventFailed, "Error: %s", cfgErr.Message)
		waiting[c.Name] = waitingReason{reason: reasonCreateContainerConfigError, message: cfgErr.Message}
		result.requeue(retryInterval)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	cfg.Mounts = append(cfg.Mounts, mounts...)
	return true, nil
}

// tearDownVolumes removes the pod's volumes once its sandboxes are gone.
func (s *podSyncer) tearDownVolumes(ctx context.Context, uid types.UID) error {
	if s.volumes == nil {
		return nil
	}
	return s.volumes.TearDown(ctx, uid)
}

// cleanupOrphanVolumes removes, once at start, the volume directories of
// pods that are neither in the API (known) nor in the runtime.
func cleanupOrphanVolumes(ctx context.Context, rt cri.Runtime, volumes *volume.Manager, known func(types.UID) bool) {
	logger := klog.FromContext(ctx)
	sandboxes, err := rt.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{})
	if err != nil {
		logger.Error(err, "listing sandboxes; orphaned pod volumes are left for the next start")
		return
	}
	inRuntime := map[types.UID]bool{}
	for _, sb := range sandboxes {
		inRuntime[types.UID(sb.GetMetadata().GetUid())] = true
		if uid := sb.Labels[cri.LabelPodUID]; uid != "" {
			inRuntime[types.UID(uid)] = true
		}
	}
	removed, err := volumes.CleanupOrphans(ctx, func(uid types.UID) bool { return inRuntime[uid] || known(uid) })
	if len(removed) > 0 {
		logger.Info("removed the volumes of pods that no longer exist", "pods", removed)
	}
	if err != nil {
		logger.Error(err, "removing orphaned pod volumes")
	}
}
