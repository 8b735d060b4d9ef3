package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/agent/cri"
	"github.com/navarch/navarch/internal/agent/prober"
	"github.com/navarch/navarch/internal/agent/volume"
)

// annotationImage records the spec image a container was made from, so
// a changed image (the one spec field a pod update may change) restarts
// the container.
const annotationImage = "io.navarch.container.image"

// retryInterval is how soon a sync that could not proceed (runtime
// error, missing ConfigMap, image never pulled) is retried.
const retryInterval = 10 * time.Second

// minimumGracePeriod bounds how fast a container is killed, as the
// kubelet's: even a zero grace period gives SIGTERM 2 s.
const minimumGracePeriod = 2

// Event reasons (the kubelet's).
const (
	eventPulling        = "Pulling"
	eventPulled         = "Pulled"
	eventCreated        = "Created"
	eventStarted        = "Started"
	eventKilling        = "Killing"
	eventBackOff        = "BackOff"
	eventFailed         = "Failed"
	eventSandboxChanged = "SandboxChanged"
	eventFailedSandbox  = "FailedCreatePodSandBox"

	eventFailedPostStartHook = "FailedPostStartHook"
	eventFailedPreStopHook   = "FailedPreStopHook"
)

// podSyncer runs pods on the runtime: syncPod brings one pod's runtime
// state toward its spec and reports its status. Calls for different pods
// may run concurrently; calls for one pod must not (the pod workers
// serialize them).
type podSyncer struct {
	runtime  cri.Runtime
	client   kubernetes.Interface
	recorder record.EventRecorder
	clock    clock.Clock
	backoff  *backoff
	objects  objectSource
	// volumes sets up the pods' volumes (nil: pods get none).
	volumes *volume.Manager
	// probes runs the containers' probes and holds their results.
	probes probeManager

	nodeName string
	hostIP   string
	// runtimeName prefixes container ids in status ("containerd").
	runtimeName string
	// logRoot is the root of the pods' log directories.
	logRoot string
	// seccompRoot holds the Localhost seccomp profiles pods name.
	seccompRoot    string
	dns            dnsSettings
	allocatable    corev1.ResourceList
	memoryCapacity int64

	mu sync.Mutex
	// waiting holds, per pod, the waiting reasons of its last sync and
	// the last image-pull error per container (for ImagePullBackOff's
	// message). Guarded by mu.
	waiting map[types.UID]map[string]waitingReason
	pullErr map[types.UID]map[string]string
	// written holds, per pod, the pod as the API returned it after the
	// agent's last status write (see latestPod). Guarded by mu.
	written map[types.UID]statusWrite
}

// init fills the syncer's maps and defaults; call it once on a syncer
// whose dependencies are set.
func (s *podSyncer) init() *podSyncer {
	s.waiting = map[types.UID]map[string]waitingReason{}
	s.pullErr = map[types.UID]map[string]string{}
	s.written = map[types.UID]statusWrite{}
	if s.backoff == nil {
		s.backoff = newBackoff()
	}
	if s.clock == nil {
		s.clock = clock.RealClock{}
	}
	if s.probes == nil {
		s.probes = prober.NewManager(context.Background(), prober.Config{Runner: s.runtime, Recorder: s.recorder, Clock: s.clock})
	}
	return s
}

// syncResult tells the pod's worker what to do next.
type syncResult struct {
	// requeueAfter asks for another sync after this long (0: only when
	// something changes).
	requeueAfter time.Duration
}

func (r *syncResult) requeue(after time.Duration) {
	if after <= 0 {
		after = time.Second
	}
	if r.requeueAfter == 0 || after < r.requeueAfter {
		r.requeueAfter = after
	}
}

