package apiserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/proxy"
	"k8s.io/apimachinery/pkg/util/validation/field"
	translator "k8s.io/apiserver/pkg/util/proxy"
	"k8s.io/klog/v2"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

// The streaming subresources of pods reach the node agent running the
// pod (package agent/nodeapi, the kubelet's API) through s.nodes:
//
//   - log: a GET to /containerLogs, its body streamed back with flushes.
//   - exec, attach: the upgraded connection proxied to /exec or /attach.
//     SPDY goes through as it is. kubectl's WebSocket (v5.channel.k8s.io,
//     kubectl 1.30 and later) is translated to SPDY here, because the
//     runtime's streaming server behind the agent (containerd 1.6) speaks
//     WebSocket only up to v4: upstream's StreamTranslatorHandler.
//   - portforward: proxied to /portForward; kubectl's WebSocket tunnel
//     (SPDY framed inside WebSocket, kubectl 1.31 and later) is unwrapped
//     into a SPDY connection toward the agent: upstream's
//     TunnelingHandler.

// Query parameters the node API reads for exec and attach streams.
const (
	nodeParamStdin  = "input"
	nodeParamStdout = "output"
	nodeParamStderr = "error"
	nodeParamTTY    = "tty"
)

// podLogsGR names pods/log in errors about the node's answer.
var podLogsGR = schema.GroupResource{Resource: "pods/log"}

// servePodStream answers pods/log, exec, attach and portforward.
func (s *Server) servePodStream(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	switch info.Subresource {
	case "log":
		if info.Verb != "get" {
			writeError(w, r, methodNotSupported(res, info.Verb))
			return
		}
	case "exec", "attach", "portforward":
		// Upgrades come as GET (WebSocket) or POST (SPDY).
		if info.Verb != "get" && info.Verb != "create" {
			writeError(w, r, methodNotSupported(res, info.Verb))
			return
		}
	default:
		writeError(w, r, notFoundPath())
		return
	}
	if len(info.Parts) > 3 {
		writeError(w, r, notFoundPath())
		return
	}
	q := r.URL.Query()
	var (
		container  string
		nodeParams url.Values
		logOpts    *corev1.PodLogOptions
		err        error
	)
	switch info.Subresource {
	case "log":
		logOpts, err = parsePodLogOptions(q)
		if err == nil {
			if errs := validatePodLogOptions(logOpts); len(errs) > 0 {
				err = apierrors.NewInvalid(schema.GroupKind{Kind: "PodLogOptions"}, info.Name, errs)
			}
		}
		if logOpts != nil {
			container = logOpts.Container
		}
	case "exec", "attach":
		container = q.Get("container")
		nodeParams, err = streamParams(q, info.Subresource == "exec")
	case "portforward":
		nodeParams, err = portForwardParams(q)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	obj, err := s.getServed(r.Context(), res, info.Namespace, info.Name, "")
	if err != nil {
		writeError(w, r, err)
		return
	}
	pod := obj.(*corev1.Pod)
	if info.Subresource != "portforward" {
		if container, err = defaultContainer(pod, container); err != nil {
			writeError(w, r, err)
			return
		}
	}
	if pod.Spec.NodeName == "" {
		if info.Subresource == "log" {
			// Upstream streams nothing for a pod not scheduled yet.
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusOK)
			return
		}
		writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name)))
		return
	}
	if s.nodes == nil {
		writeError(w, r, apierrors.NewServiceUnavailable(fmt.Sprintf("%s of pod %s/%s: the API server has no client certificate for node agents", info.Subresource, pod.Namespace, pod.Name)))
		return
	}
	switch info.Subresource {
	case "log":
		s.streamLogs(w, r, pod, container, logOpts)
	case "exec", "attach":
		s.proxyExec(w, r, pod, info.Subresource, container, nodeParams)
	case "portforward":
		s.proxyPortForward(w, r, pod, nodeParams)
	}
}

