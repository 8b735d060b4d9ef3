package stats

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/navarch/navarch/internal/agent/cri"
)

// DefaultInterval is how often Start samples unless Config.Interval says
// otherwise: the kubelet's housekeeping period.
const DefaultInterval = 10 * time.Second

// Runtime is what the provider reads from the container runtime.
// *cri.Client and fakecri implement it.
type Runtime interface {
	ListPodSandbox(ctx context.Context, filter *runtimeapi.PodSandboxFilter) ([]*runtimeapi.PodSandbox, error)
	ListContainers(ctx context.Context, filter *runtimeapi.ContainerFilter) ([]*runtimeapi.Container, error)
	cri.StatsManager
}

var _ Runtime = (*cri.Client)(nil)

// Config is what a Provider needs.
type Config struct {
	// NodeName names the node in the Summary. Required.
	NodeName string
	// Runtime is the CRI runtime the agent runs pods on. Required.
	Runtime Runtime
	// ProcDir is where procfs is mounted; default /proc.
	ProcDir string
	// Interval is how often Start samples; default DefaultInterval.
	Interval time.Duration
	// Clock tells the time; default time.Now. Container samples carry
	// the runtime's own timestamps.
	Clock func() time.Time
}

// Provider samples the node's and its pods' resource usage and serves the
// latest sample (ServeHTTP, Summary). Create it with New. It is safe for
// concurrent use.
type Provider struct {
	cfg Config
	// sampleMu serialises samples: one round of CRI calls at a time, and
	// rates is touched only under it.
	sampleMu sync.Mutex
	rates    *rateTracker
	// sandboxStatsFailed is set once ListPodSandboxStats has failed (it
	// is logged once); guarded by sampleMu.
	sandboxStatsFailed bool

	// mu guards latest and latestAt.
	mu       sync.Mutex
	latest   *statsapi.Summary
	latestAt time.Time
}

// New checks cfg, fills its defaults and returns a Provider. It samples
// nothing yet.
func New(cfg Config) (*Provider, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("stats: no node name")
	}
	if cfg.Runtime == nil {
		return nil, errors.New("stats: no runtime")
	}
	if cfg.ProcDir == "" {
		cfg.ProcDir = "/proc"
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Provider{cfg: cfg, rates: newRateTracker()}, nil
}

// Start samples at once and then every Interval until ctx ends, and
// returns nil then. A failed sample is logged and the previous one kept.
func (p *Provider) Start(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithName("stats")
	ticker := time.NewTicker(p.cfg.Interval)
	defer ticker.Stop()
	for {
		if _, err := p.sample(ctx, false); err != nil && ctx.Err() == nil {
			logger.Error(err, "Sampling resource usage failed")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// Summary returns the latest sample, taking one first when there is none
// younger than one and a half Intervals. The result is shared: callers
// must not modify it.
func (p *Provider) Summary(ctx context.Context) (*statsapi.Summary, error) {
	if s := p.fresh(); s != nil {
		return s, nil
	}
	return p.sample(ctx, true)
}

// fresh returns the latest sample if it is young enough to serve.
func (p *Provider) fresh() *statsapi.Summary {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.latest != nil && p.cfg.Clock().Sub(p.latestAt) < p.cfg.Interval+p.cfg.Interval/2 {
		return p.latest
	}
	return nil
}

// sample reads the host and the runtime and makes the result the latest
// sample. Samples never overlap: a caller waits for the one under way,
// and with ifStale returns that one instead of taking another if it is
// fresh.
func (p *Provider) sample(ctx context.Context, ifStale bool) (*statsapi.Summary, error) {
	p.sampleMu.Lock()
	defer p.sampleMu.Unlock()
	if ifStale {
		if s := p.fresh(); s != nil {
			return s, nil
		}
	}
	s, err := p.build(ctx)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.latest, p.latestAt = s, p.cfg.Clock()
	p.mu.Unlock()
	return s, nil
}

// managed selects what this agent made.
var managed = map[string]string{cri.LabelManagedBy: cri.ManagedByAgent}

// build takes one sample. The caller holds sampleMu.
func (p *Provider) build(ctx context.Context) (*statsapi.Summary, error) {
	host, err := readHost(p.cfg.ProcDir)
	if err != nil {
		return nil, err
	}
	now := p.cfg.Clock()
	rt := p.cfg.Runtime
	sandboxes, err := rt.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{
		State:         &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY},
		LabelSelector: managed,
	})
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	containers, err := rt.ListContainers(ctx, &runtimeapi.ContainerFilter{
		State:         &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING},
		LabelSelector: managed,
	})
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	containerStats, err := rt.ListContainerStats(ctx, &runtimeapi.ContainerStatsFilter{LabelSelector: managed})
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	sandboxStats := p.sandboxStats(ctx)

	summary := &statsapi.Summary{Node: p.nodeStats(host, now), Pods: []statsapi.PodStats{}}

	// The newest ready sandbox of each pod.
	podSandbox := map[string]*runtimeapi.PodSandbox{}
	var order []string
	for _, sb := range sandboxes {
		uid := sb.GetMetadata().GetUid()
		if old, ok := podSandbox[uid]; !ok {
			order = append(order, uid)
		} else if old.CreatedAt > sb.CreatedAt {
			continue
		}
		podSandbox[uid] = sb
	}
	statsByID := make(map[string]*runtimeapi.ContainerStats, len(containerStats))
	for _, cs := range containerStats {
		statsByID[cs.GetAttributes().GetId()] = cs
	}
	bySandbox := map[string][]*runtimeapi.Container{}
	for _, c := range containers {
		bySandbox[c.PodSandboxId] = append(bySandbox[c.PodSandboxId], c)
	}
	for _, uid := range order {
		sb := podSandbox[uid]
		summary.Pods = append(summary.Pods, p.podStats(sb, bySandbox[sb.Id], statsByID, sandboxStats[sb.Id], now))
	}
	p.rates.endRound()
	return summary, nil
}