// syncPod makes the runtime run pod as its spec says and writes the
// pod's status. For a pod being deleted it kills the pod and deletes the
// pod object. Errors are transient (API or runtime); the caller retries.
func (s *podSyncer) syncPod(ctx context.Context, pod *corev1.Pod) (syncResult, error) {
	pod = s.latestPod(pod)
	if pod.DeletionTimestamp != nil {
		return syncResult{}, s.terminatePod(ctx, pod)
	}
	var result syncResult
	state, err := s.runtimeState(ctx, pod.UID)
	if err != nil {
		return result, err
	}
	waiting := map[string]waitingReason{}
	finished := podFinished(pod, state)
	// A pod that ran past spec.activeDeadlineSeconds fails: the kubelet
	// kills its containers and reports why.
	deadlineExceeded, _ := activeDeadline(pod.Spec.ActiveDeadlineSeconds, pod.Status.StartTime, s.clock.Now())
	failForDeadline := deadlineExceeded && !finished
	if failForDeadline {
		s.event(pod, corev1.EventTypeNormal, reasonDeadlineExceeded, messageDeadlineExceeded)
		finished = true
	}
	if !finished {
		state, err = s.runContainers(ctx, pod, state, waiting, &result)
		if err != nil {
			return result, err
		}
	} else if state, err = s.stopRunning(ctx, pod, state); err != nil {
		return result, err
	}
	s.setWaiting(pod.UID, waiting)
	status := computePodStatus(pod, statusInput{state: state, waiting: waiting, hostIP: s.hostIP, runtimeName: s.runtimeName,
		now: s.clock.Now(), probes: s.probes, finished: finished})
	if failForDeadline {
		status.Phase, status.Reason, status.Message = corev1.PodFailed, reasonDeadlineExceeded, messageDeadlineExceeded
	} else if _, left := activeDeadline(pod.Spec.ActiveDeadlineSeconds, status.StartTime, s.clock.Now()); left > 0 && !finished {
		// Wake the pod when its deadline comes (its start time may be the
		// one this sync just set).
		result.requeue(left)
	}
	if err := s.writeStatus(ctx, pod, status); err != nil {
		return result, err
	}
	if status.Phase == corev1.PodSucceeded || status.Phase == corev1.PodFailed {
		s.probes.RemovePod(pod.UID)
		// A finished pod gives its IP back; its containers stay for logs
		// until the pod is deleted.
		if sb := state.sandbox; sb != nil && sb.State == runtimeapi.PodSandboxState_SANDBOX_READY {
			if err := s.runtime.StopPodSandbox(ctx, sb.Id); err != nil {
				return result, err
			}
		}
	} else {
		s.updateProbes(pod, state, &status)
	}
	s.pruneContainers(ctx, state)
	return result, nil
}

// runContainers ensures a ready sandbox, runs the init containers in
// order and then starts every app container that should run, recording
// why others wait. It returns the runtime state after its changes.
func (s *podSyncer) runContainers(ctx context.Context, pod *corev1.Pod, state runtimeState, waiting map[string]waitingReason, result *syncResult) (runtimeState, error) {
	// Volumes first: no sandbox until every volume is ready.
	if ok, err := s.setUpVolumes(ctx, pod, result); err != nil || !ok {
		return state, err
	}
	sandboxCfg, sandboxID, ok, err := s.ensureSandbox(ctx, pod, &state, result)
	if err != nil || !ok {
		return state, err
	}
	run := &podRun{pod: pod, sandboxID: sandboxID, sandboxCfg: sandboxCfg, state: state, waiting: waiting, result: result}
	initialized, err := s.runInitContainers(ctx, run)
	if err != nil {
		return state, err
	}
	if err := s.syncEphemeralContainers(ctx, run); err != nil {
		return state, err
	}
	if initialized {
		for i := range pod.Spec.Containers {
			if err := s.syncContainer(ctx, run, &pod.Spec.Containers[i]); err != nil {
				return state, err
			}
		}
	}
	return s.runtimeState(ctx, pod.UID)
}

// podRun is what one sync of a pod that should run works with: the
// pod's ready sandbox, the runtime state read before the sync's changes,
// and what the sync reports.
type podRun struct {
	pod        *corev1.Pod
	sandboxID  string
	sandboxCfg *runtimeapi.PodSandboxConfig
	state      runtimeState
	waiting    map[string]waitingReason
	result     *syncResult
}

