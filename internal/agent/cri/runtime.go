package cri

import (
	"context"
	"errors"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Labels the agent sets on every sandbox and container it creates. They
// are the kubelet's own keys, so crictl and other tools show the pod a
// container belongs to, and an agent that restarts finds its pods'
// sandboxes and containers again by them.
const (
	LabelPodName       = "io.kubernetes.pod.name"
	LabelPodNamespace  = "io.kubernetes.pod.namespace"
	LabelPodUID        = "io.kubernetes.pod.uid"
	LabelContainerName = "io.kubernetes.container.name"
	// LabelManagedBy marks what this agent made, so it never touches
	// sandboxes of another CRI client sharing the runtime.
	LabelManagedBy = "io.navarch.managed-by"
	// ManagedByAgent is LabelManagedBy's value.
	ManagedByAgent = "navarch-agent"
)

// SandboxManager creates and removes pod sandboxes (the pause container
// holding a pod's namespaces, with its network set up by CNI).
type SandboxManager interface {
	// RunPodSandbox creates and starts a sandbox and returns its id.
	RunPodSandbox(ctx context.Context, config *runtimeapi.PodSandboxConfig) (string, error)
	// StopPodSandbox stops the sandbox and its containers and releases
	// its network (IP). Stopping a stopped or missing sandbox succeeds.
	StopPodSandbox(ctx context.Context, id string) error
	// RemovePodSandbox removes a sandbox and its containers. Removing a
	// missing sandbox succeeds.
	RemovePodSandbox(ctx context.Context, id string) error
	// PodSandboxStatus reports a sandbox's state and network.
	PodSandboxStatus(ctx context.Context, id string) (*runtimeapi.PodSandboxStatus, error)
	// ListPodSandbox lists sandboxes matching filter (nil: all).
	ListPodSandbox(ctx context.Context, filter *runtimeapi.PodSandboxFilter) ([]*runtimeapi.PodSandbox, error)
}

// ContainerManager creates, starts, stops and inspects containers.
type ContainerManager interface {
	// CreateContainer creates a container in a sandbox and returns its id.
	CreateContainer(ctx context.Context, sandboxID string, config *runtimeapi.ContainerConfig, sandboxConfig *runtimeapi.PodSandboxConfig) (string, error)
	StartContainer(ctx context.Context, id string) error
	// StopContainer sends the stop signal and, after timeoutSeconds,
	// SIGKILL. It blocks until the container has stopped.
	StopContainer(ctx context.Context, id string, timeoutSeconds int64) error
	RemoveContainer(ctx context.Context, id string) error
	ListContainers(ctx context.Context, filter *runtimeapi.ContainerFilter) ([]*runtimeapi.Container, error)
	ContainerStatus(ctx context.Context, id string) (*runtimeapi.ContainerStatus, error)
	// ExecSync runs cmd in a running container and waits for it to end,
	// returning its output and exit code. A positive timeout bounds the
	// command; when it passes, the error wraps ErrExecTimeout. A non-zero
	// exit code is not an error.
	ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) (*runtimeapi.ExecSyncResponse, error)
}

// ErrExecTimeout is wrapped by the error of an ExecSync whose command
// outlived its timeout.
var ErrExecTimeout = errors.New("cri: exec timed out")

// ImageManager looks up and pulls images in the runtime's image store.
type ImageManager interface {
	// ImageStatus returns the image, or nil (and no error) when the
	// runtime does not have it.
	ImageStatus(ctx context.Context, image *runtimeapi.ImageSpec) (*runtimeapi.Image, error)
	// PullImage pulls an image from its registry and returns its
	// reference (image id or repo digest).
	PullImage(ctx context.Context, image *runtimeapi.ImageSpec, sandboxConfig *runtimeapi.PodSandboxConfig) (string, error)
	ListImages(ctx context.Context, filter *runtimeapi.ImageFilter) ([]*runtimeapi.Image, error)
}

// StatsManager reads the resource usage the runtime measures for
// containers and sandboxes (CPU, memory, filesystem), as crictl stats
// shows it. The CPU figures are cumulative (UsageCoreNanoSeconds); a
// runtime may also fill UsageNanoCores from its previous sample, or leave
// it unset.
type StatsManager interface {
	// ListContainerStats returns the stats of the containers matching
	// filter (nil: all). Containers that are not running may be missing
	// or carry no CPU and memory figures.
	ListContainerStats(ctx context.Context, filter *runtimeapi.ContainerStatsFilter) ([]*runtimeapi.ContainerStats, error)
	// ListPodSandboxStats returns the stats of the sandboxes matching
	// filter (nil: all), with their containers'. A runtime that cannot
	// measure a sandbox as a whole (containerd when the sandbox has no
	// cgroup parent) answers an error; callers fall back to the sum of
	// the containers.
	ListPodSandboxStats(ctx context.Context, filter *runtimeapi.PodSandboxStatsFilter) ([]*runtimeapi.PodSandboxStats, error)
}

// Runtime is every runtime call the agent makes. Client implements it
// over CRI; fakecri implements it in memory for tests.
type Runtime interface {
	// Version reports the runtime's name and version ("containerd",
	// "1.6.20~ds1").
	Version(ctx context.Context) (*runtimeapi.VersionResponse, error)
	// Status reports the runtime's conditions (RuntimeReady,
	// NetworkReady); with verbose, Info carries runtime-specific detail
	// (containerd: its CRI config as JSON under "config").
	Status(ctx context.Context, verbose bool) (*runtimeapi.StatusResponse, error)
	SandboxManager
	ContainerManager
	ImageManager
	StatsManager
}
