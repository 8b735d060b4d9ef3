// Command scheduler measures the control plane at scale: it starts the
// navarch binary's server (which runs the controllers and the scheduler),
// runs simulated nodes (internal/simnode) in this process against it,
// makes pods and prints how fast they get scheduled and reported Running,
// and how much memory and cpu the server takes.
//
//	./hack/build.sh && go run ./bench/scheduler -navarch _output/navarch
//
// By default the pods come from one Deployment of -pods replicas, as the
// issue asks: the deployment and replicaset controllers create them, the
// scheduler binds them, the simulated kubelets report them Running. With
// -mode pods they are created directly, from -clients concurrent clients
// (the benchmark's first form, kept for comparison). With -rollouts N the
// Deployment is then rolled N times (an image change each) and each
// rollout timed until it is complete, as `kubectl rollout status` waits:
//
//	go run ./bench/scheduler -navarch _output/navarch -pods 100 -nodes 100 -rollouts 5
//
// A pod's create->Running latency runs from when this process first sees
// it (in -mode pods: from when its create was sent) to when it first sees
// it Running, both through one pod informer.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	appsv1client "k8s.io/client-go/kubernetes/typed/apps/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/klog/v2"

	"github.com/navarch/navarch/bench/internal/benchserver"
	"github.com/navarch/navarch/internal/simnode"
)

// options are the flags.
type options struct {
	binary            string
	nodes, pods       int
	mode              string
	clients, workers  int
	timeout           time.Duration
	serverCPUProfile  string
	serverProfileFor  time.Duration
	serverHeapProfile string
	rollouts          int
	gcPercent         int
	runs              int
}

// figures are one run's headline numbers, kept to report medians over
// -runs.
type figures struct {
	podsPerSecond, serverMsPerPod, benchMsPerPod float64
	p99                                          time.Duration
	serverRSSMiB                                 float64
}

func main() {
	var o options
	flag.StringVar(&o.binary, "navarch", "_output/navarch", "navarch binary whose server to run")
	flag.IntVar(&o.nodes, "nodes", 1000, "simulated nodes")
	flag.IntVar(&o.pods, "pods", 10000, "pods to make")
	flag.StringVar(&o.mode, "mode", "deployment", "deployment: one Deployment of -pods replicas; pods: create the pods directly")
	flag.IntVar(&o.clients, "clients", 20, "concurrent clients creating pods (-mode pods)")
	flag.IntVar(&o.workers, "workers", 128, "simulated kubelet workers (pod status updates in flight)")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up waiting for pods after this long")
	cpuProfile := flag.String("cpuprofile", "", "write a cpu profile of this process (simulated nodes, pod watch) to this file")
	flag.StringVar(&o.serverCPUProfile, "server-cpuprofile", "", "write a cpu profile of the server (from its /debug/pprof), started with the first pod, to this file")
	flag.DurationVar(&o.serverProfileFor, "server-profile-for", 15*time.Second, "how long the server cpu profile runs")
	flag.StringVar(&o.serverHeapProfile, "server-heapprofile", "", "write a heap profile of the server, taken once all pods run, to this file")
	flag.IntVar(&o.rollouts, "rollouts", 0, "after the pods run, roll the Deployment (an image change) this many times and time each rollout (-mode deployment)")
	flag.IntVar(&o.gcPercent, "gc-percent", 400, "this process's GOGC (GOGC in the environment takes precedence): it stands in for the kubelets of 1,000 machines, whose garbage collection would not share the server's cores")
	flag.IntVar(&o.runs, "runs", 1, "measure this many times, each on a fresh server, and print every run's figures and their medians (single runs on a 2-core VM spread by about 15%)")
	klog.InitFlags(nil)
	flag.Parse()
	if _, fromEnv := os.LookupEnv("GOGC"); !fromEnv {
		debug.SetGCPercent(o.gcPercent)
	}
	if o.mode != "deployment" && o.mode != "pods" {
		fmt.Fprintf(os.Stderr, "bench: -mode %q: want deployment or pods\n", o.mode)
		os.Exit(2)
	}
	if o.runs < 1 || (o.runs > 1 && (*cpuProfile != "" || o.serverCPUProfile != "" || o.serverHeapProfile != "")) {
		fmt.Fprintln(os.Stderr, "bench: -runs must be at least 1, and 1 with a profile")
		os.Exit(2)
	}
	if o.rollouts > 0 && o.mode != "deployment" {
		fmt.Fprintln(os.Stderr, "bench: -rollouts needs -mode deployment")
		os.Exit(2)
	}
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
	var all []figures
	for i := range o.runs {
		if o.runs > 1 {
			fmt.Printf("== run %d of %d\n", i+1, o.runs)
		}
		var f figures
		if err := measure(o, &f); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			pprof.StopCPUProfile()
			os.Exit(1)
		}
		all = append(all, f)
	}
	if o.runs > 1 {
		printMedians(all)
	}
}

