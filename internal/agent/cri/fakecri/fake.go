package fakecri

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/navarch/navarch/internal/agent/cri"
)

// Runtime is the fake. The zero value is not usable; call New.
type Runtime struct {
	// mu guards every field below.
	mu         sync.Mutex
	nextID     int
	sandboxes  map[string]*runtimeapi.PodSandboxStatus
	sandboxCfg map[string]*runtimeapi.PodSandboxConfig
	containers map[string]*container
	images     map[string]*runtimeapi.Image
	registry   map[string]*runtimeapi.Image
	calls      []string
	// networkReady is what Status reports for NetworkReady.
	networkReady bool
	// now is the fake's clock (time.Now unless SetClock).
	now func() time.Time
	// sandboxStatsErr is what ListPodSandboxStats fails with, if not nil.
	sandboxStatsErr error
	// exec answers ExecSync (nil: every command exits 0 with no output).
	exec ExecFunc
}

// ExecFunc answers an ExecSync in the fake: the container's id and name,
// the command and its timeout. Returning an error wrapping
// cri.ErrExecTimeout models a command that outlived its timeout.
type ExecFunc func(id, name string, cmd []string, timeout time.Duration) (*runtimeapi.ExecSyncResponse, error)

type container struct {
	status *runtimeapi.ContainerStatus
	config *runtimeapi.ContainerConfig
	// sandboxID is the sandbox the container belongs to.
	sandboxID string
	// stopTimeout is the timeout of the last StopContainer call.
	stopTimeout int64
	// usage is what ListContainerStats reports while the container runs.
	usage Usage
}

// Usage is the resource usage the fake reports for a running container
// (SetUsage). CPU is cumulative, as a runtime measures it.
type Usage struct {
	// CPUCoreNanoSeconds is the container's total CPU time.
	CPUCoreNanoSeconds uint64
	// NanoCores, when not zero, is reported as UsageNanoCores; zero
	// reports none, as containerd 1.6 does.
	NanoCores uint64
	// WorkingSetBytes, UsageBytes and RSSBytes are the memory figures.
	WorkingSetBytes, UsageBytes, RSSBytes uint64
}

var _ cri.Runtime = (*Runtime)(nil)

// New returns an empty fake runtime whose network is ready.
func New() *Runtime {
	return &Runtime{
		sandboxes:    map[string]*runtimeapi.PodSandboxStatus{},
		sandboxCfg:   map[string]*runtimeapi.PodSandboxConfig{},
		containers:   map[string]*container{},
		images:       map[string]*runtimeapi.Image{},
		registry:     map[string]*runtimeapi.Image{},
		networkReady: true,
		now:          time.Now,
	}
}

// SetClock makes the fake stamp creation, start and exit times with now
// (tests pair it with a fake clock).
func (f *Runtime) SetClock(now func() time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = now
}

// SetExec makes ExecSync answer with fn.
func (f *Runtime) SetExec(fn ExecFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.exec = fn
}

// AddImage puts an image in the runtime's store, as if imported.
func (f *Runtime) AddImage(ref string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.images[ref] = &runtimeapi.Image{Id: "sha256:" + fmt.Sprintf("%064x", len(f.images)+1), RepoTags: []string{ref}}
}

// SetImageUser sets the user an added image runs as: a uid, or (uid
// nil) a user name, as containerd reports the image's config.
func (f *Runtime) SetImageUser(ref string, uid *int64, username string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if img, ok := f.images[ref]; ok {
		img.Username = username
		img.Uid = nil
		if uid != nil {
			img.Uid = &runtimeapi.Int64Value{Value: *uid}
		}
	}
}

// AddRegistryImage makes PullImage of ref succeed.
func (f *Runtime) AddRegistryImage(ref string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.registry[ref] = &runtimeapi.Image{Id: "sha256:" + fmt.Sprintf("%064x", 1000+len(f.registry)), RepoTags: []string{ref}}
}