// defaultContainer checks the container a request names, or picks the
// pod's only container, with upstream's errors.
func defaultContainer(pod *corev1.Pod, container string) (string, error) {
	if container == "" {
		switch len(pod.Spec.Containers) {
		case 1:
			return pod.Spec.Containers[0].Name, nil
		case 0:
			return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s", pod.Name))
		default:
			var names []string
			for _, c := range pod.Spec.InitContainers {
				names = append(names, c.Name)
			}
			for _, c := range pod.Spec.Containers {
				names = append(names, c.Name)
			}
			for _, c := range pod.Spec.EphemeralContainers {
				names = append(names, c.Name)
			}
			return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %s", pod.Name, names))
		}
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == container {
			return container, nil
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == container {
			return container, nil
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == container {
			return container, nil
		}
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", container, pod.Name))
}

// queryBool reads a boolean query parameter as the API's query
// conversion does: present and not "0", "false" or "f" means true.
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
	v, ok := q[key]
	if !ok || len(v) == 0 || v[0] == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v[0], 10, 64)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%s: invalid value %q: %v", key, v[0], err))
	}
	return &n, nil
}

// parsePodLogOptions decodes PodLogOptions from the query.
func parsePodLogOptions(q url.Values) (*corev1.PodLogOptions, error) {
	opts := &corev1.PodLogOptions{
		Container:                    q.Get("container"),
		Follow:                       queryBool(q, "follow"),
		Previous:                     queryBool(q, "previous"),
		Timestamps:                   queryBool(q, "timestamps"),
		InsecureSkipTLSVerifyBackend: queryBool(q, "insecureSkipTLSVerifyBackend"),
	}
	var err error
	if opts.SinceSeconds, err = queryInt64(q, "sinceSeconds"); err != nil {
		return nil, err
	}
	if opts.TailLines, err = queryInt64(q, "tailLines"); err != nil {
		return nil, err
	}
	if opts.LimitBytes, err = queryInt64(q, "limitBytes"); err != nil {
		return nil, err
	}
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("sinceTime: invalid value %q: %v", v, err))
		}
		opts.SinceTime = &metav1.Time{Time: t}
	}
	if v, ok := q["stream"]; ok && len(v) > 0 {
		stream := v[0]
		opts.Stream = &stream
	}
	return opts, nil
}

// validatePodLogOptions is upstream's ValidatePodLogOptions (with stream
// selection on).
func validatePodLogOptions(opts *corev1.PodLogOptions) field.ErrorList {
	var errs field.ErrorList
	if opts.TailLines != nil && *opts.TailLines < 0 {
		errs = append(errs, field.Invalid(field.NewPath("tailLines"), *opts.TailLines, "must be greater than or equal to 0"))
	}
	if opts.LimitBytes != nil && *opts.LimitBytes < 1 {
		errs = append(errs, field.Invalid(field.NewPath("limitBytes"), *opts.LimitBytes, "must be greater than 0"))
	}
	switch {
	case opts.SinceSeconds != nil && opts.SinceTime != nil:
		errs = append(errs, field.Forbidden(field.NewPath(""), "at most one of `sinceTime` or `sinceSeconds` may be specified"))
	case opts.SinceSeconds != nil && *opts.SinceSeconds < 1:
		errs = append(errs, field.Invalid(field.NewPath("sinceSeconds"), *opts.SinceSeconds, "must be greater than 0"))
	}
	if opts.Stream != nil {
		switch s := *opts.Stream; s {
		case corev1.LogStreamStdout, corev1.LogStreamStderr, corev1.LogStreamAll:
			if opts.TailLines != nil && s != corev1.LogStreamAll {
				errs = append(errs, field.Forbidden(field.NewPath(""), "`tailLines` and specific `stream` are mutually exclusive for now"))
			}
		default:
			errs = append(errs, field.NotSupported(field.NewPath("stream"), s, []string{corev1.LogStreamStdout, corev1.LogStreamStderr, corev1.LogStreamAll}))
		}
	}
	return errs
}