// syncContainer brings app container c toward running: it starts it if
// it never ran, restarts it (after the back-off) when it exited and the
// restart policy says so, and kills and restarts it when its image
// changed or it failed its liveness or startup probe.
func (s *podSyncer) syncContainer(ctx context.Context, run *podRun, c *corev1.Container) error {
	pod, sandboxID := run.pod, run.sandboxID
	history := run.state.latestContainers(c.Name)
	if len(history) == 0 {
		_, err := s.startContainer(ctx, run, c, 0)
		return err
	}
	latest := history[0]
	current := run.state.containerSandbox[latest.Id] == sandboxID
	if current && latest.Annotations[annotationImage] != "" && latest.Annotations[annotationImage] != c.Image &&
		latest.State != runtimeapi.ContainerState_CONTAINER_EXITED {
		// The image changed: the kubelet kills and recreates.
		if err := s.killContainer(ctx, pod, c, latest.Id, gracePeriod(pod), fmt.Sprintf("Container %s definition changed, will be restarted", c.Name)); err != nil {
			return err
		}
		_, err := s.startContainer(ctx, run, c, latest.GetMetadata().GetAttempt()+1)
		return err
	}
	switch {
	case current && latest.State == runtimeapi.ContainerState_CONTAINER_RUNNING:
		probe := s.failedProbe(pod, c, latest.Id)
		if probe == "" {
			return nil
		}
		// It failed its liveness or startup probe: the kubelet kills it
		// and, unless the policy is Never, starts a new one at once.
		restart := pod.Spec.RestartPolicy != corev1.RestartPolicyNever
		msg := fmt.Sprintf("Container %s failed %s probe", c.Name, probe)
		if restart {
			msg += ", will be restarted"
		}
		if err := s.killContainer(ctx, pod, c, latest.Id, probeGracePeriod(pod, c, probe), msg); err != nil {
			return err
		}
		if !restart {
			return nil
		}
		_, err := s.startContainer(ctx, run, c, latest.GetMetadata().GetAttempt()+1)
		return err
	case current && latest.State == runtimeapi.ContainerState_CONTAINER_CREATED:
		// Created by a sync that did not get to start it.
		s.startCreated(ctx, run, c, latest.Id)
		return nil
	case current && latest.State == runtimeapi.ContainerState_CONTAINER_EXITED && !shouldRestart(pod.Spec.RestartPolicy, latest.ExitCode):
		return nil
	case !current && latest.State == runtimeapi.ContainerState_CONTAINER_EXITED && !shouldRestart(pod.Spec.RestartPolicy, latest.ExitCode) &&
		pod.Spec.RestartPolicy != corev1.RestartPolicyAlways:
		// It finished in an earlier sandbox; a new sandbox does not
		// run it again.
		return nil
	}
	// It exited (or its sandbox is gone): restart, unless the back-off
	// says wait.
	return s.restartContainer(ctx, run, c, latest)
}

// startCreated starts a container a previous sync created but did not
// get to start; a failure is recorded for the status and retried.
func (s *podSyncer) startCreated(ctx context.Context, run *podRun, c *corev1.Container, id string) {
	if err := s.runtime.StartContainer(ctx, id); err != nil {
		s.event(containerRef(run.pod, c.Name), corev1.EventTypeWarning, eventFailed, "Error: %v", err)
		run.waiting[c.Name] = waitingReason{reason: reasonRunContainerError, message: err.Error()}
		run.result.requeue(retryInterval)
		return
	}
	s.event(containerRef(run.pod, c.Name), corev1.EventTypeNormal, eventStarted, "Container started")
}