// SetNetworkReady sets what Status reports for NetworkReady.
func (f *Runtime) SetNetworkReady(ready bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.networkReady = ready
}

// Calls returns the names of the calls made so far, in order
// ("RunPodSandbox", "CreateContainer web", ...).
func (f *Runtime) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// ResetCalls forgets the calls recorded so far.
func (f *Runtime) ResetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

// Exit ends a running container with code and reason ("" derives
// "Completed" or "Error" from code), as if its process exited.
func (f *Runtime) Exit(id string, code int32, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return fmt.Errorf("fakecri: no container %s", id)
	}
	f.exitLocked(c, code, reason)
	return nil
}

func (f *Runtime) exitLocked(c *container, code int32, reason string) {
	if c.status.State == runtimeapi.ContainerState_CONTAINER_EXITED {
		return
	}
	if reason == "" {
		reason = "Completed"
		if code != 0 {
			reason = "Error"
		}
	}
	c.status.State = runtimeapi.ContainerState_CONTAINER_EXITED
	c.status.ExitCode = code
	c.status.Reason = reason
	c.status.FinishedAt = f.now().UnixNano()
}

// SetUsage sets what ListContainerStats reports for a container from now
// on (stamped with the fake's clock).
func (f *Runtime) SetUsage(id string, u Usage) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return fmt.Errorf("fakecri: no container %s", id)
	}
	c.usage = u
	return nil
}

// FailSandboxStats makes ListPodSandboxStats fail with err (nil: succeed),
// as containerd does for sandboxes without a cgroup parent.
func (f *Runtime) FailSandboxStats(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sandboxStatsErr = err
}

// SandboxConfig returns the config a sandbox was created with.
func (f *Runtime) SandboxConfig(id string) *runtimeapi.PodSandboxConfig {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sandboxCfg[id]
}

// ContainerConfig returns the config a container was created with.
func (f *Runtime) ContainerConfig(id string) *runtimeapi.ContainerConfig {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.containers[id]; ok {
		return c.config
	}
	return nil
}

// StopTimeout returns the timeout of the last StopContainer on id.
func (f *Runtime) StopTimeout(id string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.containers[id]; ok {
		return c.stopTimeout
	}
	return 0
}

func (f *Runtime) record(call string) { f.calls = append(f.calls, call) }

func (f *Runtime) newID(prefix string) string {
	f.nextID++
	return fmt.Sprintf("%s%04d", prefix, f.nextID)
}

func notFound(kind, id string) error {
	return status.Errorf(codes.NotFound, "%s %q not found", kind, id)
}

func (f *Runtime) Version(context.Context) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{Version: "0.1.0", RuntimeName: "fakecri", RuntimeVersion: "1.0.0", RuntimeApiVersion: "v1"}, nil
}

func (f *Runtime) Status(_ context.Context, verbose bool) (*runtimeapi.StatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &runtimeapi.StatusResponse{Status: &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
		{Type: runtimeapi.RuntimeReady, Status: true},
		{Type: runtimeapi.NetworkReady, Status: f.networkReady},
	}}}
	if verbose {
		resp.Info = map[string]string{"config": `{"sandboxImage":"localhost/fake/pause:1"}`}
	}
	return resp, nil
}

func (f *Runtime) RunPodSandbox(_ context.Context, config *runtimeapi.PodSandboxConfig) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("RunPodSandbox " + config.GetMetadata().GetName())
	id := f.newID("sandbox")
	ip := fmt.Sprintf("10.88.%d.%d", f.nextID/250, f.nextID%250+2)
	f.sandboxes[id] = &runtimeapi.PodSandboxStatus{
		Id: id, Metadata: config.Metadata, State: runtimeapi.PodSandboxState_SANDBOX_READY,
		CreatedAt: f.now().UnixNano(), Network: &runtimeapi.PodSandboxNetworkStatus{Ip: ip},
		Labels: maps.Clone(config.Labels), Annotations: maps.Clone(config.Annotations),
	}
	f.sandboxCfg[id] = config
	return id, nil
}

