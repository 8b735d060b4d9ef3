package cri

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// maxMessageSize is the largest gRPC message the client accepts (as the
// kubelet's: 16 MiB, for long container lists).
const maxMessageSize = 16 << 20

// Client is a Runtime over CRI v1 gRPC. It is safe for concurrent use;
// the connection reconnects by itself when the runtime restarts.
type Client struct {
	conn    *grpc.ClientConn
	runtime runtimeapi.RuntimeServiceClient
	images  runtimeapi.ImageServiceClient
}

var _ Runtime = (*Client)(nil)

// SocketPath returns the filesystem path of a CRI endpoint given as
// "unix:///run/x.sock" or as a plain path. Other schemes are an error.
func SocketPath(endpoint string) (string, error) {
	switch {
	case strings.HasPrefix(endpoint, "unix://"):
		return strings.TrimPrefix(endpoint, "unix://"), nil
	case strings.Contains(endpoint, "://"):
		return "", fmt.Errorf("cri: endpoint %q: only unix sockets are supported", endpoint)
	case endpoint == "":
		return "", fmt.Errorf("cri: empty endpoint")
	}
	return endpoint, nil
}

// Dial connects to the CRI endpoint (a unix socket) and checks that it
// answers Version. It returns an error when it cannot within ctx.
func Dial(ctx context.Context, endpoint string) (*Client, error) {
	path, err := SocketPath(endpoint)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient("passthrough:///"+path,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageSize), grpc.MaxCallSendMsgSize(maxMessageSize)),
	)
	if err != nil {
		return nil, fmt.Errorf("cri: connecting to %s: %w", endpoint, err)
	}
	c := &Client{conn: conn, runtime: runtimeapi.NewRuntimeServiceClient(conn), images: runtimeapi.NewImageServiceClient(conn)}
	if _, err := c.Version(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// WaitReachable polls endpoint until a CRI Version call succeeds or ctx
// ends (then it returns the last error).
func WaitReachable(ctx context.Context, endpoint string) error {
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		c, err := Dial(attempt, endpoint)
		cancel()
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cri: %s not reachable: %w", endpoint, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Close ends the connection.
func (c *Client) Close() error { return c.conn.Close() }

func (c *Client) Version(ctx context.Context) (*runtimeapi.VersionResponse, error) {
	resp, err := c.runtime.Version(ctx, &runtimeapi.VersionRequest{Version: "v1"})
	if err != nil {
		return nil, fmt.Errorf("cri: version: %w", err)
	}
	return resp, nil
}

func (c *Client) Status(ctx context.Context, verbose bool) (*runtimeapi.StatusResponse, error) {
	resp, err := c.runtime.Status(ctx, &runtimeapi.StatusRequest{Verbose: verbose})
	if err != nil {
		return nil, fmt.Errorf("cri: status: %w", err)
	}
	return resp, nil
}

func (c *Client) RunPodSandbox(ctx context.Context, config *runtimeapi.PodSandboxConfig) (string, error) {
	resp, err := c.runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: config})
	if err != nil {
		return "", fmt.Errorf("cri: run pod sandbox: %w", err)
	}
	return resp.PodSandboxId, nil
}

func (c *Client) StopPodSandbox(ctx context.Context, id string) error {
	if _, err := c.runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil && !IsNotFound(err) {
		return fmt.Errorf("cri: stop pod sandbox %s: %w", id, err)
	}
	return nil
}

func (c *Client) RemovePodSandbox(ctx context.Context, id string) error {
	if _, err := c.runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil && !IsNotFound(err) {
		return fmt.Errorf("cri: remove pod sandbox %s: %w", id, err)
	}
	return nil
}

func (c *Client) PodSandboxStatus(ctx context.Context, id string) (*runtimeapi.PodSandboxStatus, error) {
	resp, err := c.runtime.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil {
		return nil, fmt.Errorf("cri: pod sandbox status %s: %w", id, err)
	}
	return resp.Status, nil
}

func (c *Client) ListPodSandbox(ctx context.Context, filter *runtimeapi.PodSandboxFilter) ([]*runtimeapi.PodSandbox, error) {
	resp, err := c.runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: filter})
	if err != nil {
		return nil, fmt.Errorf("cri: list pod sandboxes: %w", err)
	}
	return resp.Items, nil
}

func (c *Client) CreateContainer(ctx context.Context, sandboxID string, config *runtimeapi.ContainerConfig, sandboxConfig *runtimeapi.PodSandboxConfig) (string, error) {
	resp, err := c.runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sandboxID, Config: config, SandboxConfig: sandboxConfig})
	if err != nil {
		return "", fmt.Errorf("cri: create container: %w", err)
	}
	return resp.ContainerId, nil
}