// restartContainer starts a new attempt of container c, whose newest run
// (latest) has exited, unless c's restart back-off says to wait: then c
// waits in CrashLoopBackOff and the pod is requeued for when the
// back-off ends.
func (s *podSyncer) restartContainer(ctx context.Context, run *podRun, c *corev1.Container, latest *runtimeapi.ContainerStatus) error {
	pod := run.pod
	now := s.clock.Now()
	key := backoffKey(pod.UID, c.Name)
	finished := time.Unix(0, latest.FinishedAt)
	if latest.FinishedAt == 0 {
		finished = now
	}
	if until := s.backoff.waitUntil(key, finished); now.Before(until) {
		delay := s.backoff.current(key)
		run.waiting[c.Name] = waitingReason{
			reason:  reasonCrashLoopBackOff,
			message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", delay, c.Name, pod.Name, pod.Namespace, pod.UID),
		}
		s.event(containerRef(pod, c.Name), corev1.EventTypeWarning, eventBackOff, "Back-off restarting failed container %s in pod %s_%s(%s)", c.Name, pod.Name, pod.Namespace, pod.UID)
		run.result.requeue(until.Sub(now))
		return nil
	}
	s.backoff.failed(key, finished)
	_, err := s.startContainer(ctx, run, c, latest.GetMetadata().GetAttempt()+1)
	return err
}

// ensureSandbox returns the pod's ready sandbox, creating one (and
// stopping a dead one) if needed. ok is false when there is none yet
// (the failure is reported as an event and retried).
func (s *podSyncer) ensureSandbox(ctx context.Context, pod *corev1.Pod, state *runtimeState, result *syncResult) (*runtimeapi.PodSandboxConfig, string, bool, error) {
	if sb := state.sandbox; sb != nil && sb.State == runtimeapi.PodSandboxState_SANDBOX_READY {
		return sandboxConfig(pod, sb.GetMetadata().GetAttempt(), s.logRoot, s.dns), sb.Id, true, nil
	}
	attempt := uint32(0)
	if sb := state.sandbox; sb != nil {
		s.event(pod, corev1.EventTypeNormal, eventSandboxChanged, "Pod sandbox changed, it will be killed and re-created.")
		if err := s.stopSandboxes(ctx, pod.UID, gracePeriod(pod), nil); err != nil {
			return nil, "", false, err
		}
		attempt = sb.GetMetadata().GetAttempt() + 1
	}
	cfg := sandboxConfig(pod, attempt, s.logRoot, s.dns)
	if err := os.MkdirAll(cfg.LogDirectory, 0o755); err != nil {
		return nil, "", false, fmt.Errorf("agent: pod log directory: %w", err)
	}
	key := backoffKey(pod.UID, "") + "sandbox"
	if until, blocked := s.backoff.blockedUntil(key, s.clock.Now()); blocked {
		result.requeue(until.Sub(s.clock.Now()))
		return nil, "", false, nil
	}
	id, err := s.runtime.RunPodSandbox(ctx, cfg)
	if err != nil {
		s.event(pod, corev1.EventTypeWarning, eventFailedSandbox, "Failed to create pod sandbox: %v", err)
		s.backoff.failed(key, s.clock.Now())
		result.requeue(s.backoff.current(key))
		return nil, "", false, nil
	}
	s.backoff.reset(key)
	fresh, err := s.runtimeState(ctx, pod.UID)
	if err != nil {
		return nil, "", false, err
	}
	*state = fresh
	return cfg, id, true, nil
}