// sandboxStats returns the runtime's stats of whole sandboxes by id, or
// nil when it cannot give them (logged the first time).
func (p *Provider) sandboxStats(ctx context.Context) map[string]*runtimeapi.PodSandboxStats {
	list, err := p.cfg.Runtime.ListPodSandboxStats(ctx, &runtimeapi.PodSandboxStatsFilter{LabelSelector: managed})
	if err != nil {
		if !p.sandboxStatsFailed {
			p.sandboxStatsFailed = true
			klog.FromContext(ctx).V(2).Info("The runtime gives no pod sandbox stats; pod figures are the sums of their containers", "err", err)
		}
		return nil
	}
	out := make(map[string]*runtimeapi.PodSandboxStats, len(list))
	for _, s := range list {
		out[s.GetAttributes().GetId()] = s
	}
	return out
}

// nodeStats is the node's part of the Summary.
func (p *Provider) nodeStats(h hostSample, now time.Time) statsapi.NodeStats {
	t := metav1.NewTime(now)
	cpu := &statsapi.CPUStats{Time: t, UsageCoreNanoSeconds: ptr(h.cpuTotal)}
	if r, ok := p.rates.observe("node", cpuSample{at: now, total: h.cpuTotal}); ok {
		cpu.UsageNanoCores = ptr(r)
	} else if r, ok := lifetimeRate(h.cpuTotal, h.bootTime, now); ok {
		cpu.UsageNanoCores = ptr(r)
	}
	ws := h.workingSet()
	mem := &statsapi.MemoryStats{
		Time:            t,
		AvailableBytes:  ptr(h.memTotal - ws),
		UsageBytes:      ptr(h.usage()),
		WorkingSetBytes: ptr(ws),
		RSSBytes:        ptr(h.anonPages),
	}
	if h.hasFaults {
		mem.PageFaults, mem.MajorPageFaults = ptr(h.pageFaults), ptr(h.majorPageFaults)
	}
	return statsapi.NodeStats{NodeName: p.cfg.NodeName, StartTime: metav1.NewTime(h.bootTime), CPU: cpu, Memory: mem}
}

// podStats is one pod's part of the Summary: its running containers
// that the runtime has stats for, and the pod's totals (the sandbox's
// own when sbStats is not nil, else the containers' sums).
func (p *Provider) podStats(sb *runtimeapi.PodSandbox, containers []*runtimeapi.Container,
	statsByID map[string]*runtimeapi.ContainerStats, sbStats *runtimeapi.PodSandboxStats, now time.Time) statsapi.PodStats {
	md := sb.GetMetadata()
	ps := statsapi.PodStats{
		PodRef:     statsapi.PodReference{Name: md.GetName(), Namespace: md.GetNamespace(), UID: md.GetUid()},
		StartTime:  metav1.NewTime(time.Unix(0, sb.CreatedAt)),
		Containers: []statsapi.ContainerStats{},
	}
	var sum podSum
	for _, c := range containers {
		cs := statsByID[c.Id]
		if cs == nil {
			continue
		}
		created := time.Unix(0, c.CreatedAt)
		out := statsapi.ContainerStats{
			Name:      c.GetMetadata().GetName(),
			StartTime: metav1.NewTime(created),
			CPU:       p.cpuStats("container/"+c.Id, cs.Cpu, created, now),
			Memory:    memoryStats(cs.Memory, now),
		}
		sum.add(out)
		ps.Containers = append(ps.Containers, out)
	}
	if linux := sbStats.GetLinux(); linux != nil && linux.Cpu != nil && linux.Memory != nil {
		ps.CPU = p.cpuStats("sandbox/"+sb.Id, linux.Cpu, ps.StartTime.Time, now)
		ps.Memory = memoryStats(linux.Memory, now)
	} else {
		ps.CPU, ps.Memory = sum.cpu, sum.memory
	}
	return ps
}

