package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/navarch/navarch/internal/storage/embedded"
	"github.com/navarch/navarch/test/framework"
)

// TestControllerFailover runs two servers on one etcd: the first leads
// and its controllers act; killed, it is replaced by the second within the
// lease duration, whose controllers then act.
func TestControllerFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binary")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	etcd, err := embedded.Start(ctx, embedded.Config{DataDir: t.TempDir(), ClientURL: "http://127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Close()
	url := etcd.Endpoints()[0]

	a := framework.StartBinary(t, framework.Options{EtcdEndpoints: []string{url}})
	replicaSetFor := func(c *framework.Cluster, deployment string) func() (bool, error) {
		return func() (bool, error) {
			out, _, _ := c.Kubectl(t, "get", "replicasets", "-l", "app="+deployment, "-o", "name")
			return strings.HasPrefix(strings.TrimSpace(out), "replicaset.apps/"+deployment+"-"), nil
		}
	}
	a.MustKubectl(t, "create", "deployment", "first", "--image=localhost/web:1")
	framework.WaitFor(t, 30*time.Second, "the first server's controllers", replicaSetFor(a, "first"))
	holderA := a.MustKubectl(t, "get", "lease", "-n", "kube-system", "navarch-controller-manager", "-o", "jsonpath={.spec.holderIdentity}")

	b := framework.StartBinary(t, framework.Options{EtcdEndpoints: []string{url}})
	a.Kill()
	killed := time.Now()
	b.MustKubectl(t, "create", "deployment", "second", "--image=localhost/web:1")
	framework.WaitFor(t, 40*time.Second, "the second server's controllers", replicaSetFor(b, "second"))
	holderB := b.MustKubectl(t, "get", "lease", "-n", "kube-system", "navarch-controller-manager", "-o", "jsonpath={.spec.holderIdentity}")
	if holderB == holderA || holderB == "" {
		t.Fatalf("lease holder %q after the leader %q was killed", holderB, holderA)
	}
	t.Logf("controllers resumed on the second server %v after the leader was killed", time.Since(killed).Round(time.Second))
}