func (f *Runtime) StopPodSandbox(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("StopPodSandbox")
	s, ok := f.sandboxes[id]
	if !ok {
		return nil
	}
	for _, c := range f.containers {
		if c.sandboxID == id {
			f.exitLocked(c, 137, "")
		}
	}
	s.State = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
	s.Network = &runtimeapi.PodSandboxNetworkStatus{}
	return nil
}

func (f *Runtime) RemovePodSandbox(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("RemovePodSandbox")
	for cid, c := range f.containers {
		if c.sandboxID == id {
			delete(f.containers, cid)
		}
	}
	delete(f.sandboxes, id)
	delete(f.sandboxCfg, id)
	return nil
}

func (f *Runtime) PodSandboxStatus(_ context.Context, id string) (*runtimeapi.PodSandboxStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sandboxes[id]
	if !ok {
		return nil, notFound("sandbox", id)
	}
	return cloneSandboxStatus(s), nil
}

func cloneSandboxStatus(s *runtimeapi.PodSandboxStatus) *runtimeapi.PodSandboxStatus {
	return proto.Clone(s).(*runtimeapi.PodSandboxStatus)
}

func (f *Runtime) ListPodSandbox(_ context.Context, filter *runtimeapi.PodSandboxFilter) ([]*runtimeapi.PodSandbox, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*runtimeapi.PodSandbox
	for _, id := range slices.Sorted(maps.Keys(f.sandboxes)) {
		s := f.sandboxes[id]
		if filter != nil {
			if filter.Id != "" && filter.Id != id {
				continue
			}
			if filter.State != nil && filter.State.State != s.State {
				continue
			}
			if !labelsMatch(s.Labels, filter.LabelSelector) {
				continue
			}
		}
		out = append(out, &runtimeapi.PodSandbox{Id: id, Metadata: s.Metadata, State: s.State, CreatedAt: s.CreatedAt,
			Labels: maps.Clone(s.Labels), Annotations: maps.Clone(s.Annotations)})
	}
	return out, nil
}

func labelsMatch(labels, selector map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func (f *Runtime) CreateContainer(_ context.Context, sandboxID string, config *runtimeapi.ContainerConfig, _ *runtimeapi.PodSandboxConfig) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("CreateContainer " + config.GetMetadata().GetName())
	s, ok := f.sandboxes[sandboxID]
	if !ok || s.State != runtimeapi.PodSandboxState_SANDBOX_READY {
		return "", status.Errorf(codes.FailedPrecondition, "sandbox %q is not ready", sandboxID)
	}
	img, ok := f.images[config.GetImage().GetImage()]
	if !ok {
		return "", status.Errorf(codes.NotFound, "image %q not found", config.GetImage().GetImage())
	}
	id := f.newID("container")
	f.containers[id] = &container{
		sandboxID: sandboxID,
		config:    config,
		status: &runtimeapi.ContainerStatus{
			Id: id, Metadata: config.Metadata, State: runtimeapi.ContainerState_CONTAINER_CREATED,
			CreatedAt: f.now().UnixNano(), Image: config.Image, ImageRef: img.Id,
			Labels: maps.Clone(config.Labels), Annotations: maps.Clone(config.Annotations),
			LogPath: config.LogPath, Mounts: config.Mounts,
		},
	}
	return id, nil
}

func (f *Runtime) StartContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return notFound("container", id)
	}
	f.record("StartContainer " + c.config.GetMetadata().GetName())
	if c.status.State != runtimeapi.ContainerState_CONTAINER_CREATED {
		return status.Errorf(codes.FailedPrecondition, "container %q is not in created state", id)
	}
	c.status.State = runtimeapi.ContainerState_CONTAINER_RUNNING
	c.status.StartedAt = f.now().UnixNano()
	return nil
}

func (f *Runtime) StopContainer(_ context.Context, id string, timeout int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return nil
	}
	f.record("StopContainer " + c.config.GetMetadata().GetName())
	c.stopTimeout = timeout
	f.exitLocked(c, 137, "")
	return nil
}

