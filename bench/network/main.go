// Command network measures service networking on real containerd:
// HTTP/1.1 keep-alive throughput and latency to the same backend pods
// straight at their pod IPs, through their Service's ClusterIP (the
// service proxy's nftables DNAT), through the built-in ingress controller
// (internal/ingress, ports 80 and 443 of the node) and through Debian's
// nginx as a reverse proxy on the host, with the ratios the issue asks
// for.
//
//	./hack/build.sh && go run ./bench/network -navarch _output/navarch
//
// It runs `navarch server` with its local agent (so the server's ingress
// controller and service proxy run as they do for a user), builds the web
// test program (internal/agent/testdata/web) into an image, and runs
// -pods pods of it behind a ClusterIP Service and an Ingress. nginx
// (package nginx-light or nginx) runs on the host with a configuration of
// its own in a temporary directory, proxying to the same pod IPs with
// keep-alive connections to them. The load generator keeps -connections
// connections open to a target for -duration, each sending its next
// request when the previous answer has been read, and the targets take
// turns in every round (in reverse order every other round), so each sees
// the same machine load; the figures are the medians over -rounds.
//
// With -from-pod (the default), the load generator's connections
// originate in a client pod's network namespace (netns.go), as a pod's
// traffic to its Services does: the ingress and nginx are then reached at
// the node's InternalIP. With -from-pod=false they originate on the host
// (the ingress and nginx on 127.0.0.1), whose traffic to a ClusterIP pays
// a second routing decision that a pod's does not.
//
// The load generator, the server, the pods and nginx share the
// machine's cores: the figures are those of the whole machine, not of a
// proxy alone.
//
// It needs root (containerd, pod networking, nftables, ports 80 and 443)
// and takes the host lock (test/hostlock), so it never runs beside a
// real-runtime test. Everything it starts is stopped and removed at the
// end, also on an error or an interrupt.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/bench/internal/benchserver"
	"github.com/navarch/navarch/internal/agent/cni"
	"github.com/navarch/navarch/internal/agent/cri"
)

const (
	image       = "localhost/web:netbench"
	namespace   = "default"
	appLabel    = "netbench"
	clientName  = "netbench-client"
	serviceName = "netbench"
	ingressHost = "netbench.example.com"
	backendPort = 8080
)

type options struct {
	binary          string
	duration        time.Duration
	connections     int
	rounds          int
	pods            int
	https           bool
	fromPod         bool
	nginx           string
	timeout         time.Duration
	serverProfile   string
	nginxWorkers    string
	proxyBufferSize string
	perfEvents      string
	perfRecordDir   string
}

func main() {
	var o options
	flag.StringVar(&o.binary, "navarch", "_output/navarch", "navarch binary whose server (with its agent) to run")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "how long each target is loaded in each round")
	flag.IntVar(&o.connections, "connections", 32, "concurrent keep-alive connections of the load generator")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; in each, every target is loaded once, in turn")
	flag.IntVar(&o.pods, "pods", 2, "backend pods behind the Service")
	flag.BoolVar(&o.https, "https", true, "also load the ingress over HTTPS (TLS terminated by the ingress)")
	flag.BoolVar(&o.fromPod, "from-pod", true, "open the load generator's connections from a client pod's network namespace (false: from the host)")
	flag.StringVar(&o.nginx, "nginx", "nginx", "the nginx binary (Debian: apt-get install -y nginx-light)")
	flag.StringVar(&o.nginxWorkers, "nginx-workers", "auto", "nginx worker_processes")
	flag.DurationVar(&o.timeout, "timeout", 3*time.Minute, "give up waiting for pods, endpoints and routes after this long")
	flag.StringVar(&o.serverProfile, "server-cpuprofile", "", "write a cpu profile of the server (ingress, proxy) taken during the last round's ingress load to this file")
	flag.StringVar(&o.perfEvents, "perf-stat", "", "perf stat's event options (e.g. '-e context-switches,syscalls:sys_enter_read -e syscalls:sys_exit_read --filter ret==-11'): count them for the ingress's server and for nginx during their HTTP loads, printed per request")
	flag.StringVar(&o.perfRecordDir, "perf-record", "", "record `perf record -g` samples of the ingress's server and of nginx during their HTTP loads into this directory (TARGET-rROUND.data)")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: needs root (containerd, pod networking, nftables, ports 80 and 443)")
		os.Exit(1)
	}
	nginxPath, err := exec.LookPath(o.nginx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %s not found: the nginx comparison needs Debian's nginx (apt-get install -y nginx-light, or nginx)\n", o.nginx)
		os.Exit(1)
	}
	o.nginx = nginxPath
	if o.connections < 1 || o.rounds < 1 || o.pods < 1 || o.duration <= 0 {
		fmt.Fprintln(os.Stderr, "bench: -connections, -rounds, -pods and -duration must be positive")
		os.Exit(2)
	}
	benchserver.RunOnHost(func(ctx context.Context) error { return run(ctx, o) })
}

