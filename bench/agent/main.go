// Command agent measures the node agent on real containerd: pod startup
// latency (create -> Running, image present) beside the bare CRI calls
// for the same pods, and the agent's idle memory and CPU with pods
// running. It runs the navarch binary's server and, as a separate
// process so its figures are its own, `navarch agent` with the
// containerd it supervises.
//
//	./hack/build.sh && go run ./bench/agent -navarch _output/navarch
//
// It needs root (containerd, CNI, nftables) and takes the host lock
// (test/hostlock), so it never runs beside a real-runtime test. The
// pod network is a bridge and pod CIDR of its own (-bridge, -pod-cidr).
// Everything it starts is stopped and removed at the end, also on an
// error or an interrupt.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/bench/internal/benchserver"
	"github.com/navarch/navarch/internal/agent/cri"
)

const (
	nodeName  = "bench-agent"
	image     = "localhost/web:bench"
	namespace = "default"
)

type options struct {
	binary          string
	agentBinary     string
	pods, idlePods  int
	creators        int
	bind            bool
	bridge, podCIDR string
	settle, sample  time.Duration
	timeout         time.Duration
	profile         string
	interval        time.Duration
	idleOnly        bool
	agentEnv        []string
}

func main() {
	var o options
	flag.StringVar(&o.binary, "navarch", "_output/navarch", "navarch binary whose server and agent to run")
	flag.StringVar(&o.agentBinary, "agent-navarch", "", "navarch binary to run the agent from (default: -navarch), e.g. one built with -tags agentonly")
	flag.IntVar(&o.pods, "pods", 50, "pods whose startup is timed (and as many bare CRI pods)")
	flag.IntVar(&o.idlePods, "idle-pods", 30, "pods running while the agent's idle memory and CPU are sampled")
	flag.IntVar(&o.creators, "creators", 5, "concurrent clients creating pods (and concurrent bare CRI starts)")
	flag.BoolVar(&o.bind, "bind", false, "set spec.nodeName on the pods instead of letting the server's scheduler bind them")
	flag.StringVar(&o.bridge, "bridge", "nvbench0", "the agent's pod bridge")
	flag.StringVar(&o.podCIDR, "pod-cidr", "10.42.249.0/24", "the agent's pod CIDR")
	flag.DurationVar(&o.settle, "settle", 10*time.Second, "wait this long with the idle pods running before sampling")
	flag.DurationVar(&o.sample, "sample", 30*time.Second, "sample the agent's CPU over this long")
	flag.DurationVar(&o.timeout, "timeout", 3*time.Minute, "give up waiting for pods after this long")
	flag.DurationVar(&o.interval, "interval", 0, "pace the timed creates this far apart (0: as fast as the creators go, a burst)")
	flag.StringVar(&o.profile, "profile", "", "write the agent's heap profile and a 20 s cpu profile, taken after the idle sampling, to this directory")
	flag.BoolVar(&o.idleOnly, "idle-only", false, "skip the timed startup and the bare CRI runs: only the idle figures with -idle-pods running")
	flag.Func("agent-env", "NAME=VALUE added to the agent's environment (repeatable), e.g. GOGC=50", func(v string) error {
		if !strings.Contains(v, "=") {
			return fmt.Errorf("want NAME=VALUE")
		}
		o.agentEnv = append(o.agentEnv, v)
		return nil
	})
	flag.Parse()
	if o.agentBinary == "" {
		o.agentBinary = o.binary
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: needs root (containerd, pod networking, nftables)")
		os.Exit(1)
	}
	benchserver.RunOnHost(func(ctx context.Context) error { return run(ctx, o) })
}

// env is what run started, for the measurements and the cleanup.
type env struct {
	o                options
	dir              string
	agentRoot        string // --data-dir of the agent
	endpoint         string // the agent's containerd
	server, agent    *exec.Cmd
	agentExited      chan struct{}
	cfg              *rest.Config
	client           kubernetes.Interface
	runtime          *cri.Client
	logs             []string
	profilingAddress string // the agent's pprof, with -profile
}

