package prober

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/navarch/navarch/internal/version"
)

// GRPC runs a grpc check: it calls the standard health service
// (grpc.health.v1.Health/Check) for service at host:port, in plain text,
// and passes when the answer is SERVING within timeout. The output
// follows the kubelet's messages.
func GRPC(ctx context.Context, host string, port int, service string, timeout time.Duration) (Outcome, string) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUserAgent(fmt.Sprintf("kube-probe/%s.%s", version.KubernetesMajor, version.KubernetesMinor)),
	)
	if err != nil {
		return Failed, fmt.Sprintf("error: failed to connect service at %q: %+v", addr, err)
	}
	defer conn.Close()
	// Connect first, so that "cannot connect" and "connected but no
	// answer" read differently, as the kubelet's blocking dial does.
	conn.Connect()
	for state := conn.GetState(); state != connectivity.Ready; state = conn.GetState() {
		if !conn.WaitForStateChange(ctx, state) {
			return Failed, fmt.Sprintf("timeout: failed to connect service %q within %v: %+v", addr, timeout, ctx.Err())
		}
	}
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		if st, ok := status.FromError(err); ok {
			switch st.Code() {
			case codes.Unimplemented:
				return Failed, fmt.Sprintf("error: this server does not implement the grpc health protocol (grpc.health.v1.Health): %s", st.Message())
			case codes.DeadlineExceeded:
				return Failed, fmt.Sprintf("timeout: health rpc did not complete within %v", timeout)
			}
		}
		return Failed, fmt.Sprintf("error: health rpc probe failed: %+v", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return Failed, fmt.Sprintf("service unhealthy (responded with %q)", resp.GetStatus().String())
	}
	return Succeeded, "service healthy"
}