// env is what run started, for the measurements and the cleanup.
type env struct {
	o         options
	dir       string
	serverDir string
	server    *exec.Cmd
	exited    chan struct{}
	nginx     *exec.Cmd
	nginxDone chan struct{}
	cfg       *rest.Config
	client    kubernetes.Interface
	runtime   *cri.Client
	// clientNS is the client pod's network namespace (-from-pod).
	clientNS *netns
	logs     []string
}

func run(ctx context.Context, o options) (err error) {
	dir, err := os.MkdirTemp("", "navarch-bench-network-")
	if err != nil {
		return err
	}
	e := &env{o: o, dir: dir, serverDir: filepath.Join(dir, "server")}
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
	if err := e.importImage(ctx); err != nil {
		return err
	}
	podIPs, clusterIP, err := e.deploy(ctx)
	if err != nil {
		return err
	}
	// Where the load comes from, and where the node's listeners are
	// reached from there.
	var from *netns
	nodeAddr := "127.0.0.1"
	if o.fromPod {
		if nodeAddr, err = e.startClient(ctx); err != nil {
			return err
		}
		from = e.clientNS
	}
	nginxAddr, err := e.startNginx(ctx, podIPs, nodeAddr, from)
	if err != nil {
		return err
	}

	var podTargets []string
	for _, ip := range podIPs {
		podTargets = append(podTargets, net.JoinHostPort(ip, strconv.Itoa(backendPort)))
	}
	targets := []target{
		{name: "pod IP", addrs: podTargets, host: ingressHost, from: from},
		{name: "ClusterIP", addrs: []string{net.JoinHostPort(clusterIP, "80")}, host: ingressHost, from: from},
		{name: "ingress HTTP", addrs: []string{net.JoinHostPort(nodeAddr, "80")}, host: ingressHost, from: from},
	}
	if o.https {
		targets = append(targets, target{name: "ingress HTTPS", addrs: []string{net.JoinHostPort(nodeAddr, "443")}, host: ingressHost, tls: true, from: from})
	}
	targets = append(targets, target{name: "nginx", addrs: []string{nginxAddr}, host: ingressHost, from: from})

	origin := "the host"
	if from != nil {
		origin = "the client pod's network namespace (" + from.path + ")"
	}
	fmt.Printf("%d backend pods (%s), %d connections from %s, %v per target per round, %d rounds; HTTP/1.1 keep-alive GET /\n",
		o.pods, strings.Join(podIPs, ", "), o.connections, origin, o.duration, o.rounds)
	fmt.Printf("the load generator shares the machine's %d cores with the server, the pods and nginx\n", runtime.NumCPU())
	// Warm up: connections, the proxies' pools, the CPUs' frequencies.
	for _, t := range targets {
		if _, err := load(ctx, t, o.connections, time.Second); err != nil {
			return fmt.Errorf("warming up %s: %w", t.name, err)
		}
	}
	results := make([][]result, len(targets))
	for r := range o.rounds {
		// Every other round takes the targets in reverse order, so that no
		// target always runs right after the same one (a drifting load
		// would otherwise favour one side of each ratio in every round).
		for k := range targets {
			i := k
			if r%2 == 1 {
				i = len(targets) - 1 - k
			}
			t := targets[i]
			profile := o.serverProfile != "" && r == o.rounds-1 && t.name == "ingress HTTP"
			var profiled chan error
			if profile {
				profiled = make(chan error, 1)
				go func() { profiled <- e.serverCPUProfile(ctx, o.duration) }()
			}
			var counted chan perfCounts
			if pids := e.proxyPIDs(t.name); o.perfEvents != "" && pids != nil && t.name != "ingress HTTPS" {
				counted = make(chan perfCounts, 1)
				go func() {
					c, err := perfStat(ctx, o.perfEvents, pids, o.duration)
					if err != nil {
						fmt.Fprintln(os.Stderr, "bench:", err)
					}
					counted <- c
				}()
			}
			var recorded chan error
			if pids := e.proxyPIDs(t.name); o.perfRecordDir != "" && pids != nil && t.name != "ingress HTTPS" {
				recorded = make(chan error, 1)
				file := filepath.Join(o.perfRecordDir, fmt.Sprintf("%s-r%d.data", strings.ReplaceAll(t.name, " ", "-"), r+1))
				go func() { recorded <- perfRecord(ctx, file, pids, o.duration) }()
			}
			proxyPIDs := e.proxyPIDs(t.name)
			waitPIDs := [][]int{proxyPIDs, {os.Getpid()}, pidsByExe("web")}
			var wait0 [3]float64
			for i, pids := range waitPIDs {
				wait0[i] = runWait(pids)
			}
			serverCPU0, nginxCPU0, selfCPU0, podCPU0, busy0 := cpuSeconds(e.server.Process.Pid), e.nginxCPU(), selfCPU(), podCPU(), machineBusy()
			res, err := load(ctx, t, o.connections, o.duration)
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", r+1, t.name, err)
			}
			res.serverCPU = cpuSeconds(e.server.Process.Pid) - serverCPU0
			res.nginxCPU = e.nginxCPU() - nginxCPU0
			res.selfCPU = selfCPU() - selfCPU0
			res.podCPU = podCPU() - podCPU0
			res.busy = machineBusy() - busy0
			for i, pids := range waitPIDs {
				res.runWait[i] = runWait(pids) - wait0[i]
			}
			results[i] = append(results[i], res)
			secs := res.wall.Seconds()
			fmt.Printf("  round %d %-14s %8.0f req/s  p50 %-9v p99 %-9v errors %d  server cpu %.2f cores, nginx %.2f, load generator %.2f, pods %.2f, machine busy %.2f\n", r+1, t.name,
				res.rps, res.p50, res.p99, res.errors, res.serverCPU/secs, res.nginxCPU/secs, res.selfCPU/secs, res.podCPU/secs, res.busy/secs)
			fmt.Printf("    waiting for a core per request: proxy %.0f us, load generator %.0f us, pods %.0f us\n",
				res.runWait[0]/float64(res.requests)*1e6, res.runWait[1]/float64(res.requests)*1e6, res.runWait[2]/float64(res.requests)*1e6)
			if recorded != nil {
				if err := <-recorded; err != nil {
					fmt.Fprintln(os.Stderr, "bench:", err)
				}
			}
			if counted != nil {
				if c := <-counted; c != nil {
					fmt.Printf("    per request (perf stat): %s\n", c.perRequest(res.requests))
				}
			}
			if profile {
				if err := <-profiled; err != nil {
					return err
				}
			}
		}
	}

	fmt.Printf("\nmedians over %d rounds:\n", o.rounds)
	med := make([]result, len(targets))
	for i, t := range targets {
		med[i] = median(results[i])
		secs := med[i].wall.Seconds()
		fmt.Printf("  %-14s %8.0f req/s  p50 %-9v p99 %-9v  server cpu %.2f cores, nginx %.2f, load generator %.2f, pods %.2f, machine busy %.2f\n", t.name, med[i].rps, med[i].p50, med[i].p99,
			med[i].serverCPU/secs, med[i].nginxCPU/secs, med[i].selfCPU/secs, med[i].podCPU/secs, med[i].busy/secs)
	}
	index := map[string]int{}
	for i, t := range targets {
		index[t.name] = i
	}
	// Each ratio is taken within a round, between runs seconds apart, and
	// its median reported: the machine's load drifts between rounds more
	// than within one.
	compare := func(a, b string, target float64) {
		var thr, lat []float64
		for r := range o.rounds {
			x, y := results[index[a]][r], results[index[b]][r]
			thr = append(thr, x.rps/y.rps)
			lat = append(lat, float64(y.p99)/float64(x.p99))
		}
		mt, ml := medianOf(thr), medianOf(lat)
		verdict := ""
		if target > 0 {
			verdict = fmt.Sprintf("  target >= %.2f: met", target)
			if mt < target || ml < target {
				verdict = fmt.Sprintf("  target >= %.2f: MISSED", target)
			}
		}
		fmt.Printf("  %-14s / %-13s throughput %.2f (rounds %s), p99 %.2f (rounds %s)%s\n", a, b, mt, list(thr), ml, list(lat), verdict)
	}
	fmt.Println("\nratios, medians of the per-round ratios (throughput: the first's requests/s over the second's; p99: the second's p99 over the first's, so > 1 is faster):")
	compare("ClusterIP", "pod IP", 0.95)
	compare("ingress HTTP", "pod IP", 0.8)
	compare("ingress HTTP", "nginx", 1.0)
	if o.https {
		compare("ingress HTTPS", "ingress HTTP", 0)
	}
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average at the end: %s\n", strings.Join(strings.Fields(string(load))[:3], " "))
	}
	return nil
}

