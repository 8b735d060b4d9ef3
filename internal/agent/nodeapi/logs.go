package nodeapi

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
)

// serveContainerLogs answers GET /containerLogs/{namespace}/{pod}/{container}.
// Errors found before the first byte is written are plain-text 400s with
// the kubelet's messages (the API server hands them to kubectl as they
// are); errors while streaming end the body.
func (s *Server) serveContainerLogs(w http.ResponseWriter, r *http.Request) {
	namespace, podName, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	opts, err := parseLogOptions(r.URL.Query(), time.Now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	pod, ok := s.cfg.Pods.GetPod(namespace, podName)
	if !ok {
		http.Error(w, fmt.Sprintf("pod %q does not exist", podName), http.StatusNotFound)
		return
	}
	if !podHasContainer(pod, container) {
		http.Error(w, fmt.Sprintf("container %q not found in pod %q", container, podName), http.StatusNotFound)
		return
	}
	id, err := logContainerID(pod, container, opts.previous)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	status, err := s.cfg.Runtime.ContainerStatus(ctx, id)
	if err != nil {
		http.Error(w, fmt.Sprintf("failed to get container status %q: %v", id, err), http.StatusBadRequest)
		return
	}
	if status.GetLogPath() == "" {
		http.Error(w, fmt.Sprintf("container %q in pod %q has no log file", container, podName), http.StatusBadRequest)
		return
	}
	running := func(ctx context.Context) bool {
		st, err := s.cfg.Runtime.ContainerStatus(ctx, id)
		if err != nil {
			return false
		}
		return st.State == runtimeapi.ContainerState_CONTAINER_RUNNING || st.State == runtimeapi.ContainerState_CONTAINER_CREATED
	}
	w.Header().Set("Content-Type", "text/plain")
	bw := bufio.NewWriterSize(w, 32<<10)
	flush := func() {
		_ = bw.Flush()
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	if err := readLogs(ctx, status.GetLogPath(), opts, bw, flush, running); err != nil && ctx.Err() == nil {
		klog.FromContext(ctx).V(2).Info("reading container log", "pod", klog.KRef(namespace, podName), "container", container, "err", err)
	}
	flush()
}

// parseLogOptions reads the query the API server sends (PodLogOptions as
// query parameters). Booleans follow the API's query conversion: present
// and not "0", "false" or "f" means true.
func parseLogOptions(q url.Values, now time.Time) (logOptions, error) {
	opts := logOptions{
		follow:     queryBool(q, "follow"),
		previous:   queryBool(q, "previous"),
		timestamps: queryBool(q, "timestamps"),
		stream:     q.Get("stream"),
	}
	var err error
	if opts.tailLines, err = queryInt64(q, "tailLines"); err != nil {
		return opts, err
	}
	if opts.limitBytes, err = queryInt64(q, "limitBytes"); err != nil {
		return opts, err
	}
	seconds, err := queryInt64(q, "sinceSeconds")
	if err != nil {
		return opts, err
	}
	switch {
	case q.Get("sinceTime") != "" && seconds != nil:
		return opts, fmt.Errorf("at most one of `sinceTime` or `sinceSeconds` may be specified")
	case seconds != nil:
		if *seconds < 1 {
			return opts, fmt.Errorf("sinceSeconds: Invalid value: %d: must be greater than 0", *seconds)
		}
		opts.since = now.Add(-time.Duration(*seconds) * time.Second)
	case q.Get("sinceTime") != "":
		t, err := time.Parse(time.RFC3339, q.Get("sinceTime"))
		if err != nil {
			return opts, fmt.Errorf("sinceTime: %v", err)
		}
		opts.since = t
	}
	if opts.tailLines != nil && *opts.tailLines < 0 {
		return opts, fmt.Errorf("tailLines: Invalid value: %d: must be greater than or equal to 0", *opts.tailLines)
	}
	if opts.limitBytes != nil && *opts.limitBytes < 1 {
		return opts, fmt.Errorf("limitBytes: Invalid value: %d: must be greater than 0", *opts.limitBytes)
	}
	switch opts.stream {
	case "", StreamAll, StreamStdout, StreamStderr:
	default:
		return opts, fmt.Errorf("stream: Unsupported value: %q: supported values: %q, %q, %q", opts.stream, StreamAll, StreamStdout, StreamStderr)
	}
	return opts, nil
}

// queryBool is the API's query conversion of a bool.
func queryBool(q url.Values, key string) bool {
	v, ok := q[key]
	if !ok || len(v) == 0 {
		return false
	}
	switch strings.ToLower(v[0]) {
	case "0", "false", "f":
		return false
	}
	return true
}

func queryInt64(q url.Values, key string) (*int64, error) {
	v := q.Get(key)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%s: invalid value %q: %v", key, v, err)
	}
	return &n, nil
}

// podHasContainer reports whether the pod's spec has a container (app,
// init or ephemeral) of that name.
func podHasContainer(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// findContainerStatus returns the status of the named container (app,
// init or ephemeral).
func findContainerStatus(pod *corev1.Pod, name string) (corev1.ContainerStatus, bool) {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses, pod.Status.EphemeralContainerStatuses} {
		for _, cs := range list {
			if cs.Name == name {
				return cs, true
			}
		}
	}
	return corev1.ContainerStatus{}, false
}

// logContainerID decides, from the pod's status as the kubelet does,
// which runtime container's log a request reads: the current container,
// or with previous the one before it. The error messages are the
// kubelet's. A container without a status yet is still being created.
func logContainerID(pod *corev1.Pod, container string, previous bool) (string, error) {
	cs, ok := findContainerStatus(pod, container)
	if !ok {
		cs = corev1.ContainerStatus{Name: container, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}
	}
	last := cs.LastTerminationState.Terminated
	var id string
	switch state := cs.State; {
	case previous:
		if last == nil || last.ContainerID == "" {
			return "", fmt.Errorf("previous terminated container %q in pod %q not found", container, pod.Name)
		}
		id = last.ContainerID
	case state.Running != nil:
		id = cs.ContainerID
	case state.Terminated != nil:
		id = state.Terminated.ContainerID
		if id == "" {
			if last == nil || last.ContainerID == "" {
				return "", fmt.Errorf("container %q in pod %q is terminated", container, pod.Name)
			}
			id = last.ContainerID
		}
	case last != nil:
		if last.ContainerID == "" {
			return "", fmt.Errorf("container %q in pod %q is terminated", container, pod.Name)
		}
		id = last.ContainerID
	case state.Waiting != nil:
		switch reason := state.Waiting.Reason; reason {
		case "ErrImagePull":
			return "", fmt.Errorf("container %q in pod %q is waiting to start: image can't be pulled", container, pod.Name)
		case "ImagePullBackOff":
			return "", fmt.Errorf("container %q in pod %q is waiting to start: trying and failing to pull image", container, pod.Name)
		default:
			return "", fmt.Errorf("container %q in pod %q is waiting to start: %v", container, pod.Name, reason)
		}
	default:
		return "", fmt.Errorf("container %q in pod %q is waiting to start - no logs yet", container, pod.Name)
	}
	return runtimeID(id), nil
}

// runtimeID strips the runtime prefix of a status container ID
// ("containerd://abc" -> "abc").
func runtimeID(id string) string {
	if _, after, ok := strings.Cut(id, "://"); ok {
		return after
	}
	return id
}