// startContainer pulls (per policy), creates and starts one container.
// A failure the user must fix or that will pass (image missing, config
// error, runtime refusal) is recorded in waiting with an event, and the
// pod is requeued; only API/runtime transport errors are returned.
func (s *podSyncer) startContainer(ctx context.Context, run *podRun, c *corev1.Container, attempt uint32) (bool, error) {
	pod, sandboxID, sandboxCfg, podIP, waiting, result := run.pod, run.sandboxID, run.sandboxCfg, run.state.sandboxIP(), run.waiting, run.result
	ref := containerRef(pod, c.Name)
	if !s.ensureImage(ctx, pod, c, sandboxCfg, waiting, result) {
		return false, nil
	}
	if nonRoot, _ := effectiveRunAsNonRoot(pod, c); nonRoot {
		img, err := s.runtime.ImageStatus(ctx, &runtimeapi.ImageSpec{Image: c.Image})
		if err != nil {
			return false, err
		}
		if err := verifyRunAsNonRoot(pod, c, img); err != nil {
			s.event(ref, corev1.EventTypeWarning, eventFailed, "Error: %v", err)
			waiting[c.Name] = waitingReason{reason: reasonCreateContainerConfigError, message: err.Error()}
			result.requeue(retryInterval)
			return false, nil
		}
	}
	env, err := makeEnv(ctx, pod, c, envContext{podIP: podIP, hostIP: s.hostIP, allocatable: s.allocatable, objects: s.objects})
	if err != nil {
		var cfgErr errConfig
		if !errors.As(err, &cfgErr) {
			return false, err
		}
		s.event(ref, corev1.EventTypeWarning, eventFailed, "Error: %s", cfgErr.msg)
		waiting[c.Name] = waitingReason{reason: reasonCreateContainerConfigError, message: cfgErr.msg}
		result.requeue(retryInterval)
		return false, nil
	}
	cfg := containerConfig(pod, c, attempt, env, c.Image, s.memoryCapacity)
	cfg.Annotations[annotationImage] = c.Image
	cfg.Linux.SecurityContext.Seccomp = seccompProfile(pod, c, s.seccompRoot)
	if target := ephemeralTarget(pod, c.Name); target != "" {
		// A debugging container sees the processes of the container it
		// targets: it joins that container's PID namespace.
		id, ok := run.state.runningIn(target, sandboxID)
		if !ok {
			waiting[c.Name] = waitingReason{reason: reasonContainerCreating}
			result.requeue(retryInterval)
			return false, nil
		}
		ns := cfg.Linux.SecurityContext.NamespaceOptions
		ns.Pid, ns.TargetId = runtimeapi.NamespaceMode_TARGET, id
	}
	if ok, err := s.addContainerMounts(ctx, pod, c, env, podIP, cfg, waiting, result); err != nil || !ok {
		return false, err
	}
	id, err := s.runtime.CreateContainer(ctx, sandboxID, cfg, sandboxCfg)
	if err != nil {
		s.event(ref, corev1.EventTypeWarning, eventFailed, "Error: %v", err)
		waiting[c.Name] = waitingReason{reason: reasonCreateContainerError, message: err.Error()}
		result.requeue(retryInterval)
		return false, nil
	}
	s.event(ref, corev1.EventTypeNormal, eventCreated, "Container created")
	if err := s.runtime.StartContainer(ctx, id); err != nil {
		s.event(ref, corev1.EventTypeWarning, eventFailed, "Error: %v", err)
		waiting[c.Name] = waitingReason{reason: reasonRunContainerError, message: err.Error()}
		result.requeue(retryInterval)
		return false, nil
	}
	s.event(ref, corev1.EventTypeNormal, eventStarted, "Container started")
	if c.Lifecycle != nil && c.Lifecycle.PostStart != nil {
		if msg, err := s.runHook(ctx, pod, c, id, c.Lifecycle.PostStart); err != nil {
			// As the kubelet: the event leaves the hook's output out (it
			// may hold secrets); the status carries it while the
			// container waits.
			klog.FromContext(ctx).V(1).Info("postStart hook failed", "pod", klog.KObj(pod), "container", c.Name, "err", err)
			s.event(ref, corev1.EventTypeWarning, eventFailedPostStartHook, "PostStartHook failed")
			if err := s.killContainer(ctx, pod, c, id, gracePeriod(pod), "FailedPostStartHook"); err != nil {
				return false, err
			}
			waiting[c.Name] = waitingReason{reason: reasonPostStartHookError, message: msg}
			return false, nil
		}
	}
	return true, nil
}