func run(ctx context.Context, o options) (err error) {
	dir, err := os.MkdirTemp("", "navarch-bench-agent-")
	if err != nil {
		return err
	}
	e := &env{o: o, dir: dir, agentRoot: filepath.Join(dir, "node")}
	e.endpoint = cri.ContainerdConfig{Dir: filepath.Join(e.agentRoot, "agent", "containerd")}.Endpoint()
	defer func() {
		if cerr := e.cleanup(); cerr != nil {
			fmt.Fprintln(os.Stderr, "bench: cleanup:", cerr)
			if err == nil {
				err = cerr
			}
		}
		if err != nil {
			benchserver.PrintLogTails(e.logs)
			fmt.Fprintf(os.Stderr, "bench: logs kept in %s\n", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}()
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average at start: %s\n", strings.Join(strings.Fields(string(load))[:3], " "))
	}
	if err := e.startServer(ctx); err != nil {
		return err
	}
	if err := e.startAgent(ctx); err != nil {
		return err
	}
	if err := e.importImage(ctx); err != nil {
		return err
	}

	if !o.idleOnly {
		if err := e.startupFigures(ctx); err != nil {
			return err
		}
	}

	// 3. Idle with pods running.
	if _, err := e.startPods(ctx, "idle", o.idlePods, 0); err != nil {
		return err
	}
	if err := e.idle(ctx); err != nil {
		return err
	}
	if err := e.deletePods(ctx, "idle"); err != nil {
		return err
	}
	return nil
}

// startupFigures times pod startup through the agent, then the same pods
// through bare CRI calls.
func (e *env) startupFigures(ctx context.Context) error {
	o := e.o
	// 1. Pod startup through the agent.
	agentLat, err := e.startPods(ctx, "start", o.pods, o.interval)
	if err != nil {
		return err
	}
	pace := fmt.Sprintf("%d creators", o.creators)
	if o.interval > 0 {
		pace = fmt.Sprintf("one create every %v", o.interval)
	}
	fmt.Printf("agent: %d pods create -> Running (%s, %s): p50 %v p99 %v max %v, all in %v (target p99 < 1.5 s)\n",
		o.pods, e.binding(), pace, pct(agentLat.total, 50), pct(agentLat.total, 99), pct(agentLat.total, 100), agentLat.wall.Round(time.Millisecond))
	if !o.bind {
		fmt.Printf("  of which create -> bound p50 %v p99 %v; bound -> Running p50 %v p99 %v\n",
			pct(agentLat.toBound, 50), pct(agentLat.toBound, 99), pct(agentLat.fromBound, 50), pct(agentLat.fromBound, 99))
	}
	if err := e.deletePods(ctx, "start"); err != nil {
		return err
	}

	// 2. The same pods through bare CRI calls.
	// The agent starts every pod as soon as it sees it, so with fast
	// creators all of them are in flight at once, and paced creates
	// leave about one in flight: the bare path runs one, a few and all
	// at a time.
	for _, concurrency := range []int{1, o.creators, o.pods} {
		bare, wall, err := e.bareCRI(ctx, o.pods, concurrency)
		if err != nil {
			return err
		}
		fmt.Printf("bare CRI: %d x RunPodSandbox+CreateContainer+StartContainer, %d in flight: p50 %v p99 %v max %v, all in %v\n",
			o.pods, concurrency, pct(bare, 50), pct(bare, 99), pct(bare, 100), wall.Round(time.Millisecond))
		fmt.Printf("  ratio agent / bare CRI (%d in flight): p50 %.2f, p99 %.2f, all-in %.2f\n", concurrency,
			ratio(pct(agentLat.total, 50), pct(bare, 50)), ratio(pct(agentLat.total, 99), pct(bare, 99)), ratio(agentLat.wall, wall))
	}
	return nil
}

func (e *env) binding() string {
	if e.o.bind {
		return "spec.nodeName set, no scheduling"
	}
	return "bound by the server's scheduler"
}

// command starts binary with args, output to a log file under dir, in a
// process group of its own (an interrupt reaches only this program, which
// stops the children in order), and killed if this program dies.
// extraEnv is added to the environment it inherits.
func (e *env) command(binary, name string, extraEnv []string, args ...string) (*exec.Cmd, error) {
	logPath := filepath.Join(e.dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, args...)
	if len(extraEnv) > 0 {
		cmd.Env = append(os.Environ(), extraEnv...)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	e.logs = append(e.logs, logPath)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	logFile.Close()
	return cmd, nil
}

func (e *env) startServer(ctx context.Context) error {
	port, err := benchserver.FreePort()
	if err != nil {
		return err
	}
	serverDir := filepath.Join(e.dir, "server")
	e.server, err = e.command(e.o.binary, "server", nil, "server", "--no-agent", "--data-dir", serverDir,
		"--bind-address", "127.0.0.1", "--port", strconv.Itoa(port), "--advertise-address", "127.0.0.1")
	if err != nil {
		return err
	}
	started := time.Now()
	e.cfg, err = benchserver.WaitReady(filepath.Join(serverDir, "kubeconfig"), 60*time.Second)
	if err != nil {
		return err
	}
	e.cfg.QPS, e.cfg.Burst = 1000, 1000
	e.cfg.ContentType = "application/vnd.kubernetes.protobuf"
	e.client = kubernetes.NewForConfigOrDie(rest.CopyConfig(e.cfg))
	fmt.Printf("server ready in %v\n", time.Since(started).Round(time.Millisecond))
	return ctx.Err()
}

func (e *env) startAgent(ctx context.Context) error {
	kubeletPort, err := benchserver.FreePort()
	if err != nil {
		return err
	}
	args := []string{"agent", "--data-dir", e.agentRoot, "--kubeconfig", filepath.Join(e.dir, "server", "kubeconfig"),
		"--node-name", nodeName, "--kubelet-port", strconv.Itoa(kubeletPort),
		"--bridge", e.o.bridge, "--pod-cidr", e.o.podCIDR}
	if e.o.profile != "" {
		port, err := benchserver.FreePort()
		if err != nil {
			return err
		}
		e.profilingAddress = fmt.Sprintf("127.0.0.1:%d", port)
		args = append(args, "--profiling-address", e.profilingAddress)
	}
	e.agent, err = e.command(e.o.agentBinary, "agent", e.o.agentEnv, args...)
	if err != nil {
		return err
	}
	e.agentExited = make(chan struct{})
	go func() { _ = e.agent.Wait(); close(e.agentExited) }()
	started := time.Now()
	err = waitFor(ctx, e, 2*time.Minute, "node "+nodeName+" Ready", func() (bool, error) {
		node, err := e.client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	fmt.Printf("agent: node Ready in %v; agent RSS %.1f MiB, its containerd %.1f MiB\n", time.Since(started).Round(time.Millisecond),
		benchserver.RSSMiB(e.agent.Process.Pid), benchserver.RSSMiB(e.containerdPID()))
	e.runtime, err = cri.Dial(ctx, e.endpoint)
	if err != nil {
		return fmt.Errorf("dialing the agent's containerd: %w", err)
	}
	return nil
}

// containerdPID is the pid of the agent's supervised containerd (from the
// pid file its supervisor writes), or -1.
func (e *env) containerdPID() int {
	data, err := os.ReadFile(filepath.Join(e.agentRoot, "agent", "containerd", "containerd.pid"))
	if err != nil {
		return -1
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return -1
	}
	return pid
}

// importImage builds the web test program and imports it as image into
// the agent's containerd with `navarch images build`.
func (e *env) importImage(ctx context.Context) error {
	bin := filepath.Join(e.dir, "web")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./internal/agent/testdata/web")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building the web program (run from the repository root): %w\n%s", err, out)
	}
	imp := exec.CommandContext(ctx, e.o.binary, "images", "build", "--data-dir", e.agentRoot, "--binary", bin, "--tag", image)
	if out, err := imp.CombinedOutput(); err != nil {
		return fmt.Errorf("navarch images build: %w\n%s", err, out)
	}
	return nil
}

// latencies of a batch of pods, each sorted.
type latencies struct {
	total, toBound, fromBound []time.Duration
	// wall is from the first create to the last pod Running.
	wall time.Duration
}

// startPods creates n pods labelled batch from o.creators clients and
// waits until all are Running with their container running, as seen by
// a watch.
func (e *env) startPods(ctx context.Context, batch string, n int, interval time.Duration) (latencies, error) {
	type seen struct{ created, bound, running time.Time }
	var mu sync.Mutex
	pods := make(map[string]*seen, n)
	running := 0
	observe := func(obj any) {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		s := pods[pod.Name]
		if s == nil {
			// Seen before the create call returned.
			s = &seen{}
			pods[pod.Name] = s
		}
		if s.bound.IsZero() && pod.Spec.NodeName != "" {
			s.bound = now
		}
		if s.running.IsZero() && podRunning(pod) {
			s.running = now
			running++
		}
	}
	factory := informers.NewSharedInformerFactoryWithOptions(kubernetes.NewForConfigOrDie(rest.CopyConfig(e.cfg)), 0,
		informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = "batch=" + batch }))
	informer := factory.Core().V1().Pods().Informer()
	_, _ = informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    observe,
		UpdateFunc: func(_, obj any) { observe(obj) },
	})
	wctx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); factory.Shutdown() }()
	factory.Start(wctx.Done())
	if !cache.WaitForCacheSync(wctx.Done(), informer.HasSynced) {
		return latencies{}, fmt.Errorf("pod watch did not sync")
	}

	next := make(chan int, n)
	if interval > 0 {
		// Paced: one create every interval.
		go func() {
			defer close(next)
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for i := range n {
				next <- i
				select {
				case <-tick.C:
				case <-ctx.Done():
					return
				}
			}
		}()
	} else {
		for i := range n {
			next <- i
		}
		close(next)
	}
	var wg sync.WaitGroup
	errs := make(chan error, e.o.creators)
	for range e.o.creators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				pod := e.pod(batch, i)
				mu.Lock()
				if pods[pod.Name] == nil {
					pods[pod.Name] = &seen{}
				}
				pods[pod.Name].created = time.Now()
				mu.Unlock()
				if _, err := e.client.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
					errs <- fmt.Errorf("creating pod %s: %w", pod.Name, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return latencies{}, err
	}
	err := waitFor(ctx, e, e.o.timeout, fmt.Sprintf("%d %s pods Running", n, batch), func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return running >= n, nil
	})
	if err != nil {
		e.describeNotRunning(ctx, batch)
		return latencies{}, err
	}
	mu.Lock()
	defer mu.Unlock()
	var l latencies
	var first, last time.Time
	for _, s := range pods {
		if first.IsZero() || s.created.Before(first) {
			first = s.created
		}
		if s.running.After(last) {
			last = s.running
		}
		l.total = append(l.total, s.running.Sub(s.created))
		if !s.bound.IsZero() {
			l.toBound = append(l.toBound, s.bound.Sub(s.created))
			l.fromBound = append(l.fromBound, s.running.Sub(s.bound))
		}
	}
	l.wall = last.Sub(first)
	for _, d := range [][]time.Duration{l.total, l.toBound, l.fromBound} {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	}
	return l, nil
}