// target is one way to the backend pods.
type target struct {
	name string
	// addrs are dialled in turn, one per connection.
	addrs []string
	host  string
	tls   bool
	// from is the network namespace the connections are opened in; nil
	// for the bench process's own (the host's).
	from *netns
}

// result of loading one target once.
type result struct {
	rps                 float64
	p50, p99            time.Duration
	requests, errors    int
	wall                time.Duration
	serverCPU, nginxCPU float64 // seconds
	// selfCPU is the load generator's (this process's) cpu seconds,
	// podCPU the backend pods'.
	selfCPU, podCPU float64
	// busy is the cpu seconds of the whole machine (all its cores, not
	// idle).
	busy float64
	// runWait is the seconds the threads of the proxy (none for the
	// pod IP and ClusterIP targets), the load generator and the pods
	// were runnable but waited for a core.
	runWait [3]float64
}

// load keeps conns keep-alive connections busy with GET / for d and
// returns the throughput and latencies of the answers (200s only; any
// other answer or a broken connection counts as an error and the
// connection is opened anew).
func load(ctx context.Context, t target, conns int, d time.Duration) (result, error) {
	req := []byte("GET / HTTP/1.1\r\nHost: " + t.host + "\r\nUser-Agent: navarch-netbench\r\n\r\n")
	var wg sync.WaitGroup
	lats := make([][]time.Duration, conns)
	errs := make([]int, conns)
	var firstErr atomic.Pointer[error]
	start := time.Now()
	deadline := start.Add(d)
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr := t.addrs[c%len(t.addrs)]
			lat := make([]time.Duration, 0, 4096)
			var conn net.Conn
			var br *bufio.Reader
			defer func() {
				if conn != nil {
					conn.Close()
				}
			}()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if conn == nil {
					var err error
					conn, err = dial(ctx, t, addr)
					if err != nil {
						errs[c]++
						firstErr.CompareAndSwap(nil, &err)
						time.Sleep(10 * time.Millisecond)
						continue
					}
					_ = conn.SetDeadline(deadline.Add(5 * time.Second))
					br = bufio.NewReaderSize(conn, 16<<10)
				}
				sent := time.Now()
				if _, err := conn.Write(req); err != nil {
					errs[c]++
					firstErr.CompareAndSwap(nil, &err)
					conn.Close()
					conn = nil
					continue
				}
				resp, err := http.ReadResponse(br, nil)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("%s answered %s", addr, resp.Status)
					}
				}
				if err != nil {
					if time.Now().After(deadline) {
						break // the deadline cut it off
					}
					errs[c]++
					firstErr.CompareAndSwap(nil, &err)
					conn.Close()
					conn = nil
					continue
				}
				lat = append(lat, time.Since(sent))
				if resp.Close {
					conn.Close()
					conn = nil
				}
			}
			lats[c] = lat
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	if err := ctx.Err(); err != nil {
		return result{}, err
	}
	var all []time.Duration
	res := result{wall: wall}
	for c := range conns {
		all = append(all, lats[c]...)
		res.errors += errs[c]
	}
	if len(all) == 0 {
		err := errors.New("no request succeeded")
		if p := firstErr.Load(); p != nil {
			err = fmt.Errorf("no request succeeded: %w", *p)
		}
		return result{}, err
	}
	// A few errors are reported; many mean the figures are not those of
	// the path under test.
	if res.errors > len(all)/100 {
		return result{}, fmt.Errorf("%d errors for %d answers, the first: %v", res.errors, len(all), *firstErr.Load())
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	res.requests = len(all)
	res.rps = float64(len(all)) / wall.Seconds()
	res.p50 = pct(all, 50)
	res.p99 = pct(all, 99)
	return res, nil
}

