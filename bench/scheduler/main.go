// Command scheduler measures scheduling at scale: it starts the navarch
// binary's server, runs simulated nodes (internal/simnode) and the
// scheduler (internal/scheduler) in this process against it, creates pods
// and prints how fast they get scheduled and reported Running, and how
// much memory the server takes.
//
//	go build -o /tmp/navarch ./cmd/navarch && go run ./bench/scheduler -navarch /tmp/navarch
//
// Pods are created directly, from concurrent clients: no Deployment
// controller exists yet to create them from one Deployment.
package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/navarch/navarch/bench/internal/benchserver"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/navarch/navarch/internal/scheduler"
	"github.com/navarch/navarch/internal/simnode"
)

func main() {
	binary := flag.String("navarch", "_output/navarch", "navarch binary whose server to run")
	nodes := flag.Int("nodes", 1000, "simulated nodes")
	pods := flag.Int("pods", 10000, "pods to create")
	clients := flag.Int("clients", 20, "concurrent clients creating pods")
	workers := flag.Int("workers", 128, "simulated kubelet workers (pod status updates in flight)")
	runScheduler := flag.Bool("scheduler", true, "run the scheduler in this process (false if the server runs its own)")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up waiting for pods after this long")
	cpuProfile := flag.String("cpuprofile", "", "write a cpu profile of this process (simnode, scheduler, watch) to this file")
	klog.InitFlags(nil)
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*binary, *nodes, *pods, *clients, *workers, *runScheduler, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(binary string, nodeCount, podCount, clients, workers int, runScheduler bool, timeout time.Duration) error {
	dir, err := os.MkdirTemp("", "navarch-bench-sched-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	port, err := benchserver.FreePort()
	if err != nil {
		return err
	}
	cmd := exec.Command(binary, "server", "--no-agent", "--data-dir", dir, "--bind-address", "127.0.0.1",
		"--port", strconv.Itoa(port), "--advertise-address", "127.0.0.1")
	logFile, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()
	cfg, err := benchserver.WaitReady(filepath.Join(dir, "kubeconfig"), 60*time.Second)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 20000, 20000
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	fmt.Printf("server ready; idle RSS %.1f MiB\n", benchserver.RSSMiB(cmd.Process.Pid))
	fmt.Printf("note: %d pods are created directly by %d clients (no Deployment controller exists yet)\n", podCount, clients)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	// shutdowns run after ctx ends: informer factories wait for their
	// informers, which stop with ctx.
	var shutdowns []func()
	defer func() {
		cancel()
		wg.Wait()
		for _, f := range shutdowns {
			f()
		}
	}()

	// Simulated nodes.
	simClient := kubernetes.NewForConfigOrDie(rest.CopyConfig(cfg))
	sim := simnode.New(simClient, simnode.Config{Count: nodeCount, NamePrefix: "sim-", Workers: workers})
	start := time.Now()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := sim.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "simnode:", err)
			cancel()
		}
	}()
	client := kubernetes.NewForConfigOrDie(rest.CopyConfig(cfg))
	if err := waitNodesReady(ctx, client, nodeCount, 5*time.Minute); err != nil {
		return err
	}
	fmt.Printf("simulated nodes: %d Ready in %v; server RSS %.1f MiB\n", nodeCount, time.Since(start).Round(time.Millisecond), benchserver.RSSMiB(cmd.Process.Pid))

	// Scheduler.
	if runScheduler {
		schedClient := kubernetes.NewForConfigOrDie(rest.CopyConfig(cfg))
		factory := informers.NewSharedInformerFactory(schedClient, 0)
		s := scheduler.New(schedClient, factory)
		factory.Start(ctx.Done())
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Start(ctx); err != nil {
				fmt.Fprintln(os.Stderr, "scheduler:", err)
				cancel()
			}
		}()
		shutdowns = append(shutdowns, factory.Shutdown)
	}

	// Watch pods: when each is first seen bound and Running.
	tracker := newTracker(podCount)
	watchFactory := informers.NewSharedInformerFactoryWithOptions(kubernetes.NewForConfigOrDie(rest.CopyConfig(cfg)), 0,
		informers.WithNamespace("default"))
	podInformer := watchFactory.Core().V1().Pods().Informer()
	_, _ = podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { tracker.observe(obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { tracker.observe(obj.(*corev1.Pod)) },
	})
	watchFactory.Start(ctx.Done())
	shutdowns = append(shutdowns, watchFactory.Shutdown)
	if !cache.WaitForCacheSync(ctx.Done(), podInformer.HasSynced) {
		return fmt.Errorf("pod watch did not sync")
	}

	serverCPU0, benchCPU0 := cpuSeconds(cmd.Process.Pid), cpuSeconds(os.Getpid())
	createStart := time.Now()
	if err := createPods(ctx, cfg, tracker, podCount, clients); err != nil {
		return err
	}
	createElapsed := time.Since(createStart)
	fmt.Printf("created %d pods in %v (%.0f creates/s)\n", podCount, createElapsed.Round(time.Millisecond), float64(podCount)/createElapsed.Seconds())

	deadline := time.Now().Add(timeout)
	for tracker.running.Load() < int64(podCount) {
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d pods Running after %v (%d bound)", tracker.running.Load(), podCount, timeout, tracker.bound.Load())
		}
		if ctx.Err() != nil {
			return fmt.Errorf("stopped: %d of %d pods Running", tracker.running.Load(), podCount)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := tracker.report(createStart)
	fmt.Printf("scheduled (bound): all %d in %v: %.0f pods/s\n", podCount, r.lastBound.Round(time.Millisecond), float64(podCount)/r.lastBound.Seconds())
	fmt.Printf("scheduled and Running: all %d in %v from the first create: %.0f pods/s (target > 1,000 pods/s)\n",
		podCount, r.lastRunning.Round(time.Millisecond), float64(podCount)/r.lastRunning.Seconds())
	fmt.Printf("create->Running latency: p50 %v p90 %v p99 %v max %v\n", r.p(50), r.p(90), r.p(99), r.p(100))
	fmt.Printf("  of which create->bound p50 %v p99 %v, bound->Running p50 %v p99 %v\n",
		percentile(r.toBound, 50), percentile(r.toBound, 99), percentile(r.toRunning, 50), percentile(r.toRunning, 99))
	fmt.Printf("pods per node: min %d max %d\n", r.minPerNode, r.maxPerNode)
	fmt.Printf("cpu used from the first create to the last Running: server %.1f s, bench process %.1f s (of %.1f s wall, %d cores)\n",
		cpuSeconds(cmd.Process.Pid)-serverCPU0, cpuSeconds(os.Getpid())-benchCPU0, r.lastRunning.Seconds(), runtime.NumCPU())
	fmt.Printf("server RSS with %d nodes and %d pods: %.1f MiB (target < 600 MiB)\n", nodeCount, podCount, benchserver.RSSMiB(cmd.Process.Pid))
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("bench process (simnode + scheduler + watch) RSS %.1f MiB, heap in use %.1f MiB\n",
		benchserver.RSSMiB(os.Getpid()), float64(ms.HeapInuse)/(1<<20))
	return nil
}

