package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Streamer prepares exec, attach and port-forward sessions. The runtime
// answers each call with a one-time URL on its own streaming server
// (containerd: the CRI plugin's stream_server_address), which the caller
// then opens with an upgraded (SPDY or WebSocket) connection.
type Streamer interface {
	Exec(ctx context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error)
	Attach(ctx context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error)
	PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error)
}

var _ Streamer = (*Client)(nil)

// Exec implements Streamer.
func (c *Client) Exec(ctx context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	resp, err := c.runtime.Exec(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("cri: exec in container %s: %w", req.GetContainerId(), err)
	}
	return resp, nil
}

// Attach implements Streamer.
func (c *Client) Attach(ctx context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	resp, err := c.runtime.Attach(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("cri: attach to container %s: %w", req.GetContainerId(), err)
	}
	return resp, nil
}

// PortForward implements Streamer.
func (c *Client) PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	resp, err := c.runtime.PortForward(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("cri: port-forward to sandbox %s: %w", req.GetPodSandboxId(), err)
	}
	return resp, nil
}