// printMedians prints each run's headline figures and their medians.
func printMedians(all []figures) {
	median := func(get func(figures) float64) (float64, string) {
		vals := make([]float64, len(all))
		each := make([]string, len(all))
		for i, f := range all {
			vals[i] = get(f)
			each[i] = strconv.FormatFloat(vals[i], 'f', 2, 64)
		}
		sort.Float64s(vals)
		m := vals[len(vals)/2]
		if len(vals)%2 == 0 {
			m = (vals[len(vals)/2-1] + vals[len(vals)/2]) / 2
		}
		return m, strings.Join(each, " ")
	}
	fmt.Printf("== medians of %d runs (each run's figures in brackets)\n", len(all))
	for _, row := range []struct {
		name string
		get  func(figures) float64
	}{
		{"pods/s Running", func(f figures) float64 { return f.podsPerSecond }},
		{"server cpu ms/pod", func(f figures) float64 { return f.serverMsPerPod }},
		{"bench process cpu ms/pod", func(f figures) float64 { return f.benchMsPerPod }},
		{"create->Running p99 s", func(f figures) float64 { return f.p99.Seconds() }},
		{"server RSS MiB", func(f figures) float64 { return f.serverRSSMiB }},
	} {
		m, each := median(row.get)
		fmt.Printf("%s: %.2f [%s]\n", row.name, m, each)
	}
}

// fetchProfile writes the server's /debug/pprof/<name> to file.
func fetchProfile(ctx context.Context, cfg *rest.Config, name string, seconds int, file string) error {
	c := rest.CopyConfig(cfg)
	c.ContentType = ""
	c.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	client, err := rest.UnversionedRESTClientFor(c)
	if err != nil {
		return err
	}
	req := client.Get().AbsPath("/debug/pprof/" + name)
	if seconds > 0 {
		req = req.Param("seconds", strconv.Itoa(seconds))
	}
	data, err := req.DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("server profile %s: %w", name, err)
	}
	return os.WriteFile(file, data, 0o644)
}

// fetchProfileText writes the server's /debug/pprof/<path> (with its
// query) to file.
func fetchProfileText(ctx context.Context, cfg *rest.Config, path, file string) error {
	c := rest.CopyConfig(cfg)
	c.ContentType = ""
	c.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	client, err := rest.UnversionedRESTClientFor(c)
	if err != nil {
		return err
	}
	name, query, _ := strings.Cut(path, "?")
	req := client.Get().AbsPath("/debug/pprof/" + name)
	for _, kv := range strings.Split(query, "&") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			req = req.Param(k, v)
		}
	}
	data, err := req.DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("server profile %s: %w", path, err)
	}
	return os.WriteFile(file, data, 0o644)
}