func (c *Client) StartContainer(ctx context.Context, id string) error {
	if _, err := c.runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		return fmt.Errorf("cri: start container %s: %w", id, err)
	}
	return nil
}

func (c *Client) StopContainer(ctx context.Context, id string, timeoutSeconds int64) error {
	if _, err := c.runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: timeoutSeconds}); err != nil && !IsNotFound(err) {
		return fmt.Errorf("cri: stop container %s: %w", id, err)
	}
	return nil
}

func (c *Client) RemoveContainer(ctx context.Context, id string) error {
	if _, err := c.runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil && !IsNotFound(err) {
		return fmt.Errorf("cri: remove container %s: %w", id, err)
	}
	return nil
}

func (c *Client) ListContainers(ctx context.Context, filter *runtimeapi.ContainerFilter) ([]*runtimeapi.Container, error) {
	resp, err := c.runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: filter})
	if err != nil {
		return nil, fmt.Errorf("cri: list containers: %w", err)
	}
	return resp.Containers, nil
}

func (c *Client) ContainerStatus(ctx context.Context, id string) (*runtimeapi.ContainerStatus, error) {
	resp, err := c.runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		return nil, fmt.Errorf("cri: container status %s: %w", id, err)
	}
	return resp.Status, nil
}

// execTimeoutSlack is how much longer than the command's own timeout an
// ExecSync call may take: the runtime needs time to kill the command and
// answer.
const execTimeoutSlack = 10 * time.Second

func (c *Client) ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) (*runtimeapi.ExecSyncResponse, error) {
	req := &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: cmd}
	if timeout > 0 {
		// CRI counts whole seconds; a sub-second timeout rounds up.
		req.Timeout = int64((timeout + time.Second - 1) / time.Second)
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout+execTimeoutSlack)
		defer cancel()
	}
	resp, err := c.runtime.ExecSync(ctx, req)
	if err != nil {
		if status.Code(err) == codes.DeadlineExceeded {
			return nil, fmt.Errorf("%w: command %q in container %s: %w", ErrExecTimeout, strings.Join(cmd, " "), id, err)
		}
		return nil, fmt.Errorf("cri: exec in container %s: %w", id, err)
	}
	return resp, nil
}

func (c *Client) ImageStatus(ctx context.Context, image *runtimeapi.ImageSpec) (*runtimeapi.Image, error) {
	resp, err := c.images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: image})
	if err != nil {
		return nil, fmt.Errorf("cri: image status %s: %w", image.GetImage(), err)
	}
	return resp.Image, nil
}

func (c *Client) PullImage(ctx context.Context, image *runtimeapi.ImageSpec, sandboxConfig *runtimeapi.PodSandboxConfig) (string, error) {
	resp, err := c.images.PullImage(ctx, &runtimeapi.PullImageRequest{Image: image, SandboxConfig: sandboxConfig})
	if err != nil {
		return "", fmt.Errorf("cri: pull image %s: %w", image.GetImage(), err)
	}
	return resp.ImageRef, nil
}

func (c *Client) ListImages(ctx context.Context, filter *runtimeapi.ImageFilter) ([]*runtimeapi.Image, error) {
	resp, err := c.images.ListImages(ctx, &runtimeapi.ListImagesRequest{Filter: filter})
	if err != nil {
		return nil, fmt.Errorf("cri: list images: %w", err)
	}
	return resp.Images, nil
}

func (c *Client) ListContainerStats(ctx context.Context, filter *runtimeapi.ContainerStatsFilter) ([]*runtimeapi.ContainerStats, error) {
	resp, err := c.runtime.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{Filter: filter})
	if err != nil {
		return nil, fmt.Errorf("cri: list container stats: %w", err)
	}
	return resp.Stats, nil
}

func (c *Client) ListPodSandboxStats(ctx context.Context, filter *runtimeapi.PodSandboxStatsFilter) ([]*runtimeapi.PodSandboxStats, error) {
	resp, err := c.runtime.ListPodSandboxStats(ctx, &runtimeapi.ListPodSandboxStatsRequest{Filter: filter})
	if err != nil {
		return nil, fmt.Errorf("cri: list pod sandbox stats: %w", err)
	}
	return resp.Stats, nil
}

// IsNotFound reports whether err (possibly wrapped) is the runtime's "no
// such object".
func IsNotFound(err error) bool {
	return status.Code(err) == codes.NotFound
}
