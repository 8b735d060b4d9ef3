// Package fakecri is an in-memory cri.Runtime for unit tests of the
// agent. Only tests import it.
//
// What it does: it keeps sandboxes, containers and images in maps, hands
// out sandbox IPs from 10.88.0.0/16 in order, honours the CRI list
// filters (id, state, sandbox id, labels), and records every call.
// Containers run until a test ends them with Exit; StopContainer ends
// them at once with exit code 137 and reason "Error". Running
// containers report the usage a test sets with SetUsage; sandbox stats
// are the sums of their containers (or fail, FailSandboxStats). ExecSync
// answers with what a test's SetExec function says (exit 0 by default)
// and only for running containers.
//
// What it does not do: it runs no process, sets up no network, enforces
// no resource limit, measures nothing by itself, has no registry
// (PullImage succeeds only for images added with AddRegistryImage) and
// keeps no logs. The real runtime is
// covered by the agent's end-to-end test on containerd.
package fakecri
