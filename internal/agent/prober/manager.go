package prober

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// Config is what a Manager needs.
type Config struct {
	// Runner runs exec probes (the CRI runtime).
	Runner CommandRunner
	// Recorder receives the Unhealthy and ProbeWarning events; nil
	// records none.
	Recorder record.EventRecorder
	// Clock times the probes; nil is the real clock.
	Clock clock.Clock
	// OnChange is called, outside any lock, with a pod's UID when a
	// cached result of one of its containers changes. It must not block.
	OnChange func(types.UID)
}

// Container is one container's newest run, as the agent last saw it.
type Container struct {
	// Name is the container's name in the pod spec (app or init).
	Name string
	// ID is the runtime's container id ("" when it has none yet).
	ID string
	// Running is whether that container runs now.
	Running bool
	// StartedAt is when it started (the initial delay counts from it).
	StartedAt time.Time
	// Started is whether the agent already counts it as started (its
	// status says so, e.g. from before the agent restarted): its startup
	// probe is then not run again.
	Started bool
}

// Manager runs the probes of the pods the agent runs. Its methods are
// safe for concurrent use.
type Manager struct {
	cfg    Config
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu sync.Mutex
	// pods, workers and results are guarded by mu.
	pods    map[types.UID]*podEntry
	workers map[workerKey]*worker
	results map[resultKey]Result
}

// podEntry is what the manager last heard of a pod.
type podEntry struct {
	pod        *corev1.Pod
	podIP      string
	containers map[string]Container
}

type workerKey struct {
	uid       types.UID
	container string
	typ       Type
}

type resultKey struct {
	uid         types.UID
	containerID string
	typ         Type
}

// NewManager returns a manager whose workers run until ctx ends or Stop.
func NewManager(ctx context.Context, cfg Config) *Manager {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.OnChange == nil {
		cfg.OnChange = func(types.UID) {}
	}
	ctx, cancel := context.WithCancel(ctx)
	return &Manager{
		cfg: cfg, ctx: ctx, cancel: cancel,
		pods: map[types.UID]*podEntry{}, workers: map[workerKey]*worker{}, results: map[resultKey]Result{},
	}
}

// Stop ends every worker and waits for them.
func (m *Manager) Stop() {
	m.cancel()
	m.wg.Wait()
}

// UpdatePod tells the manager what pod runs now: its spec, IP, and the
// newest run of each container. It starts a worker for each probe of a
// running container that has none, and wakes the workers whose container
// changed (a restart) so they probe the new one without waiting a
// period. For a pod being deleted, liveness and startup probes stop
// (as the kubelet's); readiness goes on until RemovePod.
func (m *Manager) UpdatePod(pod *corev1.Pod, podIP string, containers []Container) {
	m.mu.Lock()
	defer m.mu.Unlock()
	entry := &podEntry{pod: pod, podIP: podIP, containers: make(map[string]Container, len(containers))}
	for _, c := range containers {
		entry.containers[c.Name] = c
	}
	m.pods[pod.UID] = entry
	deleting := pod.DeletionTimestamp != nil
	for _, spec := range probedContainers(pod) {
		c, known := entry.containers[spec.Name]
		for _, typ := range []Type{Liveness, Readiness, Startup} {
			if typ.spec(spec) == nil {
				continue
			}
			key := workerKey{uid: pod.UID, container: spec.Name, typ: typ}
			w, exists := m.workers[key]
			switch {
			case deleting && typ != Readiness:
				if exists {
					w.stop()
					delete(m.workers, key)
				}
			case !exists && known && c.Running:
				w = newWorker(m, key, typ.spec(spec))
				w.seen = c.ID
				m.workers[key] = w
				m.wg.Add(1)
				go w.run(m.ctx)
			case exists && known && c.ID != w.seen:
				w.seen = c.ID
				w.poke()
			}
		}
	}
}