// podRunning: phase Running and every container running.
func podRunning(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodRunning || len(pod.Status.ContainerStatuses) != len(pod.Spec.Containers) {
		return false
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.State.Running == nil {
			return false
		}
	}
	return true
}

func (e *env) describeNotRunning(ctx context.Context, batch string) {
	list, err := e.client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "batch=" + batch})
	if err != nil {
		return
	}
	shown := 0
	for _, p := range list.Items {
		if podRunning(&p) || shown >= 5 {
			continue
		}
		shown++
		reason := ""
		for _, cs := range p.Status.ContainerStatuses {
			if cs.State.Waiting != nil {
				reason = cs.State.Waiting.Reason + ": " + cs.State.Waiting.Message
			}
		}
		fmt.Fprintf(os.Stderr, "bench: pod %s: node %q phase %s %s\n", p.Name, p.Spec.NodeName, p.Status.Phase, reason)
	}
}

// pod is the benchmark's pod: the web program, image present, small
// requests so that the node's capacity never limits the batch.
func (e *env) pod(batch string, i int) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%03d", batch, i), Namespace: namespace,
			Labels: map[string]string{"batch": batch, "app": "bench"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](2),
			Containers: []corev1.Container{{
				Name: "web", Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("8Mi"),
				}},
			}},
		},
	}
	if e.o.bind {
		pod.Spec.NodeName = nodeName
	}
	return pod
}