func dial(ctx context.Context, t target, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	var conn net.Conn
	var err error
	if t.from != nil {
		conn, err = t.from.dial(ctx, &d, addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil || !t.tls {
		return conn, err
	}
	tc := tls.Client(conn, &tls.Config{ServerName: t.host, InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}) //nolint:gosec // the ingress's self-signed default certificate
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}

func medianOf(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func list(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(parts, " ")
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	if i > len(sorted) {
		i = len(sorted)
	}
	return sorted[i-1].Round(10 * time.Microsecond)
}

// median takes each figure's median over the rounds on its own.
func median(rs []result) result {
	pick := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		return medianOf(v)
	}
	return result{
		rps:       pick(func(r result) float64 { return r.rps }),
		p50:       time.Duration(pick(func(r result) float64 { return float64(r.p50) })),
		p99:       time.Duration(pick(func(r result) float64 { return float64(r.p99) })),
		wall:      time.Duration(pick(func(r result) float64 { return float64(r.wall) })),
		serverCPU: pick(func(r result) float64 { return r.serverCPU }),
		nginxCPU:  pick(func(r result) float64 { return r.nginxCPU }),
		selfCPU:   pick(func(r result) float64 { return r.selfCPU }),
		podCPU:    pick(func(r result) float64 { return r.podCPU }),
		busy:      pick(func(r result) float64 { return r.busy }),
	}
}

// command starts the navarch binary with args, output to a log file
// under dir, in a process group of its own, killed if this program dies.
func (e *env) command(name, binary string, args ...string) (*exec.Cmd, error) {
	logPath := filepath.Join(e.dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	e.logs = append(e.logs, logPath)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	return cmd, nil
}

// startServer runs `navarch server` with its agent (containerd, service
// proxy, ingress on ports 80 and 443) and waits for its Node to be Ready.
func (e *env) startServer(ctx context.Context) error {
	port, err := benchserver.FreePort()
	if err != nil {
		return err
	}
	kubeletPort, err := benchserver.FreePort()
	if err != nil {
		return err
	}
	// For ports 80 and 443, nothing else may listen there.
	for _, p := range []string{"80", "443"} {
		if l, err := net.Listen("tcp", ":"+p); err != nil {
			return fmt.Errorf("port %s is taken (the ingress controller serves there): %w", p, err)
		} else {
			l.Close()
		}
	}
	e.server, err = e.command("server", e.o.binary, "server", "--data-dir", e.serverDir,
		"--bind-address", "127.0.0.1", "--port", strconv.Itoa(port), "--advertise-address", "127.0.0.1",
		"--kubelet-port", strconv.Itoa(kubeletPort), "--cluster-dns=false")
	if err != nil {
		return err
	}
	e.exited = make(chan struct{})
	go func() { _ = e.server.Wait(); close(e.exited) }()
	started := time.Now()
	e.cfg, err = benchserver.WaitReady(filepath.Join(e.serverDir, "kubeconfig"), 60*time.Second)
	if err != nil {
		return err
	}
	e.cfg.QPS, e.cfg.Burst = 100, 200
	e.client = kubernetes.NewForConfigOrDie(rest.CopyConfig(e.cfg))
	err = e.waitFor(ctx, 2*time.Minute, "the server's node Ready", func() (bool, error) {
		nodes, err := e.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		for _, n := range nodes.Items {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					return true, nil
				}
			}
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	fmt.Printf("server and node ready in %v\n", time.Since(started).Round(time.Millisecond))
	e.runtime, err = cri.Dial(ctx, cri.ContainerdConfig{Dir: filepath.Join(e.serverDir, "agent", "containerd")}.Endpoint())
	if err != nil {
		return fmt.Errorf("dialing the agent's containerd: %w", err)
	}
	return nil
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
	imp := exec.CommandContext(ctx, e.o.binary, "images", "build", "--data-dir", e.serverDir, "--binary", bin, "--tag", image)
	if out, err := imp.CombinedOutput(); err != nil {
		return fmt.Errorf("navarch images build: %w\n%s", err, out)
	}
	return nil
}

// deploy creates the pods, their Service and an Ingress, and waits until
// every path answers: the pods Running and in the Service's
// EndpointSlice, the ClusterIP and the ingress routing to them.
func (e *env) deploy(ctx context.Context) (podIPs []string, clusterIP string, err error) {
	for i := range e.o.pods {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("netbench-%d", i), Namespace: namespace, Labels: map[string]string{"app": appLabel}},
			Spec: corev1.PodSpec{
				TerminationGracePeriodSeconds: ptr.To[int64](2),
				Containers: []corev1.Container{{
					Name: "web", Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
					Env:   []corev1.EnvVar{{Name: "PORT", Value: strconv.Itoa(backendPort)}},
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: backendPort}},
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("8Mi"),
					}},
				}},
			},
		}
		if _, err := e.client.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			return nil, "", fmt.Errorf("creating pod %s: %w", pod.Name, err)
		}
	}
	svc, err := e.client.CoreV1().Services(namespace).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: serviceName, Namespace: namespace},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": appLabel},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, "", fmt.Errorf("creating the Service: %w", err)
	}
	clusterIP = svc.Spec.ClusterIP
	prefix := networkingv1.PathTypePrefix
	_, err = e.client.NetworkingV1().Ingresses(namespace).Create(ctx, &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: serviceName, Namespace: namespace},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
			Host: ingressHost,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/", PathType: &prefix,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: serviceName, Port: networkingv1.ServiceBackendPort{Name: "http"}}},
			}}}},
		}}},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, "", fmt.Errorf("creating the Ingress: %w", err)
	}
	started := time.Now()
	err = e.waitFor(ctx, e.o.timeout, fmt.Sprintf("%d ready endpoints of the Service", e.o.pods), func() (bool, error) {
		slices, err := e.client.DiscoveryV1().EndpointSlices(namespace).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + serviceName})
		if err != nil {
			return false, nil
		}
		podIPs = podIPs[:0]
		for _, s := range slices.Items {
			for _, ep := range s.Endpoints {
				if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
					podIPs = append(podIPs, ep.Addresses...)
				}
			}
		}
		return len(podIPs) == e.o.pods, nil
	})
	if err != nil {
		return nil, "", err
	}
	sort.Strings(podIPs)
	// Every path answers from every pod (the ingress and the ClusterIP
	// balance; a few tries reach them all).
	check := []target{{name: "ClusterIP", addrs: []string{net.JoinHostPort(clusterIP, "80")}, host: ingressHost},
		{name: "ingress", addrs: []string{"127.0.0.1:80"}, host: ingressHost}}
	for _, ip := range podIPs {
		check = append(check, target{name: "pod " + ip, addrs: []string{net.JoinHostPort(ip, strconv.Itoa(backendPort))}, host: ingressHost})
	}
	for _, t := range check {
		err := e.waitFor(ctx, e.o.timeout, t.name+" answering 200", func() (bool, error) {
			res, err := load(ctx, t, 1, 100*time.Millisecond)
			return err == nil && res.requests > 0, nil
		})
		if err != nil {
			return nil, "", err
		}
	}
	fmt.Printf("pods, Service %s and Ingress answering in %v\n", clusterIP, time.Since(started).Round(time.Millisecond))
	return podIPs, clusterIP, nil
}

