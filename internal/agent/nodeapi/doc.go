// Package nodeapi is the node agent's HTTPS endpoint: the part of the
// kubelet's API that the API server calls to stream container logs and
// to run exec, attach and port-forward sessions. kubectl never talks to
// it directly: kubectl -> API server -> nodeapi -> containerd.
//
// # Routes (the kubelet's paths and query parameters)
//
//   - GET /containerLogs/{namespace}/{pod}/{container}?follow&previous&
//     timestamps&tailLines&sinceSeconds&sinceTime&limitBytes&stream:
//     the container's CRI log file, decoded (logs.go, logreader.go).
//   - GET|POST /exec/{namespace}/{pod}/{container}?command=..&input=1&
//     output=1&error=1&tty=1, and /attach/... with the same stream flags:
//     CRI Exec or Attach, then the upgraded connection is proxied to the
//     URL the runtime returned (streams.go).
//   - GET|POST /portForward/{namespace}/{pod}[?port=P1,P2]: CRI
//     PortForward on the pod's sandbox, proxied the same way.
//   - GET /healthz: "ok".
//   - Config.Extra: more handlers by http.ServeMux pattern (for example
//     "GET /stats/summary"), served behind the same checks.
//
// containerd 1.6's streaming server (its fork of the kubelet's) speaks
// SPDY (channel.k8s.io v1 to v4, portforward.k8s.io) and, for exec and
// attach, WebSocket channel.k8s.io and base64.channel.k8s.io up to their
// v4 variants: no v5.channel.k8s.io (stdin close) and no port-forward
// tunnel. This endpoint passes whatever the API server sends through
// untouched, so the API server speaks SPDY here: it translates kubectl's
// WebSocket v5.channel.k8s.io exec/attach and its SPDY-over-WebSocket
// port-forward tunnel before calling us, as upstream's API server does
// before calling the kubelet.
//
// # Who may call
//
// Only the API server. The server asks for a TLS client certificate and
// verifies it against the cluster CA (Config.ClientCA); a request without
// one gets 401, a certificate from another CA fails the TLS handshake,
// and any verified identity other than the API server's kubelet client
// (common name APIServerUser, "kube-apiserver-kubelet-client", as
// upstream names it) gets 403.
//
// The serving certificate is self-signed, created once under
// Config.CertDir and reused across restarts. The API server does not
// verify it, which is what upstream's API server does without
// --kubelet-certificate-authority: the connection is encrypted and the
// node authenticates its caller, but the caller does not authenticate
// the node.
//
// # Organization
//
//   - server.go: Config, Server (New, Listen, Start, Handler), the routes.
//   - auth.go: the serving certificate, the TLS config, the caller check.
//   - logs.go: /containerLogs: options, which container's log file.
//   - logreader.go: reading the CRI log format (follow, tail, since,
//     timestamps, limit, stream selection). A follow ends when its
//     container exits, and goes on across a rotation of the file.
//   - logwatch*.go: how a follow waits for more: an inotify watch of the
//     log directory (golang.org/x/sys/unix), or polling where inotify
//     is unavailable.
//   - streams.go: /exec, /attach, /portForward.
package nodeapi