// measure starts a server and simulated nodes, makes the pods, prints
// what it measured and keeps the headline figures in f.
func measure(o options, f *figures) error {
	dir, err := os.MkdirTemp("", "navarch-bench-sched-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	port, err := benchserver.FreePort()
	if err != nil {
		return err
	}
	cmd := exec.Command(o.binary, "server", "--no-agent", "--data-dir", dir, "--bind-address", "127.0.0.1",
		"--port", strconv.Itoa(port), "--advertise-address", "127.0.0.1", "--cluster-dns=false")
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
	sim := simnode.New(simClient, simnode.Config{Count: o.nodes, NamePrefix: "sim-", Workers: o.workers})
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
	if err := waitNodesReady(ctx, client, o.nodes, 5*time.Minute); err != nil {
		return err
	}
	fmt.Printf("simulated nodes: %d Ready in %v; server RSS %.1f MiB\n", o.nodes, time.Since(start).Round(time.Millisecond), benchserver.RSSMiB(cmd.Process.Pid))

	// Watch pods: when each is first seen, seen bound and seen Running. A
	// plain watch, not an informer: the tracker keeps no copies of the
	// pods, so that what it costs this process (on the server's cores)
	// stays small.
	tracker := newTracker(o.pods)
	if err := trackPods(ctx, kubernetes.NewForConfigOrDie(rest.CopyConfig(cfg)), tracker); err != nil {
		return err
	}

	// What the nodes alone cost the server (Lease renewals, status,
	// controllers watching them), to tell it apart from the pods' cost.
	idleStart, idleCPU0, idleRev0 := time.Now(), cpuSeconds(cmd.Process.Pid), revision(ctx, client)
	time.Sleep(5 * time.Second)
	idleRate := (cpuSeconds(cmd.Process.Pid) - idleCPU0) / time.Since(idleStart).Seconds()
	idleWrites := float64(revision(ctx, client)-idleRev0) / time.Since(idleStart).Seconds()
	fmt.Printf("server cpu with %d idle nodes: %.2f cores, %.0f writes/s\n", o.nodes, idleRate, idleWrites)

	serverCPU0, benchCPU0, rev0 := cpuSeconds(cmd.Process.Pid), cpuSeconds(os.Getpid()), revision(ctx, client)
	profileDone := make(chan error, 1)
	if o.serverCPUProfile != "" {
		go func() {
			profileDone <- fetchProfile(ctx, cfg, "profile", int(o.serverProfileFor.Seconds()), o.serverCPUProfile)
		}()
	} else {
		profileDone <- nil
	}
	defer func() {
		if err := <-profileDone; err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
	}()
	createStart := time.Now()
	if o.mode == "pods" {
		fmt.Printf("%d pods created directly by %d clients\n", o.pods, o.clients)
		if err := createPods(ctx, cfg, tracker, o.pods, o.clients); err != nil {
			return err
		}
		createElapsed := time.Since(createStart)
		fmt.Printf("created %d pods in %v (%.0f creates/s)\n", o.pods, createElapsed.Round(time.Millisecond), float64(o.pods)/createElapsed.Seconds())
	} else {
		fmt.Printf("one Deployment of %d replicas\n", o.pods)
		if _, err := client.AppsV1().Deployments("default").Create(ctx, benchDeployment(int32(o.pods)), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating the deployment: %w", err)
		}
	}

	deadline := time.Now().Add(o.timeout)
	for tracker.running.Load() < int64(o.pods) {
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d pods Running after %v (%d seen, %d bound)", tracker.running.Load(), o.pods, o.timeout, tracker.seen.Load(), tracker.bound.Load())
		}
		if ctx.Err() != nil {
			return fmt.Errorf("stopped: %d of %d pods Running", tracker.running.Load(), o.pods)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := tracker.report(createStart)
	serverCPU, benchCPU := cpuSeconds(cmd.Process.Pid)-serverCPU0, cpuSeconds(os.Getpid())-benchCPU0
	writes := revision(ctx, client) - rev0
	if o.serverHeapProfile != "" {
		if err := fetchProfile(ctx, cfg, "heap", 0, o.serverHeapProfile); err != nil {
			return err
		}
		if err := fetchProfileText(ctx, cfg, "heap?debug=1", o.serverHeapProfile+".txt"); err != nil {
			return err
		}
	}
	fmt.Printf("created (seen): all %d in %v: %.0f pods/s\n", o.pods, r.lastSeen.Round(time.Millisecond), float64(o.pods)/r.lastSeen.Seconds())
	fmt.Printf("scheduled (bound): all %d in %v: %.0f pods/s\n", o.pods, r.lastBound.Round(time.Millisecond), float64(o.pods)/r.lastBound.Seconds())
	fmt.Printf("scheduled and Running: all %d in %v from the start: %.0f pods/s (target > 1,000 pods/s)\n",
		o.pods, r.lastRunning.Round(time.Millisecond), float64(o.pods)/r.lastRunning.Seconds())
	fmt.Printf("create->Running latency: p50 %v p90 %v p99 %v max %v\n", r.p(50), r.p(90), r.p(99), r.p(100))
	fmt.Printf("  of which create->bound p50 %v p99 %v, bound->Running p50 %v p99 %v\n",
		percentile(r.toBound, 50), percentile(r.toBound, 99), percentile(r.toRunning, 50), percentile(r.toRunning, 99))
	fmt.Printf("pods per node: min %d max %d\n", r.minPerNode, r.maxPerNode)
	fmt.Printf("cpu used from the start to the last Running: server %.1f s (%.2f ms/pod; %.2f ms/pod beyond the idle nodes' share), bench process %.1f s (of %.1f s wall, %d cores)\n",
		serverCPU, 1000*serverCPU/float64(o.pods), 1000*(serverCPU-idleRate*r.lastRunning.Seconds())/float64(o.pods),
		benchCPU, r.lastRunning.Seconds(), runtime.NumCPU())
	fmt.Printf("writes (etcd revisions) from the start to the last Running: %d, %.2f per pod (%.2f beyond the idle nodes' %.0f/s)\n",
		writes, float64(writes)/float64(o.pods), (float64(writes)-idleWrites*r.lastRunning.Seconds())/float64(o.pods), idleWrites)
	if events, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{}); err != nil {
		fmt.Fprintln(os.Stderr, "bench: listing events:", err)
	} else {
		byReason := map[string]int{}
		for _, e := range events.Items {
			byReason[e.Reason]++
			if e.Type == corev1.EventTypeWarning {
				fmt.Printf("  warning event %s: %s\n", e.Reason, e.Message)
			}
		}
		fmt.Printf("events stored in default: %d %v\n", len(events.Items), byReason)
	}
	*f = figures{
		podsPerSecond:  float64(o.pods) / r.lastRunning.Seconds(),
		serverMsPerPod: 1000 * serverCPU / float64(o.pods),
		benchMsPerPod:  1000 * benchCPU / float64(o.pods),
		p99:            r.p(99),
		serverRSSMiB:   benchserver.RSSMiB(cmd.Process.Pid),
	}
	anon, file := benchserver.MemoryMiB(cmd.Process.Pid)
	fmt.Printf("server RSS with %d nodes and %d pods: %.1f MiB (target < 600 MiB): %.1f MiB anonymous, %.1f MiB file (etcd's mapped database)\n",
		o.nodes, o.pods, benchserver.RSSMiB(cmd.Process.Pid), anon, file)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("bench process (simulated nodes + pod watch) RSS %.1f MiB, heap in use %.1f MiB\n",
		benchserver.RSSMiB(os.Getpid()), float64(ms.HeapInuse)/(1<<20))
	if o.rollouts > 0 {
		return rollOut(ctx, client, o.rollouts, o.timeout)
	}
	return nil
}

// rollOut changes the bench Deployment's image n times, one rollout
// after the other, and prints how long each took to complete (every
// replica updated and available, as `kubectl rollout status` waits for)
// and the fewest available replicas seen during it, which a
// RollingUpdate keeps at or above replicas - maxUnavailable.
func rollOut(ctx context.Context, client kubernetes.Interface, n int, timeout time.Duration) error {
	deployments := client.AppsV1().Deployments("default")
	d, err := deployments.Get(ctx, "bench", metav1.GetOptions{})
	if err != nil {
		return err
	}
	replicas, maxUnavailable := *d.Spec.Replicas, 0
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		if maxUnavailable, err = intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, int(replicas), false); err != nil {
			return err
		}
	}
	var took []time.Duration
	for i := 1; i <= n; i++ {
		image := fmt.Sprintf("localhost/web:roll-%d", i)
		patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"c","image":%q}]}}}}`, image)
		start := time.Now()
		updated, err := deployments.Patch(ctx, "bench", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
		if err != nil {
			return fmt.Errorf("rolling to %s: %w", image, err)
		}
		// Every status the controller writes from the patch on, through a
		// watch, so that no dip in availability goes unseen.
		minAvailable, err := waitRolledOut(ctx, deployments, updated, timeout)
		if err != nil {
			return fmt.Errorf("rollout to %s: %w", image, err)
		}
		took = append(took, time.Since(start))
		fmt.Printf("rollout %d of %d replicas (%s): complete in %v; fewest available during it %d (floor replicas - maxUnavailable = %d)\n",
			i, replicas, d.Spec.Strategy.Type, took[i-1].Round(time.Millisecond), minAvailable, replicas-int32(maxUnavailable))
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	fmt.Printf("rolling update of a %d-replica Deployment: median %v over %d rollouts\n", replicas, took[len(took)/2].Round(time.Millisecond), n)
	return nil
}

// waitRolledOut watches the Deployment from the version the rollout's
// patch wrote until its status shows the rollout complete, and returns the
// fewest available replicas any status on the way showed.
func waitRolledOut(ctx context.Context, deployments appsv1client.DeploymentInterface, from *appsv1.Deployment, timeout time.Duration) (int32, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	replicas, minAvailable := *from.Spec.Replicas, from.Status.AvailableReplicas
	w, err := deployments.Watch(ctx, metav1.ListOptions{
		FieldSelector: "metadata.name=" + from.Name, ResourceVersion: from.ResourceVersion,
	})
	if err != nil {
		return 0, err
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		got, ok := ev.Object.(*appsv1.Deployment)
		if !ok {
			return 0, fmt.Errorf("watch: %v", ev.Object)
		}
		minAvailable = min(minAvailable, got.Status.AvailableReplicas)
		if got.Status.ObservedGeneration >= from.Generation && got.Status.UpdatedReplicas == replicas &&
			got.Status.Replicas == replicas && got.Status.AvailableReplicas == replicas {
			return minAvailable, nil
		}
	}
	return 0, fmt.Errorf("not complete after %v (or the watch ended)", timeout)
}

// tracker records, per pod, when it was created (its create sent, or
// else first seen) and when it was first seen bound and Running.
type tracker struct {
	mu                   sync.Mutex
	seen, bound, running atomic.Int64
	// The maps are guarded by mu.
	created, seenAt, boundAt, runningAt map[string]time.Time
	nodeOf                              map[string]string
}

func newTracker(n int) *tracker {
	return &tracker{
		created: make(map[string]time.Time, n), seenAt: make(map[string]time.Time, n),
		boundAt: make(map[string]time.Time, n), runningAt: make(map[string]time.Time, n),
		nodeOf: make(map[string]string, n),
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
	if _, seen := t.seenAt[pod.Name]; !seen {
		t.seenAt[pod.Name] = now
		if _, sent := t.created[pod.Name]; !sent {
			t.created[pod.Name] = now
		}
		t.seen.Add(1)
	}
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
	lastSeen, lastBound, lastRunning time.Duration
	// latencies are create->Running, toBound create->bound and
	// toRunning bound->Running, each sorted.
	latencies, toBound, toRunning []time.Duration
	minPerNode, maxPerNode        int
}

func (t *tracker) report(start time.Time) report {
	t.mu.Lock()
	defer t.mu.Unlock()
	var r report
	for _, at := range t.seenAt {
		r.lastSeen = max(r.lastSeen, at.Sub(start))
	}
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

// benchPodSpec is a small pod: 100m cpu and 64Mi requested, so ten of
// them fill a quarter of a simulated node's cpu.
func benchPodSpec() corev1.PodSpec {
	return corev1.PodSpec{Containers: []corev1.Container{{
		Name: "c", Image: "localhost/web:1",
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
		}},
	}}}
}

func benchPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bench"}},
		Spec:       benchPodSpec(),
	}
}

func benchDeployment(replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": "bench"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "bench"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       benchPodSpec(),
			},
		},
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

// revision returns the store's current revision: the resourceVersion of a
// consistent list (served from etcd). Every write adds one. It returns 0
// when the list fails.
func revision(ctx context.Context, client kubernetes.Interface) int64 {
	list, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return 0
	}
	rev, _ := strconv.ParseInt(list.ResourceVersion, 10, 64)
	return rev
}

// trackPods lists the pods of the default namespace, then watches them
// (the watch resumed where it ended, until ctx ends), handing every pod
// it sees to t.
func trackPods(ctx context.Context, client kubernetes.Interface, t *tracker) error {
	pods := client.CoreV1().Pods("default")
	list, err := pods.List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
	for i := range list.Items {
		t.observe(&list.Items[i])
	}
	w, err := watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return pods.Watch(ctx, opts)
		},
	})
	if err != nil {
		return fmt.Errorf("watching pods: %w", err)
	}
	go func() {
		defer w.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.ResultChan():
				if !ok {
					return
				}
				if pod, isPod := ev.Object.(*corev1.Pod); isPod && ev.Type != watch.Deleted {
					t.observe(pod)
				}
			}
		}
	}()
	return nil
}
