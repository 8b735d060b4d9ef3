package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/navarch/navarch/internal/storage/embedded"
	"github.com/navarch/navarch/test/framework"
)

// TestExternalEtcdAndTwoServers runs a server against an external etcd
// (--etcd-endpoints), then a second server against the same etcd: both
// serve the same objects.
func TestExternalEtcdAndTwoServers(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binary")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	etcd, err := embedded.Start(ctx, embedded.Config{DataDir: t.TempDir(), ClientURL: "http://127.0.0.1:0"})
	if err != nil {
		t.Fatalf("starting the external etcd: %v", err)
	}
	defer etcd.Close()
	url := etcd.Endpoints()[0]

	a := framework.StartBinary(t, framework.Options{EtcdEndpoints: []string{url}})
	b := framework.StartBinary(t, framework.Options{EtcdEndpoints: []string{url}})
	a.MustKubectl(t, "create", "configmap", "shared", "--from-literal=from=a")
	if got := b.MustKubectl(t, "get", "configmap", "shared", "-o", "jsonpath={.data.from}"); got != "a" {
		t.Fatalf("server b sees data.from = %q, want a", got)
	}
	// A watch on b sees a write through a.
	cmd := exec.Command(framework.Binary(t), "kubectl", "get", "configmaps", "-w", "-o", "name")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+b.Kubeconfig)
	var out syncBuffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	framework.WaitFor(t, 20*time.Second, "watch started", func() (bool, error) { return strings.Contains(out.String(), "configmap/shared"), nil })
	a.MustKubectl(t, "create", "configmap", "through-a")
	framework.WaitFor(t, 20*time.Second, "b's watch sees a's write", func() (bool, error) {
		return strings.Contains(out.String(), "configmap/through-a"), nil
	})
	// Both bootstrapped the same kubernetes Service: one object, one IP.
	ipA := a.MustKubectl(t, "get", "service", "kubernetes", "-o", "jsonpath={.spec.clusterIP}")
	ipB := b.MustKubectl(t, "get", "service", "kubernetes", "-o", "jsonpath={.spec.clusterIP}")
	if ipA != "10.43.0.1" || ipB != ipA {
		t.Fatalf("kubernetes service IPs: a %q b %q", ipA, ipB)
	}
}

// TestKillLosesNoAcknowledgedWrite SIGKILLs the server in the middle of a
// write loop; after a restart on the same data dir every write the server
// acknowledged is there.
func TestKillLosesNoAcknowledgedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binary")
	}
	dir := t.TempDir()
	c := framework.StartBinary(t, framework.Options{DataDir: dir})
	client := c.Client(t)
	var mu sync.Mutex
	acked := map[string]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("w%d-%d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
					ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"i": fmt.Sprint(i)}}, metav1.CreateOptions{})
				cancel()
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked[name] = true
				mu.Unlock()
			}
		}(w)
	}
	framework.WaitFor(t, 30*time.Second, "some writes acknowledged", func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 200, nil
	})
	c.Kill()
	close(stop)
	wg.Wait()

	c2 := framework.StartBinary(t, framework.Options{DataDir: dir, Port: c.Port})
	list, err := c2.Client(t).CoreV1().ConfigMaps("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, cm := range list.Items {
		stored[cm.Name] = true
	}
	mu.Lock()
	defer mu.Unlock()
	for name := range acked {
		if !stored[name] {
			t.Errorf("acknowledged write %s lost", name)
		}
	}
	t.Logf("%d acknowledged writes, all present after SIGKILL and restart", len(acked))
}

// TestStockKubectl runs the kubectl installed on the machine (1.32+), when
// there is one, against the generated kubeconfig.
func TestStockKubectl(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binary")
	}
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("no stock kubectl on PATH")
	}
	c := framework.StartBinary(t, framework.Options{})
	run := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(kubectl, args...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", kubectl, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	t.Logf("stock kubectl: %s", strings.TrimSpace(run("", "version", "--client")))
	run(deploymentYAML, "apply", "-f", "-")
	if out := run(deploymentYAML, "apply", "-f", "-"); !strings.Contains(out, "unchanged") {
		t.Fatalf("second apply: %s", out)
	}
	if out := run("", "get", "deployments"); !strings.Contains(out, "web") || !strings.Contains(out, "UP-TO-DATE") {
		t.Fatalf("get deployments:\n%s", out)
	}
	if out := run("", "get", "namespaces"); !strings.Contains(out, "kube-system") {
		t.Fatalf("get namespaces:\n%s", out)
	}
	if out := run("", "explain", "deployment.spec.strategy"); !strings.Contains(out, "rollingUpdate") {
		t.Fatalf("explain:\n%s", out)
	}
	run("", "delete", "deployment", "web")
}