// deletePods deletes a batch and waits until the API and the runtime no
// longer have its pods.
func (e *env) deletePods(ctx context.Context, batch string) error {
	sel := metav1.ListOptions{LabelSelector: "batch=" + batch}
	if err := e.client.CoreV1().Pods(namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, sel); err != nil {
		return fmt.Errorf("deleting the %s pods: %w", batch, err)
	}
	return waitFor(ctx, e, e.o.timeout, "the "+batch+" pods gone from the API and the runtime", func() (bool, error) {
		list, err := e.client.CoreV1().Pods(namespace).List(ctx, sel)
		if err != nil || len(list.Items) > 0 {
			return false, nil
		}
		sandboxes, err := e.runtime.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{
			LabelSelector: map[string]string{cri.LabelManagedBy: cri.ManagedByAgent}})
		return err == nil && len(sandboxes) == 0, nil
	})
}

// bareCRI starts n pods the way a CRI client without an agent would
// (crictl runp + create + start), through the agent's own CRI client
// against its containerd, with concurrency in flight, and removes them.
// It returns each pod's time and the time for all.
// Their sandboxes lack the agent's managed-by label, so the agent leaves
// them alone. containerd puts them on the agent's CNI network: its CRI
// loads the one conflist the agent writes (max_conf_num = 1), and a CRI
// sandbox config does not name a network.
func (e *env) bareCRI(ctx context.Context, n, concurrency int) ([]time.Duration, time.Duration, error) {
	logDir := filepath.Join(e.dir, "bare-logs")
	var mu sync.Mutex
	var took []time.Duration
	var sandboxes []string
	var firstErr error
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	begin := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				start := time.Now()
				id, err := e.bareOne(ctx, logDir, i, func(id string) {
					mu.Lock()
					sandboxes = append(sandboxes, id)
					mu.Unlock()
				})
				d := time.Since(start)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("bare pod %d (sandbox %s): %w", i, id, err)
				}
				took = append(took, d)
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	wall := time.Since(begin)
	if err := e.removeSandboxes(sandboxes); err != nil && firstErr == nil {
		firstErr = err
	}
	if firstErr != nil {
		return nil, 0, firstErr
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	return took, wall, nil
}

