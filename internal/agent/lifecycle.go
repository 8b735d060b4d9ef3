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
	"k8s.io/utils/clock"

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
	return s.killContainerInOrder(ctx, pod, c, id, grace, message, nil)
}

// killContainerInOrder is killContainer, with c's SIGTERM held, after its
// preStop hook, until order says it is c's turn (or grace is used up).
// A nil order holds nothing.
func (s *podSyncer) killContainerInOrder(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, grace int64, message string, order *stopOrder) error {
	if message == "" {
		message = fmt.Sprintf("Stopping container %s", c.Name)
	}
	s.event(containerRef(pod, c.Name), corev1.EventTypeNormal, eventKilling, "%s", message)
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && grace > 0 {
		grace -= s.runPreStop(ctx, pod, c, id, grace)
	}
	if order != nil && grace > 0 {
		grace = order.waitTurn(ctx, s.clock, c.Name, grace)
	}
	err := s.runtime.StopContainer(ctx, id, max(grace, minimumGracePeriod))
	if order != nil {
		order.stopped(c.Name)
	}
	return err
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

// killContainers stops the running ones of a pod's runtime containers
// within grace seconds, as the kubelet orders a pod's termination: every
// container gets its Killing event and runs its preStop hook at once;
// the app containers (and regular init containers) are then stopped,
// while each sidecar waits, after its hook, until the app containers and
// the sidecars after it in the spec have stopped (so sidecars stop in
// reverse order and outlive what they serve), with what is left of
// grace. When pod is nil (its object is gone) they all stop together,
// without hooks or events.
func (s *podSyncer) killContainers(ctx context.Context, pod *corev1.Pod, containers []*runtimeapi.Container, grace int64) error {
	type victim struct {
		spec *corev1.Container
		id   string
	}
	var victims []victim
	running := map[string]bool{}
	for _, rc := range containers {
		if rc.State == runtimeapi.ContainerState_CONTAINER_EXITED {
			continue
		}
		name := rc.GetMetadata().GetName()
		v := victim{spec: &corev1.Container{Name: name}, id: rc.Id}
		if pod != nil {
			if spec := specOf(pod, name); spec != nil {
				v.spec = spec
			}
		}
		victims = append(victims, v)
		running[name] = true
	}
	var order *stopOrder
	if pod != nil {
		order = newStopOrder(pod, running)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(victims))
	for _, v := range victims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if pod == nil {
				errs <- s.runtime.StopContainer(ctx, v.id, grace)
				return
			}
			errs <- s.killContainerInOrder(ctx, pod, v.spec, v.id, grace, "", order)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// stopOrder holds a pod's sidecars back while it terminates: a sidecar
// is stopped once every app container and every sidecar after it in the
// spec has stopped. Its methods may be called concurrently.
type stopOrder struct {
	// done has a channel per app container and init container, closed
	// once that container has stopped (at once if it was not running).
	done map[string]chan struct{}
	// waitsFor lists, per sidecar, the channels of the containers it
	// stops after.
	waitsFor map[string][]chan struct{}
	// once closes each channel once.
	once map[string]*sync.Once
}

// newStopOrder returns the stop order of pod's containers; running holds
// the names of those still running.
func newStopOrder(pod *corev1.Pod, running map[string]bool) *stopOrder {
	o := &stopOrder{done: map[string]chan struct{}{}, waitsFor: map[string][]chan struct{}{}, once: map[string]*sync.Once{}}
	add := func(name string) chan struct{} {
		ch := make(chan struct{})
		o.done[name], o.once[name] = ch, &sync.Once{}
		if !running[name] {
			o.stopped(name)
		}
		return ch
	}
	var apps []chan struct{}
	for _, c := range pod.Spec.Containers {
		apps = append(apps, add(c.Name))
	}
	var later chan struct{}
	for i := len(pod.Spec.InitContainers) - 1; i >= 0; i-- {
		c := &pod.Spec.InitContainers[i]
		ch := add(c.Name)
		if !isSidecar(c) {
			continue
		}
		o.waitsFor[c.Name] = slices.Clone(apps)
		if later != nil {
			o.waitsFor[c.Name] = append(o.waitsFor[c.Name], later)
		}
		later = ch
	}
	return o
}

// waitTurn blocks until it is name's turn to stop, for at most grace
// seconds, and returns what is left of grace (0 when it ran out).
func (o *stopOrder) waitTurn(ctx context.Context, clk clock.Clock, name string, grace int64) int64 {
	prereqs := o.waitsFor[name]
	if len(prereqs) == 0 {
		return grace
	}
	start := clk.Now()
	timer := clk.NewTimer(time.Duration(grace) * time.Second)
	defer timer.Stop()
	for _, ch := range prereqs {
		select {
		case <-ch:
		case <-timer.C():
			return 0
		case <-ctx.Done():
			return 0
		}
	}
	return max(grace-int64(clk.Since(start)/time.Second), 0)
}

// stopped records that name has stopped.
func (o *stopOrder) stopped(name string) {
	if once, ok := o.once[name]; ok {
		once.Do(func() { close(o.done[name]) })
	}
}

// stopRunning stops what still runs in a pod that has finished (its
// sidecars, once the app containers are done; everything, once the pod
// ran past its active deadline) and returns the runtime state after.
func (s *podSyncer) stopRunning(ctx context.Context, pod *corev1.Pod, state runtimeState) (runtimeState, error) {
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