// ensureImage makes the container's image present as its pull policy
// says. It returns false (with the waiting reason recorded) when the
// container cannot start yet.
func (s *podSyncer) ensureImage(ctx context.Context, pod *corev1.Pod, c *corev1.Container, sandboxCfg *runtimeapi.PodSandboxConfig, waiting map[string]waitingReason, result *syncResult) bool {
	ref := containerRef(pod, c.Name)
	image := c.Image
	img, err := s.runtime.ImageStatus(ctx, &runtimeapi.ImageSpec{Image: image})
	if err != nil {
		waiting[c.Name] = waitingReason{reason: reasonErrImagePull, message: err.Error()}
		result.requeue(retryInterval)
		return false
	}
	policy := c.ImagePullPolicy
	if policy == "" {
		policy = corev1.PullIfNotPresent
	}
	if img != nil && policy != corev1.PullAlways {
		s.event(ref, corev1.EventTypeNormal, eventPulled, "Container image %q already present on machine and can be accessed by the pod", image)
		return true
	}
	if policy == corev1.PullNever {
		msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", image)
		s.event(ref, corev1.EventTypeWarning, reasonErrImageNeverPull, "%s", msg)
		s.event(ref, corev1.EventTypeWarning, eventFailed, "Error: %s", reasonErrImageNeverPull)
		waiting[c.Name] = waitingReason{reason: reasonErrImageNeverPull, message: msg}
		result.requeue(retryInterval)
		return false
	}
	key := backoffKey(pod.UID, c.Name) + "/pull/" + image
	now := s.clock.Now()
	if until, blocked := s.backoff.blockedUntil(key, now); blocked {
		s.event(ref, corev1.EventTypeNormal, eventBackOff, "Back-off pulling image %q", image)
		s.event(ref, corev1.EventTypeWarning, eventFailed, "Error: %s", reasonImagePullBackOff)
		waiting[c.Name] = waitingReason{reason: reasonImagePullBackOff,
			message: fmt.Sprintf("Back-off pulling image %q: %s: %s", image, reasonErrImagePull, s.lastPullError(pod.UID, c.Name))}
		result.requeue(until.Sub(now))
		return false
	}
	s.event(ref, corev1.EventTypeNormal, eventPulling, "Pulling image %q", image)
	if _, err := s.runtime.PullImage(ctx, &runtimeapi.ImageSpec{Image: image, UserSpecifiedImage: image}, sandboxCfg); err != nil {
		msg := fmt.Sprintf("Failed to pull image %q: %v", image, err)
		s.event(ref, corev1.EventTypeWarning, eventFailed, "%s", msg)
		s.event(ref, corev1.EventTypeWarning, eventFailed, "Error: %s", reasonErrImagePull)
		s.backoff.failed(key, now)
		s.setPullError(pod.UID, c.Name, msg)
		waiting[c.Name] = waitingReason{reason: reasonErrImagePull, message: msg}
		result.requeue(s.backoff.current(key))
		return false
	}
	s.backoff.reset(key)
	s.event(ref, corev1.EventTypeNormal, eventPulled, "Successfully pulled image %q in %s", image, s.clock.Since(now).Round(time.Millisecond))
	return true
}