// streamParams turns PodExecOptions or PodAttachOptions (the query) into
// the node API's query, checking what the kubelet would refuse.
func streamParams(q url.Values, exec bool) (url.Values, error) {
	stdin, stdout, stderr, tty := queryBool(q, "stdin"), queryBool(q, "stdout"), queryBool(q, "stderr"), queryBool(q, "tty")
	if tty {
		// A terminal has no separate stderr.
		stderr = false
	}
	if !stdin && !stdout && !stderr {
		return nil, apierrors.NewBadRequest("you must specify at least one of stdin, stdout, stderr")
	}
	params := url.Values{}
	for key, on := range map[string]bool{nodeParamStdin: stdin, nodeParamStdout: stdout, nodeParamStderr: stderr, nodeParamTTY: tty} {
		if on {
			params.Set(key, "1")
		}
	}
	if exec {
		command := q["command"]
		if len(command) == 0 {
			return nil, apierrors.NewBadRequest("you must specify at least one command for the container")
		}
		params["command"] = command
	}
	return params, nil
}

// portForwardParams turns PodPortForwardOptions (query "ports") into the
// node API's query ("port").
func portForwardParams(q url.Values) (url.Values, error) {
	var ports []string
	for _, list := range q["ports"] {
		for _, p := range strings.Split(list, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 32)
			if err != nil || n < 1 || n > 65535 {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid port %q: must be between 1 and 65535, inclusive", p))
			}
			ports = append(ports, strconv.FormatInt(n, 10))
		}
	}
	params := url.Values{}
	if len(ports) > 0 {
		params.Set("port", strings.Join(ports, ","))
	}
	return params, nil
}

// streamLogs copies the container's log from the node agent, flushing
// as data arrives (kubectl logs -f shows lines as they are written). An
// error answer of the node becomes the API error upstream gives for it.
func (s *Server) streamLogs(w http.ResponseWriter, r *http.Request, pod *corev1.Pod, container string, opts *corev1.PodLogOptions) {
	params := url.Values{}
	if opts.Follow {
		params.Set("follow", "true")
	}
	if opts.Previous {
		params.Set("previous", "true")
	}
	if opts.Timestamps {
		params.Set("timestamps", "true")
	}
	if opts.SinceSeconds != nil {
		params.Set("sinceSeconds", strconv.FormatInt(*opts.SinceSeconds, 10))
	}
	if opts.SinceTime != nil {
		params.Set("sinceTime", opts.SinceTime.UTC().Format(time.RFC3339))
	}
	if opts.TailLines != nil {
		params.Set("tailLines", strconv.FormatInt(*opts.TailLines, 10))
	}
	if opts.LimitBytes != nil {
		params.Set("limitBytes", strconv.FormatInt(*opts.LimitBytes, 10))
	}
	if opts.Stream != nil {
		params.Set("stream", *opts.Stream)
	}
	path := fmt.Sprintf("/containerLogs/%s/%s/%s?%s", url.PathEscape(pod.Namespace), url.PathEscape(pod.Name), url.PathEscape(container), params.Encode())
	resp, err := s.nodes.Do(r.Context(), pod.Spec.NodeName, http.MethodGet, path)
	if err != nil {
		writeError(w, r, nodeError(err))
		return
	}
	defer resp.Body.Close()
	if err := checkNodeResponse(resp, podLogsGR, pod.Name); err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && r.Context().Err() == nil {
				klog.FromContext(r.Context()).V(2).Info("container log stream ended", "pod", klog.KObj(pod), "container", container, "err", err)
			}
			return
		}
	}
}