// tracker records, per pod, when its create was sent and when it was
// first seen bound and Running.
type tracker struct {
	mu      sync.Mutex
	created map[string]time.Time
	bound   atomic.Int64
	running atomic.Int64
	// boundAt, runningAt and nodeOf are guarded by mu.
	boundAt, runningAt map[string]time.Time
	nodeOf             map[string]string
}

func newTracker(n int) *tracker {
	return &tracker{
		created: make(map[string]time.Time, n), boundAt: make(map[string]time.Time, n),
		runningAt: make(map[string]time.Time, n), nodeOf: make(map[string]string, n),
	}
}

func (t *tracker) sent(name string, at time.Time) {
	t.mu.Lock()
	t.created[name] = at
	t.mu.Unlock()
}

func (t *tracker) observe(pod *corev1.Pod) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if pod.Spec.NodeName != "" {
		if _, seen := t.boundAt[pod.Name]; !seen {
			t.boundAt[pod.Name] = now
			t.nodeOf[pod.Name] = pod.Spec.NodeName
			t.bound.Add(1)
		}
	}
	if pod.Status.Phase == corev1.PodRunning {
		if _, seen := t.runningAt[pod.Name]; !seen {
			t.runningAt[pod.Name] = now
			t.running.Add(1)
		}
	}
}

type report struct {
	lastBound, lastRunning time.Duration
	// latencies are create->Running, toBound create->bound and
	// toRunning bound->Running, each sorted.
	latencies, toBound, toRunning []time.Duration
	minPerNode, maxPerNode        int
}

func (t *tracker) report(start time.Time) report {
	t.mu.Lock()
	defer t.mu.Unlock()
	var r report
	for _, at := range t.boundAt {
		r.lastBound = max(r.lastBound, at.Sub(start))
	}
	for name, at := range t.runningAt {
		r.lastRunning = max(r.lastRunning, at.Sub(start))
		c, created := t.created[name]
		b, bound := t.boundAt[name]
		if created {
			r.latencies = append(r.latencies, at.Sub(c))
		}
		if created && bound {
			r.toBound = append(r.toBound, b.Sub(c))
			r.toRunning = append(r.toRunning, at.Sub(b))
		}
	}
	for _, l := range [][]time.Duration{r.latencies, r.toBound, r.toRunning} {
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	}
	perNode := map[string]int{}
	for _, n := range t.nodeOf {
		perNode[n]++
	}
	r.minPerNode = -1
	for _, c := range perNode {
		if r.minPerNode < 0 || c < r.minPerNode {
			r.minPerNode = c
		}
		r.maxPerNode = max(r.maxPerNode, c)
	}
	return r
}

func (r report) p(pct int) time.Duration { return percentile(r.latencies, pct) }

// percentile of sorted durations.
func percentile(sorted []time.Duration, pct int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*pct + 99) / 100
	if i > 0 {
		i--
	}
	return sorted[i].Round(time.Millisecond)
}

// createPods creates n pods from `clients` goroutines.
func createPods(ctx context.Context, cfg *rest.Config, t *tracker, n, clients int) error {
	next := make(chan int, n)
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := kubernetes.NewForConfigOrDie(rest.CopyConfig(cfg))
			for i := range next {
				name := fmt.Sprintf("bench-%05d", i)
				t.sent(name, time.Now())
				if _, err := client.CoreV1().Pods("default").Create(ctx, benchPod(name), metav1.CreateOptions{}); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("creating %s: %w", name, err)
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// benchPod is a small pod: 100m cpu and 64Mi requested, so ten of them
// fill a quarter of a simulated node's cpu.
func benchPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bench"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "localhost/web:1",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
			}},
		}}},
	}
}

func waitNodesReady(ctx context.Context, client kubernetes.Interface, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: corev1.LabelInstanceTypeStable + "=" + simnode.InstanceType})
		if err == nil {
			ready := 0
			for _, node := range list.Items {
				for _, c := range node.Status.Conditions {
					if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
						ready++
					}
				}
			}
			if ready >= n {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("simulated nodes not Ready after %v", timeout)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// cpuSeconds returns the user+system cpu time a process has used.
func cpuSeconds(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// Fields after the command name, which is in parentheses.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // clock ticks; 100 per second on Linux
}
