// Command apiserver measures the Navarch control plane: start-up time to
// /readyz, idle memory, pod create latency and throughput, large lists and
// watch fan-out. It runs the navarch binary as a user would and prints one
// line per figure.
//
//	go build -o /tmp/navarch ./cmd/navarch && go run ./bench/apiserver -navarch /tmp/navarch
package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/navarch/navarch/bench/internal/benchserver"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func main() {
	binary := flag.String("navarch", "_output/navarch", "navarch binary to measure")
	creates := flag.Int("creates", 2000, "pods created by the concurrent clients")
	clients := flag.Int("clients", 10, "concurrent clients creating pods")
	listSize := flag.Int("list", 10000, "pods in the cluster when timing list")
	watchers := flag.Int("watchers", 100, "concurrent watchers")
	flag.Parse()
	if err := run(*binary, *creates, *clients, *listSize, *watchers); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(binary string, creates, clients, listSize, watchers int) error {
	dir, err := os.MkdirTemp("", "navarch-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	port, err := benchserver.FreePort()
	if err != nil {
		return err
	}
	start := time.Now()
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
	fmt.Printf("startup: exec to /readyz 200: %v (target < 1s)\n", time.Since(start).Round(time.Millisecond))

	time.Sleep(5 * time.Second)
	fmt.Printf("idle RSS of the server (no agent), 5 s after ready: %.1f MiB (target < 100 MiB)\n", benchserver.RSSMiB(cmd.Process.Pid))

	cfg.QPS, cfg.Burst = 10000, 10000
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	ctx := context.Background()

	lat, elapsed, err := createPods(ctx, cfg, "bench-", creates, clients)
	if err != nil {
		return err
	}
	fmt.Printf("pod creates: %d from %d clients: p50 %v p99 %v, %.0f creates/s (target p99 < 25ms)\n",
		creates, clients, pct(lat, 50), pct(lat, 99), float64(creates)/elapsed.Seconds())

	if extra := listSize - creates; extra > 0 {
		if _, _, err := createPods(ctx, cfg, "fill-", extra, clients); err != nil {
			return err
		}
	}
	client := kubernetes.NewForConfigOrDie(cfg)
	jsonCfg := rest.CopyConfig(cfg)
	jsonCfg.ContentType = "application/json"
	jsonClient := kubernetes.NewForConfigOrDie(jsonCfg)
	for _, c := range []struct {
		name   string
		client kubernetes.Interface
	}{{"protobuf", client}, {"json", jsonClient}} {
		var best time.Duration
		for i := 0; i < 3; i++ {
			t0 := time.Now()
			list, err := c.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			d := time.Since(t0)
			if len(list.Items) != listSize {
				return fmt.Errorf("list returned %d pods, want %d", len(list.Items), listSize)
			}
			if best == 0 || d < best {
				best = d
			}
		}
		fmt.Printf("list %d pods (%s): best of 3 %v (target < 250ms)\n", listSize, c.name, best.Round(time.Millisecond))
	}

	wlat, err := watchFanout(ctx, cfg, watchers, 20)
	if err != nil {
		return err
	}
	fmt.Printf("watch: %d watchers x 20 events: p50 %v p99 %v create->event (target p99 < 50ms)\n",
		watchers, pct(wlat, 50), pct(wlat, 99))
	fmt.Printf("server RSS after the run: %.1f MiB\n", benchserver.RSSMiB(cmd.Process.Pid))
	return nil
}

func pod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bench"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "localhost/web:1",
			Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
		}}},
	}
}

// createPods creates n pods from `clients` goroutines, each with its own
// connection, and returns every request's latency.
func createPods(ctx context.Context, cfg *rest.Config, prefix string, n, clients int) ([]time.Duration, time.Duration, error) {
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	next := make(chan int, n)
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := kubernetes.NewForConfigOrDie(rest.CopyConfig(cfg))
			for i := range next {
				t0 := time.Now()
				_, err := client.CoreV1().Pods("default").Create(ctx, pod(fmt.Sprintf("%s%d", prefix, i)), metav1.CreateOptions{})
				d := time.Since(t0)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return lat, time.Since(start), firstErr
}

// watchFanout opens `watchers` watches on configmaps and measures, for
// each of `events` creates, the delay until each watcher sees it.
func watchFanout(ctx context.Context, cfg *rest.Config, watchers, events int) ([]time.Duration, error) {
	client := kubernetes.NewForConfigOrDie(cfg)
	var ws []watch.Interface
	for i := 0; i < watchers; i++ {
		w, err := kubernetes.NewForConfigOrDie(rest.CopyConfig(cfg)).CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{ResourceVersion: ""})
		if err != nil {
			return nil, err
		}
		defer w.Stop()
		ws = append(ws, w)
	}
	// Drain the initial state.
	time.Sleep(500 * time.Millisecond)
	for _, w := range ws {
	drain:
		for {
			select {
			case <-w.ResultChan():
			default:
				break drain
			}
		}
	}
	var lat []time.Duration
	for e := 0; e < events; e++ {
		t0 := time.Now()
		name := fmt.Sprintf("watch-%d", e)
		if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, w := range ws {
			wg.Add(1)
			go func(w watch.Interface) {
				defer wg.Done()
				timeout := time.After(10 * time.Second)
				for {
					select {
					case ev := <-w.ResultChan():
						if cm, ok := ev.Object.(*corev1.ConfigMap); ok && cm.Name == name {
							d := time.Since(t0)
							mu.Lock()
							lat = append(lat, d)
							mu.Unlock()
							return
						}
					case <-timeout:
						return
					}
				}
			}(w)
		}
		wg.Wait()
	}
	if len(lat) != watchers*events {
		return lat, fmt.Errorf("only %d of %d watch deliveries arrived", len(lat), watchers*events)
	}
	return lat, nil
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	if i > 0 {
		i--
	}
	return s[i].Round(10 * time.Microsecond)
}
