package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/navarch/navarch/internal/agent/prober"
)

// maxHookBody bounds how much of an HTTP hook's answer is read.
const maxHookBody = 10 << 10

// killContainer stops running container id of pod, as the kubelet's
// killContainer: a Killing event with message ("Stopping container x"
// when empty), the preStop hook if c has one (bounded by the grace
// period, whose remainder goes on), then SIGTERM and SIGKILL after what
// is left of grace (never less than minimumGracePeriod).
func (s *podSyncer) killContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, grace int64, message string) error {
	if message == "" {
		message = fmt.Sprintf("Stopping container %s", c.Name)
	}
	s.event(containerRef(pod, c.Name), corev1.EventTypeNormal, eventKilling, "%s", message)
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && grace > 0 {
		grace -= s.runPreStop(ctx, pod, c, id, grace)
	}
	return s.runtime.StopContainer(ctx, id, max(grace, minimumGracePeriod))
}

// runPreStop runs c's preStop hook for at most grace seconds and
// returns how many whole seconds it took. A failed hook is a
// FailedPreStopHook event; the container is stopped either way.
func (s *podSyncer) runPreStop(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, grace int64) int64 {
	logger := klog.FromContext(ctx)
	start := s.clock.Now()
	hookCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := s.runHook(hookCtx, pod, c, id, c.Lifecycle.PreStop); err != nil && hookCtx.Err() == nil {
			logger.V(1).Info("preStop hook failed", "pod", klog.KObj(pod), "container", c.Name, "err", err)
			// As the kubelet: the hook's output stays out of the event.
			s.event(containerRef(pod, c.Name), corev1.EventTypeWarning, eventFailedPreStopHook, "PreStopHook failed")
		}
	}()
	timer := s.clock.NewTimer(time.Duration(grace) * time.Second)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C():
		logger.V(2).Info("preStop hook did not complete within the grace period", "pod", klog.KObj(pod), "container", c.Name, "gracePeriod", grace)
	case <-ctx.Done():
	}
	return int64(s.clock.Since(start) / time.Second)
}

// runHook runs a lifecycle handler (exec, httpGet or sleep) for
// container id of c. On failure it returns the kubelet's message for
// the container's status along with the error.
func (s *podSyncer) runHook(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, h *corev1.LifecycleHandler) (string, error) {
	podName := fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
	switch {
	case h.Exec != nil:
		output, err := s.execHook(ctx, id, h.Exec.Command)
		if err != nil {
			return fmt.Sprintf("Exec lifecycle hook (%v) for Container %q in Pod %q failed - error: %v, message: %q", h.Exec.Command, c.Name, podName, err, output), err
		}
		return "", nil
	case h.HTTPGet != nil:
		if err := s.httpHook(ctx, pod, c, h.HTTPGet); err != nil {
			return fmt.Sprintf("HTTP lifecycle hook (%s) for Container %q in Pod %q failed - error: %v", h.HTTPGet.Path, c.Name, podName, err), err
		}
		return "", nil
	case h.Sleep != nil:
		timer := s.clock.NewTimer(time.Duration(h.Sleep.Seconds) * time.Second)
		defer timer.Stop()
		select {
		case <-timer.C():
			return "", nil
		case <-ctx.Done():
			err := errors.New("container terminated before sleep hook finished")
			return fmt.Sprintf("Sleep lifecycle hook (%d) for Container %q in Pod %q failed - error: %v", h.Sleep.Seconds, c.Name, podName, err), err
		}
	}
	err := fmt.Errorf("invalid handler: %v", h)
	return fmt.Sprintf("Cannot run handler: %v", err), err
}

// execHook runs cmd in the container without a timeout of its own; a
// non-zero exit is an error naming the command, as the kubelet's.
func (s *podSyncer) execHook(ctx context.Context, id string, cmd []string) (string, error) {
	resp, err := s.runtime.ExecSync(ctx, id, cmd, 0)
	if err != nil {
		return "", err
	}
	output := string(resp.Stdout) + string(resp.Stderr)
	if resp.ExitCode != 0 {
		return output, fmt.Errorf("command '%s' exited with %d: %s", strings.Join(cmd, " "), resp.ExitCode, resp.Stderr)
	}
	return output, nil
}

