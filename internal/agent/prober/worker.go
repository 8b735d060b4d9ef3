package prober

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// maxAttempts is how many times one probe is tried when its handler
// cannot run at all (not when it fails), as the kubelet's.
const maxAttempts = 3

// Event reasons (the kubelet's).
const (
	eventUnhealthy    = "Unhealthy"
	eventProbeWarning = "ProbeWarning"
)

// worker probes one container's probe of one type, every period, for as
// long as the pod runs. It follows the container across restarts (a new
// container id starts the count over).
type worker struct {
	m      *Manager
	key    workerKey
	probe  *corev1.Probe
	timing timing

	stopOnce sync.Once
	stopCh   chan struct{}
	// pokeCh asks for a probe now; it holds one pending poke.
	pokeCh chan struct{}

	// seen is the container id UpdatePod last gave the worker; guarded
	// by m.mu.
	seen string

	// Only the worker's goroutine touches the fields below.
	//
	// containerID is the container the counts below are about.
	containerID string
	// last is the last probe's result and streak how many probes in a
	// row gave it.
	last   Result
	streak int
	// onHold: the container failed its liveness or startup probe; it is
	// not probed again (it is being killed) until a new one runs.
	onHold bool
}

func newWorker(m *Manager, key workerKey, probe *corev1.Probe) *worker {
	return &worker{
		m: m, key: key, probe: probe, timing: timingOf(probe),
		stopCh: make(chan struct{}), pokeCh: make(chan struct{}, 1),
	}
}

// stop ends the worker's loop; it never blocks and may be called twice.
func (w *worker) stop() { w.stopOnce.Do(func() { close(w.stopCh) }) }

// poke asks for a probe without waiting for the period; it never blocks.
func (w *worker) poke() {
	select {
	case w.pokeCh <- struct{}{}:
	default:
	}
}

// run is the worker's loop.
func (w *worker) run(ctx context.Context) {
	defer w.m.wg.Done()
	defer w.m.done(w)
	for {
		wait, keep := w.step(ctx)
		if !keep {
			return
		}
		timer := w.m.cfg.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-w.stopCh:
			timer.Stop()
			return
		case <-w.pokeCh:
			timer.Stop()
		case <-timer.C():
		}
	}
}

// step probes once if it is time, and returns how long to wait before
// the next step, or false when the worker should end.
func (w *worker) step(ctx context.Context) (time.Duration, bool) {
	period := w.timing.period
	t, ok := w.m.target(w.key)
	if !ok || t.container.ID == "" {
		return period, true
	}
	c := t.container
	if c.ID != w.containerID {
		if w.containerID != "" {
			w.m.forgetResult(w.key, w.containerID)
		}
		w.containerID, w.onHold, w.last, w.streak = c.ID, false, Unknown, 0
	}
	if w.onHold || !c.Running {
		return period, true
	}
	if t.pod.DeletionTimestamp != nil && w.key.typ != Readiness {
		// A pod being deleted is not restarted for failing a probe.
		return 0, false
	}
	start := w.m.cfg.Clock.Now()
	if since := start.Sub(c.StartedAt); since < w.timing.initialDelay {
		return w.timing.initialDelay - since, true
	}
	// A startup probe runs until it passes; the other probes wait for it.
	if (w.key.typ == Startup) == t.started {
		return period, true
	}
	result, err := w.probeOnce(ctx, t)
	if ctx.Err() != nil {
		return 0, false
	}
	next := max(period-w.m.cfg.Clock.Since(start), 0)
	if err != nil {
		// The probe could not run: no result, and no count.
		logger(ctx, w.key).V(1).Info("probe errored", "err", err)
		return next, true
	}
	if result == w.last {
		w.streak++
	} else {
		w.last, w.streak = result, 1
	}
	if (result == Failure && w.streak < w.timing.failureThreshold) ||
		(result == Success && w.streak < w.timing.successThreshold) {
		return next, true
	}
	w.m.setResult(w.key, c.ID, result)
	if result == Failure && w.key.typ != Readiness {
		// The container will be killed; the next one starts afresh.
		w.onHold, w.streak = true, 0
	}
	return next, true
}

// probeOnce runs the handler (again, up to maxAttempts, while it cannot
// run at all), records the kubelet's event for a failure or warning, and
// returns the result.
func (w *worker) probeOnce(ctx context.Context, t target) (Result, error) {
	var (
		outcome Outcome
		output  string
		err     error
	)
	for range maxAttempts {
		if outcome, output, err = w.handle(ctx, t); err == nil || ctx.Err() != nil {
			break
		}
	}
	name := t.spec.Name
	if err != nil {
		w.m.event(t.pod, name, corev1.EventTypeWarning, eventUnhealthy, "%s probe errored and resulted in unknown state: %s", w.key.typ, err)
		return Failure, err
	}
	switch outcome {
	case Succeeded:
		return Success, nil
	case Warned:
		w.m.event(t.pod, name, corev1.EventTypeWarning, eventProbeWarning, "%s probe warning: %s", w.key.typ, output)
		return Success, nil
	}
	w.m.event(t.pod, name, corev1.EventTypeWarning, eventUnhealthy, "%s probe failed: %s", w.key.typ, output)
	return Failure, nil
}

// handle runs the probe's handler once against t.
func (w *worker) handle(ctx context.Context, t target) (Outcome, string, error) {
	h := w.probe.ProbeHandler
	timeout := w.timing.timeout
	switch {
	case h.Exec != nil:
		if w.m.cfg.Runner == nil {
			return Failed, "", fmt.Errorf("prober: no command runner for exec probes")
		}
		return Exec(ctx, w.m.cfg.Runner, t.container.ID, h.Exec.Command, timeout)
	case (h.HTTPGet != nil && h.HTTPGet.Host == "" || h.TCPSocket != nil && h.TCPSocket.Host == "" || h.GRPC != nil) && t.podIP == "":
		// Without an IP the address would be the agent's own host.
		return Failed, "", fmt.Errorf("prober: the pod has no IP yet")
	case h.HTTPGet != nil:
		req, err := NewHTTPGetRequest(ctx, h.HTTPGet, t.spec, t.podIP, "probe")
		if err != nil {
			return Failed, "", err
		}
		outcome, output := HTTPGet(req, timeout)
		return outcome, output, nil
	case h.TCPSocket != nil:
		port, err := ResolvePort(h.TCPSocket.Port, t.spec)
		if err != nil {
			return Failed, "", err
		}
		host := h.TCPSocket.Host
		if host == "" {
			host = t.podIP
		}
		outcome, output := TCPSocket(ctx, host, port, timeout)
		return outcome, output, nil
	case h.GRPC != nil:
		service := ""
		if h.GRPC.Service != nil {
			service = *h.GRPC.Service
		}
		outcome, output := GRPC(ctx, t.podIP, int(h.GRPC.Port), service, timeout)
		return outcome, output, nil
	}
	return Failed, "", fmt.Errorf("prober: missing probe handler for %s_%s(%s):%s", t.pod.Name, t.pod.Namespace, t.pod.UID, t.spec.Name)
}