// startClient runs the client pod (the web image, idle: only its network
// namespace is used), finds its sandbox's network namespace on the host
// by the pod's IP and keeps it in e.clientNS, and returns the node's
// InternalIP, where the node's listeners are reached from a pod.
func (e *env) startClient(ctx context.Context) (nodeIP string, err error) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: clientName, Namespace: namespace, Labels: map[string]string{"app": clientName}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](2),
			Containers: []corev1.Container{{
				Name: "client", Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
				Env: []corev1.EnvVar{{Name: "PORT", Value: strconv.Itoa(backendPort)}},
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("8Mi"),
				}},
			}},
		},
	}
	if _, err := e.client.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("creating pod %s: %w", clientName, err)
	}
	var podIP string
	err = e.waitFor(ctx, e.o.timeout, "the client pod Running", func() (bool, error) {
		p, err := e.client.CoreV1().Pods(namespace).Get(ctx, clientName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
			return false, fmt.Errorf("the client pod is %s", p.Status.Phase)
		}
		podIP = p.Status.PodIP
		return p.Status.Phase == corev1.PodRunning && podIP != "", nil
	})
	if err != nil {
		return "", err
	}
	ip := net.ParseIP(podIP)
	if ip == nil {
		return "", fmt.Errorf("the client pod's IP %q is not an IP address", podIP)
	}
	if e.clientNS, err = findNetns(netnsDir, ip); err != nil {
		return "", fmt.Errorf("the client pod's network namespace: %w", err)
	}
	nodes, err := e.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("listing nodes: %w", err)
	}
	for _, n := range nodes.Items {
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP && nodeIP == "" {
				nodeIP = a.Address
			}
		}
	}
	if ip := net.ParseIP(nodeIP); ip == nil || ip.IsLoopback() {
		return "", fmt.Errorf("the node's InternalIP %q cannot be reached from a pod", nodeIP)
	}
	fmt.Printf("client pod %s (%s), network namespace %s; the node's listeners at %s\n", clientName, podIP, e.clientNS.path, nodeIP)
	return nodeIP, nil
}