func (f *Runtime) RemoveContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.containers[id]; ok {
		f.record("RemoveContainer " + c.config.GetMetadata().GetName())
	}
	delete(f.containers, id)
	return nil
}

func (f *Runtime) ListContainers(_ context.Context, filter *runtimeapi.ContainerFilter) ([]*runtimeapi.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*runtimeapi.Container
	for _, id := range slices.Sorted(maps.Keys(f.containers)) {
		c := f.containers[id]
		if filter != nil {
			if filter.Id != "" && filter.Id != id {
				continue
			}
			if filter.PodSandboxId != "" && filter.PodSandboxId != c.sandboxID {
				continue
			}
			if filter.State != nil && filter.State.State != c.status.State {
				continue
			}
			if !labelsMatch(c.status.Labels, filter.LabelSelector) {
				continue
			}
		}
		out = append(out, &runtimeapi.Container{Id: id, PodSandboxId: c.sandboxID, Metadata: c.status.Metadata,
			Image: c.status.Image, ImageRef: c.status.ImageRef, State: c.status.State, CreatedAt: c.status.CreatedAt,
			Labels: maps.Clone(c.status.Labels), Annotations: maps.Clone(c.status.Annotations)})
	}
	return out, nil
}

func (f *Runtime) ContainerStatus(_ context.Context, id string) (*runtimeapi.ContainerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return nil, notFound("container", id)
	}
	return proto.Clone(c.status).(*runtimeapi.ContainerStatus), nil
}

func (f *Runtime) ExecSync(_ context.Context, id string, cmd []string, timeout time.Duration) (*runtimeapi.ExecSyncResponse, error) {
	f.mu.Lock()
	c, ok := f.containers[id]
	if !ok {
		f.mu.Unlock()
		return nil, notFound("container", id)
	}
	name := c.config.GetMetadata().GetName()
	f.record("ExecSync " + name + " " + strings.Join(cmd, " "))
	running := c.status.State == runtimeapi.ContainerState_CONTAINER_RUNNING
	fn := f.exec
	f.mu.Unlock()
	if !running {
		return nil, status.Errorf(codes.NotFound, "container %q is not running", id)
	}
	if fn == nil {
		return &runtimeapi.ExecSyncResponse{}, nil
	}
	// fn runs without the lock: it may block (a slow command) or call
	// back into the fake.
	return fn(id, name, cmd, timeout)
}

func (f *Runtime) ImageStatus(_ context.Context, image *runtimeapi.ImageSpec) (*runtimeapi.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if img, ok := f.images[image.GetImage()]; ok {
		return proto.Clone(img).(*runtimeapi.Image), nil
	}
	return nil, nil
}

func (f *Runtime) PullImage(_ context.Context, image *runtimeapi.ImageSpec, _ *runtimeapi.PodSandboxConfig) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("PullImage " + image.GetImage())
	img, ok := f.registry[image.GetImage()]
	if !ok {
		return "", status.Errorf(codes.Unknown, "failed to pull and unpack image %q: failed to resolve reference %q: not found", image.GetImage(), image.GetImage())
	}
	f.images[image.GetImage()] = img
	return img.Id, nil
}

func (f *Runtime) ListImages(context.Context, *runtimeapi.ImageFilter) ([]*runtimeapi.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*runtimeapi.Image
	for _, ref := range slices.Sorted(maps.Keys(f.images)) {
		out = append(out, proto.Clone(f.images[ref]).(*runtimeapi.Image))
	}
	return out, nil
}

