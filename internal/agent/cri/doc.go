// Package cri is the agent's one seam to the container runtime: the
// Runtime interface (the CRI v1 calls the agent makes), Client (its
// implementation over gRPC to a CRI endpoint such as containerd's
// socket) and Supervisor (which runs a containerd of the agent's own,
// with a generated configuration, when no endpoint is given).
//
// Tests use fakecri, an in-memory Runtime; the real path is exercised by
// the agent's end-to-end test on containerd.
//
// # Organization
//
//   - runtime.go: the Runtime interface and the label keys the agent puts
//     on sandboxes and containers (the kubelet's, so crictl shows them).
//   - client.go: Client, Dial.
//   - streaming.go: Streamer (exec, attach, port-forward URLs on the
//     runtime's streaming server), implemented by Client.
//   - supervisor.go, config.go: Supervisor, its containerd config.toml,
//     and the dependency check (CheckDependencies).
package cri