// startNginx runs nginx on a free port of listenIP as a reverse proxy to
// the pods, with keep-alive connections to them, its files in a directory
// of its own; it waits until nginx answers to connections from the
// namespace from (nil: the host's).
func (e *env) startNginx(ctx context.Context, podIPs []string, listenIP string, from *netns) (string, error) {
	port, err := benchserver.FreePort()
	if err != nil {
		return "", err
	}
	prefix := filepath.Join(e.dir, "nginx")
	if err := os.MkdirAll(filepath.Join(prefix, "tmp"), 0o755); err != nil {
		return "", err
	}
	var upstream strings.Builder
	for _, ip := range podIPs {
		fmt.Fprintf(&upstream, "\t\tserver %s:%d;\n", ip, backendPort)
	}
	addr := net.JoinHostPort(listenIP, strconv.Itoa(port))
	conf := fmt.Sprintf(`daemon off;
master_process on;
user root;
worker_processes %s;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events {
	worker_connections 4096;
}
http {
	access_log off;
	client_body_temp_path %[2]s/tmp/body;
	proxy_temp_path %[2]s/tmp/proxy;
	upstream backend {
%[3]s		keepalive 128;
	}
	server {
		listen %[4]s;
		location / {
			proxy_pass http://backend;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host $host;
			proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
		}
	}
}
`, e.o.nginxWorkers, prefix, upstream.String(), addr)
	confPath := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return "", err
	}
	e.nginx, err = e.command("nginx", e.o.nginx, "-p", prefix, "-c", confPath, "-e", filepath.Join(prefix, "error.log"))
	if err != nil {
		return "", err
	}
	e.logs = append(e.logs, filepath.Join(prefix, "error.log"))
	e.nginxDone = make(chan struct{})
	go func() { _ = e.nginx.Wait(); close(e.nginxDone) }()
	t := target{name: "nginx", addrs: []string{addr}, host: ingressHost, from: from}
	err = e.waitFor(ctx, 30*time.Second, "nginx answering 200", func() (bool, error) {
		select {
		case <-e.nginxDone:
			return false, errors.New("nginx exited")
		default:
		}
		res, err := load(ctx, t, 1, 50*time.Millisecond)
		return err == nil && res.requests > 0, nil
	})
	if err != nil {
		return "", err
	}
	out, _ := exec.Command(e.o.nginx, "-v").CombinedOutput()
	fmt.Printf("%s on %s (worker_processes %s, keepalive 128 to the pods)\n", strings.TrimSpace(string(out)), addr, e.o.nginxWorkers)
	return addr, nil
}