// checkNodeResponse turns a node agent's error answer into an API error
// as upstream's API server does (400 and 500 keep the node's message).
func checkNodeResponse(resp *http.Response, gr schema.GroupResource, name string) error {
	if resp.StatusCode >= http.StatusOK && resp.StatusCode <= http.StatusPartialContent {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	text := strings.TrimSuffix(string(body), "\n")
	switch resp.StatusCode {
	case http.StatusBadRequest:
		return apierrors.NewBadRequest(text)
	case http.StatusInternalServerError:
		return apierrors.NewInternalError(errors.New(text))
	}
	return apierrors.NewGenericServerResponse(resp.StatusCode, "", gr, name, text, 0, false)
}

// nodeError is the API error for a failure to reach a node agent: API
// errors (the node does not exist) pass, others are internal errors.
func nodeError(err error) error {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return err
	}
	return apierrors.NewInternalError(err)
}

// withoutCredentials returns r without the caller's Authorization
// header: the node agent is reached with the API server's own identity.
func withoutCredentials(r *http.Request) *http.Request {
	if r.Header.Get("Authorization") == "" {
		return r
	}
	clone := r.Clone(r.Context())
	clone.Header.Del("Authorization")
	return clone
}

// proxyExec proxies exec or attach to the node agent, translating
// WebSocket v5 clients to SPDY.
func (s *Server) proxyExec(w http.ResponseWriter, r *http.Request, pod *corev1.Pod, subresource, container string, params url.Values) {
	node := "/exec"
	if subresource == "attach" {
		node = "/attach"
	}
	path := fmt.Sprintf("%s/%s/%s/%s?%s", node, url.PathEscape(pod.Namespace), url.PathEscape(pod.Name), url.PathEscape(container), params.Encode())
	loc, err := s.nodes.Location(r.Context(), pod.Spec.NodeName, path)
	if err != nil {
		writeError(w, r, nodeError(err))
		return
	}
	r = withoutCredentials(r)
	if wsstream.IsWebSocketRequestWithStreamCloseProtocol(r) {
		opts := translator.Options{
			Stdin: params.Get(nodeParamStdin) == "1", Stdout: params.Get(nodeParamStdout) == "1",
			Stderr: params.Get(nodeParamStderr) == "1", Tty: params.Get(nodeParamTTY) == "1",
		}
		translator.NewStreamTranslatorHandler(loc, s.nodes.Transport(), 0, opts).ServeHTTP(w, r)
		return
	}
	s.upgradeProxy(loc).ServeHTTP(w, r)
}

// proxyPortForward proxies port-forward to the node agent, unwrapping
// WebSocket tunnels into SPDY.
func (s *Server) proxyPortForward(w http.ResponseWriter, r *http.Request, pod *corev1.Pod, params url.Values) {
	path := fmt.Sprintf("/portForward/%s/%s", url.PathEscape(pod.Namespace), url.PathEscape(pod.Name))
	if len(params) > 0 {
		path += "?" + params.Encode()
	}
	loc, err := s.nodes.Location(r.Context(), pod.Spec.NodeName, path)
	if err != nil {
		writeError(w, r, nodeError(err))
		return
	}
	r = withoutCredentials(r)
	var h http.Handler = s.upgradeProxy(loc)
	if wsstream.IsWebSocketRequestWithTunnelingProtocol(r) {
		h = translator.NewTunnelingHandler(h)
	}
	h.ServeHTTP(w, r)
}

// upgradeProxy proxies an upgrade request to loc on a node agent; a
// request that is not an upgrade gets 400.
func (s *Server) upgradeProxy(loc *url.URL) *proxy.UpgradeAwareHandler {
	h := proxy.NewUpgradeAwareHandler(loc, s.nodes.Transport(), false, true, proxyResponder{})
	h.RejectForwardingRedirects = true
	return h
}

// proxyResponder answers errors of the upgrade proxy as API errors.
type proxyResponder struct{}

func (proxyResponder) Error(w http.ResponseWriter, r *http.Request, err error) {
	if ctxErr := r.Context().Err(); ctxErr != nil && errors.Is(err, context.Canceled) {
		return
	}
	writeError(w, r, nodeError(err))
}