// bareOne runs one sandbox and its container; started records the
// sandbox for removal as soon as it exists.
func (e *env) bareOne(ctx context.Context, logDir string, i int, started func(string)) (string, error) {
	uid := string(uuid.NewUUID())
	name := fmt.Sprintf("bare-%03d-%s", i, uid[:8])
	sandboxCfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "bench-bare", Uid: uid},
		Hostname:     name,
		LogDirectory: filepath.Join(logDir, name),
		Labels:       map[string]string{"navarch.io/bench": "bare"},
		Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{
				Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD,
			},
		}},
	}
	id, err := e.runtime.RunPodSandbox(ctx, sandboxCfg)
	if err != nil {
		return "", fmt.Errorf("RunPodSandbox: %w", err)
	}
	started(id)
	cid, err := e.runtime.CreateContainer(ctx, id, &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "web"},
		Image:    &runtimeapi.ImageSpec{Image: image},
		LogPath:  "web/0.log",
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources: &runtimeapi.LinuxContainerResources{CpuShares: 10},
		},
	}, sandboxCfg)
	if err != nil {
		return id, fmt.Errorf("CreateContainer: %w", err)
	}
	if err := e.runtime.StartContainer(ctx, cid); err != nil {
		return id, fmt.Errorf("StartContainer: %w", err)
	}
	return id, nil
}