// nginxCPU is the cpu seconds of nginx's master and workers.
func (e *env) nginxCPU() float64 {
	if e.nginx == nil {
		return 0
	}
	pid := e.nginx.Process.Pid
	total := cpuSeconds(pid)
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err == nil {
		for _, f := range strings.Fields(string(data)) {
			if child, err := strconv.Atoi(f); err == nil {
				total += cpuSeconds(child)
			}
		}
	}
	return total
}

// serverCPUProfile saves a cpu profile of the server taken over d.
func (e *env) serverCPUProfile(ctx context.Context, d time.Duration) error {
	secs := int(d.Seconds())
	if secs < 1 {
		secs = 1
	}
	data, err := e.client.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", strconv.Itoa(secs)).
		Timeout(d + 30*time.Second).DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("server cpu profile: %w", err)
	}
	if err := os.WriteFile(e.o.serverProfile, data, 0o644); err != nil {
		return err
	}
	fmt.Printf("  server cpu profile of the ingress load written to %s (go tool pprof %s %s)\n", e.o.serverProfile, e.o.binary, e.o.serverProfile)
	return nil
}

// cpuSeconds is a process's user+system time, or 0.
func cpuSeconds(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// waitFor polls cond every 100 ms until it holds, fails, the server
// exits or timeout passes.
func (e *env) waitFor(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
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
			return ctx.Err()
		case <-e.exited:
			return fmt.Errorf("waiting for %s: the server exited", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// cleanup removes everything run started, whatever state it reached:
// nginx, the pods (through the API, then any sandbox left through CRI),
// the server with its agent, and the agent's host leftovers (`navarch
// agent --cleanup`: bridge, service rules).
func (e *env) cleanup() error {
	var errs []string
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if e.nginx != nil {
		if err := benchserver.StopProcess(e.nginx.Process, e.nginxDone, 10*time.Second); err != nil {
			errs = append(errs, "nginx: "+err.Error())
		}
	}
	if e.client != nil {
		_ = e.client.NetworkingV1().Ingresses(namespace).Delete(ctx, serviceName, metav1.DeleteOptions{})
		_ = e.client.CoreV1().Services(namespace).Delete(ctx, serviceName, metav1.DeleteOptions{})
		selector := fmt.Sprintf("app in (%s, %s)", appLabel, clientName)
		_ = e.client.CoreV1().Pods(namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: selector})
		_ = e.waitFor(ctx, time.Minute, "the pods gone", func() (bool, error) {
			list, err := e.client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
			return err == nil && len(list.Items) == 0, nil
		})
	}
	if e.clientNS != nil {
		e.clientNS.Close()
	}
	if e.runtime != nil {
		if sandboxes, err := e.runtime.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{}); err == nil {
			for _, s := range sandboxes {
				if err := e.runtime.StopPodSandbox(ctx, s.Id); err != nil && !cri.IsNotFound(err) {
					errs = append(errs, fmt.Sprintf("stopping sandbox %s: %v", s.Id, err))
				}
				if err := e.runtime.RemovePodSandbox(ctx, s.Id); err != nil && !cri.IsNotFound(err) {
					errs = append(errs, fmt.Sprintf("removing sandbox %s: %v", s.Id, err))
				}
			}
		}
		e.runtime.Close()
	}
	if e.server != nil {
		if err := benchserver.StopProcess(e.server.Process, e.exited, 30*time.Second); err != nil {
			errs = append(errs, "server: "+err.Error())
		}
		out, err := exec.CommandContext(ctx, e.o.binary, "agent", "--cleanup", "--bridge", cni.DefaultBridge).CombinedOutput()
		if err != nil {
			errs = append(errs, fmt.Sprintf("navarch agent --cleanup: %v: %s", err, out))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}