// cpuStats turns a runtime CPU reading into the Summary's, with its rate
// (see the package doc). It returns nil when the reading has no
// cumulative figure.
func (p *Provider) cpuStats(key string, u *runtimeapi.CpuUsage, start, now time.Time) *statsapi.CPUStats {
	if u.GetUsageCoreNanoSeconds() == nil {
		return nil
	}
	at := now
	if u.Timestamp != 0 {
		at = time.Unix(0, u.Timestamp)
	}
	total := u.UsageCoreNanoSeconds.Value
	out := &statsapi.CPUStats{Time: metav1.NewTime(at), UsageCoreNanoSeconds: ptr(total)}
	if r, ok := p.rates.observe(key, cpuSample{at: at, total: total}); ok {
		out.UsageNanoCores = ptr(r)
	} else if n := u.GetUsageNanoCores().GetValue(); n != 0 {
		out.UsageNanoCores = ptr(n)
	} else if r, ok := lifetimeRate(total, start, at); ok {
		out.UsageNanoCores = ptr(r)
	}
	return out
}

// memoryStats turns a runtime memory reading into the Summary's, or nil
// when it has no working set.
func memoryStats(u *runtimeapi.MemoryUsage, now time.Time) *statsapi.MemoryStats {
	if u.GetWorkingSetBytes() == nil {
		return nil
	}
	at := now
	if u.Timestamp != 0 {
		at = time.Unix(0, u.Timestamp)
	}
	out := &statsapi.MemoryStats{Time: metav1.NewTime(at), WorkingSetBytes: ptr(u.WorkingSetBytes.Value)}
	if v := u.GetAvailableBytes().GetValue(); v != 0 {
		out.AvailableBytes = ptr(v)
	}
	if v := u.GetUsageBytes(); v != nil {
		out.UsageBytes = ptr(v.Value)
	}
	if v := u.GetRssBytes(); v != nil {
		out.RSSBytes = ptr(v.Value)
	}
	if v := u.GetPageFaults(); v != nil {
		out.PageFaults = ptr(v.Value)
	}
	if v := u.GetMajorPageFaults(); v != nil {
		out.MajorPageFaults = ptr(v.Value)
	}
	return out
}

// podSum adds up a pod's containers. The rate of the sum is left out
// when a container has none.
type podSum struct {
	cpu    *statsapi.CPUStats
	memory *statsapi.MemoryStats
}

func (s *podSum) add(c statsapi.ContainerStats) {
	if c.CPU != nil {
		if s.cpu == nil {
			s.cpu = &statsapi.CPUStats{Time: c.CPU.Time, UsageCoreNanoSeconds: ptr(uint64(0)), UsageNanoCores: ptr(uint64(0))}
		}
		if c.CPU.Time.After(s.cpu.Time.Time) {
			s.cpu.Time = c.CPU.Time
		}
		*s.cpu.UsageCoreNanoSeconds += *c.CPU.UsageCoreNanoSeconds
		if c.CPU.UsageNanoCores == nil {
			s.cpu.UsageNanoCores = nil
		} else if s.cpu.UsageNanoCores != nil {
			*s.cpu.UsageNanoCores += *c.CPU.UsageNanoCores
		}
	}
	if c.Memory != nil {
		if s.memory == nil {
			s.memory = &statsapi.MemoryStats{Time: c.Memory.Time, WorkingSetBytes: ptr(uint64(0)),
				UsageBytes: ptr(uint64(0)), RSSBytes: ptr(uint64(0))}
		}
		if c.Memory.Time.After(s.memory.Time.Time) {
			s.memory.Time = c.Memory.Time
		}
		*s.memory.WorkingSetBytes += *c.Memory.WorkingSetBytes
		addOpt(s.memory.UsageBytes, c.Memory.UsageBytes)
		addOpt(s.memory.RSSBytes, c.Memory.RSSBytes)
	}
}

func addOpt(sum, v *uint64) {
	if v != nil {
		*sum += *v
	}
}

func ptr(v uint64) *uint64 { return &v }