// removeSandboxes stops and removes sandboxes with their containers, on
// a context of its own so that an interrupt still cleans up.
func (e *env) removeSandboxes(ids []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var firstErr error
	for _, id := range ids {
		if err := e.runtime.StopPodSandbox(ctx, id); err != nil && !cri.IsNotFound(err) && firstErr == nil {
			firstErr = fmt.Errorf("stopping sandbox %s: %w", id, err)
		}
		if err := e.runtime.RemovePodSandbox(ctx, id); err != nil && !cri.IsNotFound(err) && firstErr == nil {
			firstErr = fmt.Errorf("removing sandbox %s: %w", id, err)
		}
	}
	return firstErr
}

// idle waits for the pods to settle, then samples the agent's and its
// containerd's memory and CPU.
func (e *env) idle(ctx context.Context) error {
	select {
	case <-time.After(e.o.settle):
	case <-ctx.Done():
		return ctx.Err()
	}
	agentPID, ctrdPID := e.agent.Process.Pid, e.containerdPID()
	a0, c0, t0 := cpuSeconds(agentPID), cpuSeconds(ctrdPID), time.Now()
	var agentRSS, ctrdRSS []float64
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for time.Since(t0) < e.o.sample {
		select {
		case <-tick.C:
			agentRSS = append(agentRSS, benchserver.RSSMiB(agentPID))
			ctrdRSS = append(ctrdRSS, benchserver.RSSMiB(ctrdPID))
		case <-ctx.Done():
			return ctx.Err()
		case <-e.agentExited:
			return fmt.Errorf("the agent exited while idle")
		}
	}
	wall := time.Since(t0).Seconds()
	a1, c1 := cpuSeconds(agentPID), cpuSeconds(ctrdPID)
	fmt.Printf("idle with %d pods running (after %v settling, over %v):\n", e.o.idlePods, e.o.settle, e.o.sample)
	fmt.Printf("  agent RSS mean %.1f MiB, max %.1f MiB (target < 40 MiB); CPU %.2f%% of one core (target < 2%%)\n",
		mean(agentRSS), maxOf(agentRSS), 100*(a1-a0)/wall)
	fmt.Printf("  its containerd RSS mean %.1f MiB, max %.1f MiB; CPU %.2f%% of one core\n",
		mean(ctrdRSS), maxOf(ctrdRSS), 100*(c1-c0)/wall)
	anon, file := rssParts(agentPID)
	fmt.Printf("  agent RSS now: %.1f MiB anonymous, %.1f MiB file-backed (its binary's pages)\n", anon, file)
	if parts := rssByMapping(agentPID); len(parts) > 0 {
		fmt.Printf("  agent RSS by mapping (/proc/%d/smaps):", agentPID)
		for _, p := range parts {
			fmt.Printf(" %s %.1f MiB;", p.name, p.mib)
		}
		fmt.Println()
	}
	fmt.Printf("  (%d cores; the shims and pods are not counted)\n", runtime.NumCPU())
	if e.o.profile != "" {
		if err := e.saveProfiles(ctx); err != nil {
			return err
		}
	}
	return nil
}

// saveProfiles fetches the agent's heap profile (also as text, which
// ends with the runtime's memory statistics) and a 20 s cpu profile into
// o.profile.
func (e *env) saveProfiles(ctx context.Context) error {
	if err := os.MkdirAll(e.o.profile, 0o755); err != nil {
		return err
	}
	for name, path := range map[string]string{"heap.pprof": "/debug/pprof/heap", "memstats.txt": "/debug/pprof/heap?debug=1", "cpu.pprof": "/debug/pprof/profile?seconds=20"} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.profilingAddress+path, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("agent profile: %w", err)
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("agent profile %s: %s %v", path, resp.Status, err)
		}
		if err := os.WriteFile(filepath.Join(e.o.profile, name), data, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("  agent profiles written to %s (go tool pprof %s)\n", e.o.profile, e.o.agentBinary)
	return nil
}