// RemovePod stops the pod's workers and forgets its results.
func (m *Manager) RemovePod(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.pods, uid)
	for key, w := range m.workers {
		if key.uid == uid {
			w.stop()
			delete(m.workers, key)
		}
	}
	for key := range m.results {
		if key.uid == uid {
			delete(m.results, key)
		}
	}
}

// Result returns the cached result of container id's probe of type typ,
// and whether there is one (none: the probe has not concluded since the
// container started, or the container has no such probe).
func (m *Manager) Result(uid types.UID, containerID string, typ Type) (Result, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.results[resultKey{uid: uid, containerID: containerID, typ: typ}]
	return r, ok
}

// setResult caches a result, calling OnChange when it changed. A startup
// success also wakes the container's other workers, which wait for it.
func (m *Manager) setResult(key workerKey, containerID string, r Result) {
	m.mu.Lock()
	rk := resultKey{uid: key.uid, containerID: containerID, typ: key.typ}
	old, had := m.results[rk]
	m.results[rk] = r
	if key.typ == Startup && r == Success {
		for _, typ := range []Type{Liveness, Readiness} {
			if w, ok := m.workers[workerKey{uid: key.uid, container: key.container, typ: typ}]; ok {
				w.poke()
			}
		}
	}
	m.mu.Unlock()
	if !had || old != r {
		m.cfg.OnChange(key.uid)
	}
}

// forgetResult drops a container's cached result (the worker moved on to
// a newer container).
func (m *Manager) forgetResult(key workerKey, containerID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.results, resultKey{uid: key.uid, containerID: containerID, typ: key.typ})
}

// target is what a worker needs to probe once.
type target struct {
	pod       *corev1.Pod
	podIP     string
	spec      *corev1.Container
	container Container
	// started: the container has no startup probe, passed it, or was
	// started already by the agent's account.
	started bool
}

// target returns the worker's container as last heard, false when the
// pod is unknown.
func (m *Manager) target(key workerKey) (target, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	entry, ok := m.pods[key.uid]
	if !ok {
		return target{}, false
	}
	t := target{pod: entry.pod, podIP: entry.podIP, container: entry.containers[key.container]}
	for _, spec := range probedContainers(entry.pod) {
		if spec.Name == key.container {
			t.spec = spec
		}
	}
	if t.spec == nil {
		return target{}, false
	}
	t.started = t.spec.StartupProbe == nil || t.container.Started ||
		m.results[resultKey{uid: key.uid, containerID: t.container.ID, typ: Startup}] == Success
	return t, true
}

// done is called by a worker when its loop ends.
func (m *Manager) done(w *worker) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.workers[w.key] == w {
		delete(m.workers, w.key)
	}
}

// event records a container event, if the manager has a recorder.
func (m *Manager) event(pod *corev1.Pod, container, eventType, reason, format string, args ...any) {
	if m.cfg.Recorder == nil {
		return
	}
	m.cfg.Recorder.Eventf(containerRef(pod, container), eventType, reason, format, args...)
}

// probedContainers are the containers of pod that may have probes: the
// app containers and the sidecars (restartable init containers; other
// init containers take no probes).
func probedContainers(pod *corev1.Pod) []*corev1.Container {
	var out []*corev1.Container
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			out = append(out, c)
		}
	}
	for i := range pod.Spec.Containers {
		out = append(out, &pod.Spec.Containers[i])
	}
	return out
}

// containerRef refers to one container of pod, as kubelet events do.
func containerRef(pod *corev1.Pod, name string) *corev1.ObjectReference {
	path := fmt.Sprintf("spec.containers{%s}", name)
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			path = fmt.Sprintf("spec.initContainers{%s}", name)
		}
	}
	return &corev1.ObjectReference{
		Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
		ResourceVersion: pod.ResourceVersion, FieldPath: path,
	}
}

func logger(ctx context.Context, key workerKey) klog.Logger {
	return klog.FromContext(ctx).WithValues("podUID", key.uid, "container", key.container, "probe", key.typ.String())
}
