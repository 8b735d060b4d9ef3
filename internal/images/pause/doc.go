// Package pause is the pod sandbox's init process: it holds the pod's
// namespaces open, blocks until SIGTERM or SIGINT, and reaps the zombies
// of processes re-parented to it (it is PID 1 of the sandbox, and of
// every container when the pod shares its process namespace).
//
// images/pause builds it as a standalone static program, which navarch
// embeds (package images/pausebin) and the agent puts in its pause image.
package pause