// rssParts is a process's RssAnon and RssFile in MiB.
func rssParts(pid int) (anon, file float64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1, -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "RssAnon:":
			anon = kb / 1024
		case "RssFile:":
			file = kb / 1024
		}
	}
	return anon, file
}

// mappingRSS is the resident memory of a kind of mapping.
type mappingRSS struct {
	name string
	mib  float64
}

// rssByMapping sums the Rss of a process's mappings from
// /proc/<pid>/smaps by kind: the executable's text, read-only data and
// data (by permissions; the binary is static), its heap and anonymous
// memory (Go's heap and stacks), and the rest; largest first.
func rssByMapping(pid int) []mappingRSS {
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return nil
	}
	sums := map[string]float64{}
	kind := ""
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if !strings.HasSuffix(f[0], ":") {
			// A mapping's header: range perms offset dev inode [path].
			path := ""
			if len(f) >= 6 {
				path = f[5]
			}
			perms := ""
			if len(f) >= 2 {
				perms = f[1]
			}
			switch {
			case path == exe && strings.Contains(perms, "x"):
				kind = "binary text"
			case path == exe && strings.Contains(perms, "w"):
				kind = "binary data"
			case path == exe:
				kind = "binary rodata"
			case path == "" || path == "[heap]":
				kind = "anonymous"
			default:
				kind = "other " + path
			}
			continue
		}
		if f[0] == "Rss:" && len(f) >= 2 {
			kb, _ := strconv.ParseFloat(f[1], 64)
			sums[kind] += kb / 1024
		}
	}
	parts := make([]mappingRSS, 0, len(sums))
	for name, mib := range sums {
		if mib >= 0.05 {
			parts = append(parts, mappingRSS{name, mib})
		}
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].mib > parts[j].mib })
	return parts
}

// cleanup removes everything run started, whatever state it reached: the
// pods (through the API, then any sandbox left through CRI), the agent,
// its host leftovers (`navarch agent --cleanup`), and the server.
func (e *env) cleanup() error {
	var errs []string
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if e.client != nil && e.agent != nil {
		_ = e.client.CoreV1().Pods(namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "app=bench"})
	}
	if e.runtime != nil {
		if sandboxes, err := e.runtime.ListPodSandbox(ctx, nil); err == nil {
			ids := make([]string, 0, len(sandboxes))
			for _, s := range sandboxes {
				ids = append(ids, s.Id)
			}
			if err := e.removeSandboxes(ids); err != nil {
				errs = append(errs, err.Error())
			}
		}
		e.runtime.Close()
	}
	if e.agent != nil {
		if err := benchserver.StopProcess(e.agent.Process, e.agentExited, 30*time.Second); err != nil {
			errs = append(errs, "agent: "+err.Error())
		}
		out, err := exec.CommandContext(ctx, e.o.agentBinary, "agent", "--cleanup", "--bridge", e.o.bridge).CombinedOutput()
		if err != nil {
			errs = append(errs, fmt.Sprintf("navarch agent --cleanup: %v: %s", err, out))
		}
	}
	if e.server != nil {
		exited := make(chan struct{})
		go func() { _ = e.server.Wait(); close(exited) }()
		if err := benchserver.StopProcess(e.server.Process, exited, 30*time.Second); err != nil {
			errs = append(errs, "server: "+err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// waitFor polls cond every 10 ms until it holds, the timeout passes, ctx
// ends or the agent exits.
func waitFor(ctx context.Context, e *env, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not after %v", what, timeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-e.agentExited:
			return fmt.Errorf("waiting for %s: the agent exited", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// pct is the pct-th percentile of sorted durations, rounded to the ms.
func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	if i > 0 {
		i--
	}
	return sorted[i].Round(time.Millisecond)
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func maxOf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// cpuSeconds is the user+system cpu time a process has used, or 0.
func cpuSeconds(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return 0
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // clock ticks; 100 per second on Linux
}
