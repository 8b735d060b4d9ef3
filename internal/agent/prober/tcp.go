package prober

import (
	"context"
	"net"
	"strconv"
	"time"
)

// TCPSocket runs a tcpSocket check: it passes when a TCP connection to
// host:port opens within timeout (and is closed at once).
func TCPSocket(ctx context.Context, host string, port int, timeout time.Duration) (Outcome, string) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return Failed, err.Error()
	}
	conn.Close()
	return Succeeded, ""
}
