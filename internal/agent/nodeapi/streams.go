package nodeapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/proxy"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/navarch/navarch/internal/agent/cri"
)

// The kubelet's query parameters for the streams of exec and attach
// (the API server's PodExecOptions stdin/stdout/stderr/tty, renamed).
const (
	paramStdin  = "input"
	paramStdout = "output"
	paramStderr = "error"
	paramTTY    = "tty"
)

// streamFlags are the streams an exec or attach asks for.
type streamFlags struct {
	stdin, stdout, stderr, tty bool
}

// parseStreamFlags reads the stream flags ("1" means yes, as the kubelet
// reads them). A TTY carries no separate stderr, and at least one stream
// is needed.
func parseStreamFlags(q url.Values) (streamFlags, error) {
	f := streamFlags{
		stdin:  q.Get(paramStdin) == "1",
		stdout: q.Get(paramStdout) == "1",
		stderr: q.Get(paramStderr) == "1",
		tty:    q.Get(paramTTY) == "1",
	}
	if f.tty {
		f.stderr = false
	}
	if !f.stdin && !f.stdout && !f.stderr {
		return f, errors.New("you must specify at least one of stdin, stdout, stderr")
	}
	return f, nil
}

// serveExec answers /exec/{namespace}/{pod}/{container}?command=...: a
// CRI Exec in the running container, then the upgraded connection
// proxied to the runtime's streaming server.
func (s *Server) serveExec(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	flags, err := parseStreamFlags(q)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	command := q["command"]
	if len(command) == 0 {
		http.Error(w, "you must specify at least one command for the container", http.StatusBadRequest)
		return
	}
	id, ok := s.runningContainer(w, r)
	if !ok {
		return
	}
	resp, err := s.cfg.Runtime.Exec(r.Context(), &runtimeapi.ExecRequest{
		ContainerId: id, Cmd: command,
		Tty: flags.tty, Stdin: flags.stdin, Stdout: flags.stdout, Stderr: flags.stderr,
	})
	if err != nil {
		runtimeError(w, err)
		return
	}
	proxyStream(w, r, resp.GetUrl())
}

// serveAttach answers /attach/{namespace}/{pod}/{container}: a CRI Attach
// to the running container's main process, proxied like exec.
func (s *Server) serveAttach(w http.ResponseWriter, r *http.Request) {
	flags, err := parseStreamFlags(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id, ok := s.runningContainer(w, r)
	if !ok {
		return
	}
	resp, err := s.cfg.Runtime.Attach(r.Context(), &runtimeapi.AttachRequest{
		ContainerId: id, Tty: flags.tty, Stdin: flags.stdin, Stdout: flags.stdout, Stderr: flags.stderr,
	})
	if err != nil {
		runtimeError(w, err)
		return
	}
	proxyStream(w, r, resp.GetUrl())
}

// servePortForward answers /portForward/{namespace}/{pod}[?port=P1,P2]:
// a CRI PortForward on the pod's ready sandbox, proxied like exec. The
// ports a client forwards travel in its stream headers; the query's are
// passed to the runtime as they are.
func (s *Server) servePortForward(w http.ResponseWriter, r *http.Request) {
	var ports []int32
	for _, list := range r.URL.Query()["port"] {
		for _, p := range strings.Split(list, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(p), 10, 16)
			if err != nil || n == 0 {
				http.Error(w, fmt.Sprintf("invalid port %q", p), http.StatusBadRequest)
				return
			}
			ports = append(ports, int32(n))
		}
	}
	namespace, podName := r.PathValue("namespace"), r.PathValue("pod")
	pod, ok := s.cfg.Pods.GetPod(namespace, podName)
	if !ok {
		http.Error(w, "pod does not exist", http.StatusNotFound)
		return
	}
	sandboxes, err := s.cfg.Runtime.ListPodSandbox(r.Context(), &runtimeapi.PodSandboxFilter{
		State:         &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY},
		LabelSelector: map[string]string{cri.LabelPodUID: string(pod.UID)},
	})
	if err != nil {
		runtimeError(w, err)
		return
	}
	var sandbox *runtimeapi.PodSandbox
	for _, sb := range sandboxes {
		if sandbox == nil || sb.CreatedAt > sandbox.CreatedAt {
			sandbox = sb
		}
	}
	if sandbox == nil {
		http.Error(w, fmt.Sprintf("pod %q has no running sandbox", podName), http.StatusNotFound)
		return
	}
	resp, err := s.cfg.Runtime.PortForward(r.Context(), &runtimeapi.PortForwardRequest{PodSandboxId: sandbox.Id, Port: ports})
	if err != nil {
		runtimeError(w, err)
		return
	}
	proxyStream(w, r, resp.GetUrl())
}

// runningContainer finds the runtime id of the request's running
// container, or answers the kubelet's error and returns false.
func (s *Server) runningContainer(w http.ResponseWriter, r *http.Request) (string, bool) {
	namespace, podName, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	pod, ok := s.cfg.Pods.GetPod(namespace, podName)
	if !ok {
		http.Error(w, "pod does not exist", http.StatusNotFound)
		return "", false
	}
	cs, ok := findContainerStatus(pod, container)
	if !ok || cs.State.Running == nil || cs.ContainerID == "" || !podHasContainer(pod, container) {
		http.Error(w, fmt.Sprintf("container not found (%q)", container), http.StatusNotFound)
		return "", false
	}
	return runtimeID(cs.ContainerID), true
}

// runtimeError answers a failed CRI call: 404 when the runtime does not
// know the container (it just exited), 500 otherwise.
func runtimeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	if cri.IsNotFound(err) {
		code = http.StatusNotFound
	}
	http.Error(w, err.Error(), code)
}

// proxyStream hands the request's upgraded connection to the runtime's
// streaming server at rawURL. The runtime's answer (101 and the stream,
// or an error) goes back to the caller as it is; a request that is not an
// upgrade gets 400.
func proxyStream(w http.ResponseWriter, r *http.Request, rawURL string) {
	u, err := url.Parse(rawURL)
	if err != nil {
		http.Error(w, fmt.Sprintf("the runtime returned an invalid streaming URL %q: %v", rawURL, err), http.StatusInternalServerError)
		return
	}
	h := proxy.NewUpgradeAwareHandler(u, nil, false, true, streamResponder{})
	h.ServeHTTP(w, r)
}

// streamResponder answers errors of the upgrade proxy in plain text.
type streamResponder struct{}

func (streamResponder) Error(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		code = int(status.Status().Code)
	}
	klog.FromContext(r.Context()).V(2).Info("streaming proxy error", "path", r.URL.Path, "err", err)
	http.Error(w, err.Error(), code)
}