// ListContainerStats reports the running containers matching filter with
// the usage set by SetUsage (zero until then). Containers that are not
// running are left out, as containerd leaves out containers without a
// task.
func (f *Runtime) ListContainerStats(_ context.Context, filter *runtimeapi.ContainerStatsFilter) ([]*runtimeapi.ContainerStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*runtimeapi.ContainerStats
	for _, id := range slices.Sorted(maps.Keys(f.containers)) {
		c := f.containers[id]
		if c.status.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
			continue
		}
		if filter != nil {
			if filter.Id != "" && filter.Id != id {
				continue
			}
			if filter.PodSandboxId != "" && filter.PodSandboxId != c.sandboxID {
				continue
			}
			if !labelsMatch(c.status.Labels, filter.LabelSelector) {
				continue
			}
		}
		out = append(out, f.containerStatsLocked(c))
	}
	return out, nil
}

func (f *Runtime) containerStatsLocked(c *container) *runtimeapi.ContainerStats {
	now := f.now().UnixNano()
	return &runtimeapi.ContainerStats{
		Attributes: &runtimeapi.ContainerAttributes{Id: c.status.Id, Metadata: c.status.Metadata,
			Labels: maps.Clone(c.status.Labels), Annotations: maps.Clone(c.status.Annotations)},
		Cpu: &runtimeapi.CpuUsage{Timestamp: now,
			UsageCoreNanoSeconds: &runtimeapi.UInt64Value{Value: c.usage.CPUCoreNanoSeconds},
			UsageNanoCores:       &runtimeapi.UInt64Value{Value: c.usage.NanoCores}},
		Memory: &runtimeapi.MemoryUsage{Timestamp: now,
			WorkingSetBytes: &runtimeapi.UInt64Value{Value: c.usage.WorkingSetBytes},
			UsageBytes:      &runtimeapi.UInt64Value{Value: c.usage.UsageBytes},
			RssBytes:        &runtimeapi.UInt64Value{Value: c.usage.RSSBytes}},
	}
}

// ListPodSandboxStats reports the ready sandboxes matching filter, each
// with its running containers' stats and their sums as the sandbox's
// own (the fake has no pause container to add), unless FailSandboxStats
// set an error.
func (f *Runtime) ListPodSandboxStats(_ context.Context, filter *runtimeapi.PodSandboxStatsFilter) ([]*runtimeapi.PodSandboxStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sandboxStatsErr != nil {
		return nil, f.sandboxStatsErr
	}
	var out []*runtimeapi.PodSandboxStats
	containerIDs := slices.Sorted(maps.Keys(f.containers))
	for _, id := range slices.Sorted(maps.Keys(f.sandboxes)) {
		s := f.sandboxes[id]
		if s.State != runtimeapi.PodSandboxState_SANDBOX_READY {
			continue
		}
		if filter != nil {
			if filter.Id != "" && filter.Id != id {
				continue
			}
			if !labelsMatch(s.Labels, filter.LabelSelector) {
				continue
			}
		}
		now := f.now().UnixNano()
		var cpu, ws, usage, rss uint64
		var containers []*runtimeapi.ContainerStats
		for _, cid := range containerIDs {
			c := f.containers[cid]
			if c.sandboxID != id || c.status.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
				continue
			}
			containers = append(containers, f.containerStatsLocked(c))
			cpu += c.usage.CPUCoreNanoSeconds
			ws += c.usage.WorkingSetBytes
			usage += c.usage.UsageBytes
			rss += c.usage.RSSBytes
		}
		out = append(out, &runtimeapi.PodSandboxStats{
			Attributes: &runtimeapi.PodSandboxAttributes{Id: id, Metadata: s.Metadata,
				Labels: maps.Clone(s.Labels), Annotations: maps.Clone(s.Annotations)},
			Linux: &runtimeapi.LinuxPodSandboxStats{
				Cpu: &runtimeapi.CpuUsage{Timestamp: now, UsageCoreNanoSeconds: &runtimeapi.UInt64Value{Value: cpu}},
				Memory: &runtimeapi.MemoryUsage{Timestamp: now, WorkingSetBytes: &runtimeapi.UInt64Value{Value: ws},
					UsageBytes: &runtimeapi.UInt64Value{Value: usage}, RssBytes: &runtimeapi.UInt64Value{Value: rss}},
				Containers: containers,
			},
		})
	}
	return out, nil
}