// terminatePod kills a pod being deleted (preStop hooks, SIGTERM,
// SIGKILL when its grace period ends), removes its sandboxes, then
// deletes the pod object with grace 0, which is what lets the API server
// forget it. As the kubelet, it keeps the pod's status current while the
// pod terminates: the status as the containers stand before they are
// killed, then the final one (containers terminated with their exit
// codes and reasons, not ready, a terminal phase) before the object is
// deleted.
func (s *podSyncer) terminatePod(ctx context.Context, pod *corev1.Pod) error {
	s.probes.RemovePod(pod.UID)
	grace := gracePeriod(pod)
	if pod.DeletionGracePeriodSeconds != nil {
		grace = max(*pod.DeletionGracePeriodSeconds, minimumGracePeriod)
	}
	if err := s.writeRuntimeStatus(ctx, pod, false); err != nil {
		return err
	}
	if err := s.stopSandboxes(ctx, pod.UID, grace, pod); err != nil {
		return err
	}
	if err := s.writeRuntimeStatus(ctx, s.latestPod(pod), true); err != nil {
		return err
	}
	if err := s.removeSandboxes(ctx, pod.UID); err != nil {
		return err
	}
	if err := s.tearDownVolumes(ctx, pod.UID); err != nil {
		return err
	}
	s.forget(pod.UID)
	err := s.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To(int64(0)),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("agent: deleting pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// writeRuntimeStatus writes the status of a terminating pod as the
// runtime holds it, with the waiting reasons of the pod's last sync;
// finished says its containers have been stopped for good.
func (s *podSyncer) writeRuntimeStatus(ctx context.Context, pod *corev1.Pod, finished bool) error {
	state, err := s.runtimeState(ctx, pod.UID)
	if err != nil {
		return err
	}
	status := computePodStatus(pod, statusInput{state: state, waiting: s.lastWaiting(pod.UID), hostIP: s.hostIP,
		runtimeName: s.runtimeName, now: s.clock.Now(), finished: finished})
	return s.writeStatus(ctx, pod, status)
}

// cleanupPod removes what the runtime holds for a pod whose object is
// gone (force-deleted, or deleted while the agent was down). grace is the
// last grace period known for it.
func (s *podSyncer) cleanupPod(ctx context.Context, uid types.UID, grace int64) error {
	if err := s.stopSandboxes(ctx, uid, grace, nil); err != nil {
		return err
	}
	if err := s.removeSandboxes(ctx, uid); err != nil {
		return err
	}
	if err := s.tearDownVolumes(ctx, uid); err != nil {
		return err
	}
	s.forget(uid)
	return nil
}

// stopSandboxes stops the pod's running containers, then its sandboxes,
// releasing the IP. Each container gets grace seconds from its preStop
// hook to SIGKILL (see killContainers); when pod is nil (its object is
// gone) no hook runs and no event is recorded.
func (s *podSyncer) stopSandboxes(ctx context.Context, uid types.UID, grace int64, pod *corev1.Pod) error {
	containers, err := s.runtime.ListContainers(ctx, &runtimeapi.ContainerFilter{LabelSelector: map[string]string{cri.LabelPodUID: string(uid)}})
	if err != nil {
		return err
	}
	if err := s.killContainers(ctx, pod, containers, grace); err != nil {
		return err
	}
	sandboxes, err := s.runtime.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{cri.LabelPodUID: string(uid)}})
	if err != nil {
		return err
	}
	for _, sb := range sandboxes {
		if sb.State == runtimeapi.PodSandboxState_SANDBOX_READY {
			if err := s.runtime.StopPodSandbox(ctx, sb.Id); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeSandboxes removes the pod's sandboxes and their containers.
func (s *podSyncer) removeSandboxes(ctx context.Context, uid types.UID) error {
	sandboxes, err := s.runtime.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{cri.LabelPodUID: string(uid)}})
	if err != nil {
		return err
	}
	for _, sb := range sandboxes {
		if err := s.runtime.StopPodSandbox(ctx, sb.Id); err != nil {
			return err
		}
		if err := s.runtime.RemovePodSandbox(ctx, sb.Id); err != nil {
			return err
		}
	}
	return nil
}

// pruneContainers removes exited containers older than the newest two
// of each name (the newest is the current one, the one before backs
// lastState and `logs --previous`).
func (s *podSyncer) pruneContainers(ctx context.Context, state runtimeState) {
	seen := map[string]bool{}
	for _, c := range state.containers {
		name := c.GetMetadata().GetName()
		if seen[name] {
			continue
		}
		seen[name] = true
		for _, old := range state.latestContainers(name)[min(2, len(state.latestContainers(name))):] {
			if old.State == runtimeapi.ContainerState_CONTAINER_EXITED {
				if err := s.runtime.RemoveContainer(ctx, old.Id); err != nil {
					klog.FromContext(ctx).V(2).Info("removing old container", "id", old.Id, "err", err)
				}
			}
		}
	}
}

// runtimeState reads the pod's sandboxes and containers from the runtime.
func (s *podSyncer) runtimeState(ctx context.Context, uid types.UID) (runtimeState, error) {
	selector := map[string]string{cri.LabelPodUID: string(uid)}
	var state runtimeState
	sandboxes, err := s.runtime.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{LabelSelector: selector})
	if err != nil {
		return state, err
	}
	var newest *runtimeapi.PodSandbox
	for _, sb := range sandboxes {
		if newest == nil || sb.GetMetadata().GetAttempt() > newest.GetMetadata().GetAttempt() ||
			(sb.GetMetadata().GetAttempt() == newest.GetMetadata().GetAttempt() && sb.CreatedAt > newest.CreatedAt) {
			newest = sb
		}
	}
	if newest != nil {
		st, err := s.runtime.PodSandboxStatus(ctx, newest.Id)
		if err != nil && !cri.IsNotFound(err) {
			return state, err
		}
		state.sandbox = st
	}
	containers, err := s.runtime.ListContainers(ctx, &runtimeapi.ContainerFilter{LabelSelector: selector})
	if err != nil {
		return state, err
	}
	state.containerSandbox = map[string]string{}
	for _, c := range containers {
		st, err := s.runtime.ContainerStatus(ctx, c.Id)
		if cri.IsNotFound(err) {
			continue
		}
		if err != nil {
			return state, err
		}
		state.containers = append(state.containers, st)
		state.containerSandbox[c.Id] = c.PodSandboxId
	}
	return state, nil
}