// httpHook sends an httpGet hook's request. Only a failed exchange is
// an error (the kubelet does not judge the status code); an HTTPS
// request answered in plain HTTP is retried over HTTP.
func (s *podSyncer) httpHook(ctx context.Context, pod *corev1.Pod, c *corev1.Container, action *corev1.HTTPGetAction) error {
	podIP := s.podIP(ctx, pod)
	if action.Host == "" && podIP == "" {
		return errors.New("failed to find networking container: the pod has no IP")
	}
	req, err := prober.NewHTTPGetRequest(ctx, action, c, podIP, "lifecycle")
	if err != nil {
		return err
	}
	resp, err := prober.Send(req, 0)
	var urlErr *url.Error
	if err != nil && errors.As(err, &urlErr) && strings.Contains(urlErr.Err.Error(), "server gave HTTP response to HTTPS client") {
		retry := req.Clone(ctx)
		retry.URL.Scheme = "http"
		retry.Header.Del("Authorization")
		if resp, err = prober.Send(retry, 0); err == nil {
			s.event(pod, corev1.EventTypeWarning, "LifecycleHTTPFallback", "request to HTTPS lifecycle hook %s got HTTP response, retry with HTTP succeeded", req.URL.Host)
		}
	}
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxHookBody))
	return resp.Body.Close()
}

// podIP is the IP hooks reach the pod at: the host's for a host-network
// pod, else its sandbox's.
func (s *podSyncer) podIP(ctx context.Context, pod *corev1.Pod) string {
	if pod.Spec.HostNetwork {
		return s.hostIP
	}
	state, err := s.runtimeState(ctx, pod.UID)
	if err != nil {
		return ""
	}
	return state.sandboxIP()
}

// killContainers stops the running ones of a pod's runtime containers,
// each with grace seconds from its preStop hook to SIGKILL: the app
// containers (and regular init containers) together, then the sidecars
// one by one in reverse spec order, each with what is left of grace, so
// sidecars outlive what they serve, as the kubelet orders them. When pod
// is nil (its object is gone) they all stop together, without hooks or
// events.
func (s *podSyncer) killContainers(ctx context.Context, pod *corev1.Pod, containers []*runtimeapi.Container, grace int64) error {
	type victim struct {
		spec *corev1.Container
		id   string
	}
	var main []victim
	sidecars := map[string]victim{}
	for _, rc := range containers {
		if rc.State == runtimeapi.ContainerState_CONTAINER_EXITED {
			continue
		}
		name := rc.GetMetadata().GetName()
		v := victim{spec: &corev1.Container{Name: name}, id: rc.Id}
		if pod == nil {
			main = append(main, v)
			continue
		}
		if spec := specOf(pod, name); spec != nil {
			v.spec = spec
		}
		if isSidecar(v.spec) {
			sidecars[name] = v
		} else {
			main = append(main, v)
		}
	}
	start := s.clock.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(main))
	for _, v := range main {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if pod == nil {
				errs <- s.runtime.StopContainer(ctx, v.id, grace)
				return
			}
			errs <- s.killContainer(ctx, pod, v.spec, v.id, grace, "")
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	if pod == nil {
		return nil
	}
	for _, c := range slices.Backward(pod.Spec.InitContainers) {
		v, ok := sidecars[c.Name]
		if !ok {
			continue
		}
		left := grace - int64(s.clock.Since(start)/time.Second)
		if err := s.killContainer(ctx, pod, v.spec, v.id, left, ""); err != nil {
			return err
		}
	}
	return nil
}

// stopSidecars stops what still runs in a pod that has finished (its
// sidecars, once the app containers are done) and returns the runtime
// state after.
func (s *podSyncer) stopSidecars(ctx context.Context, pod *corev1.Pod, state runtimeState) (runtimeState, error) {
	var running []*runtimeapi.Container
	for _, c := range state.containers {
		if c.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
			running = append(running, &runtimeapi.Container{Id: c.Id, Metadata: c.Metadata, State: c.State})
		}
	}
	if len(running) == 0 {
		return state, nil
	}
	if err := s.killContainers(ctx, pod, running, gracePeriod(pod)); err != nil {
		return state, err
	}
	return s.runtimeState(ctx, pod.UID)
}

// specOf returns pod's container (app or init) named name, nil if none.
func specOf(pod *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}