func (s *podSyncer) event(obj any, eventType, reason, format string, args ...any) {
	if s.recorder == nil {
		return
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		s.recorder.Eventf(o, eventType, reason, format, args...)
	case *corev1.ObjectReference:
		s.recorder.Eventf(o, eventType, reason, format, args...)
	}
}

// containerRef refers to one container of a pod, as kubelet events do
// (kubectl describe shows "spec.containers{name}", or
// "spec.initContainers{name}" for an init container).
func containerRef(pod *corev1.Pod, name string) *corev1.ObjectReference {
	path := fmt.Sprintf("spec.containers{%s}", name)
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			path = fmt.Sprintf("spec.initContainers{%s}", name)
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			path = fmt.Sprintf("spec.ephemeralContainers{%s}", name)
		}
	}
	return &corev1.ObjectReference{
		Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
		ResourceVersion: pod.ResourceVersion, FieldPath: path,
	}
}

// gracePeriod is the pod's termination grace period in seconds.
func gracePeriod(pod *corev1.Pod) int64 {
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return max(*g, minimumGracePeriod)
	}
	return 30
}

func backoffKey(uid types.UID, container string) string { return string(uid) + "/" + container }

func (s *podSyncer) setWaiting(uid types.UID, waiting map[string]waitingReason) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waiting[uid] = waiting
}

// lastWaiting returns the waiting reasons of the pod's last sync.
func (s *podSyncer) lastWaiting(uid types.UID) map[string]waitingReason {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting[uid]
}

func (s *podSyncer) setPullError(uid types.UID, container, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pullErr[uid] == nil {
		s.pullErr[uid] = map[string]string{}
	}
	s.pullErr[uid][container] = msg
}

func (s *podSyncer) lastPullError(uid types.UID, container string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pullErr[uid][container]
}

// forget drops what the syncer remembers about a pod.
func (s *podSyncer) forget(uid types.UID) {
	s.probes.RemovePod(uid)
	s.mu.Lock()
	delete(s.waiting, uid)
	delete(s.pullErr, uid)
	delete(s.written, uid)
	s.mu.Unlock()
	s.backoff.forgetPrefix(string(uid) + "/")
}
