package deployment_test

import (
	"context"
	"fmt"
	"github.com/navarch/navarch/internal/controller/deployment"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/navarch/navarch/internal/controller"
	"github.com/navarch/navarch/internal/controller/replicaset"
	"github.com/navarch/navarch/test/framework"
)

const waitTimeout = 60 * time.Second

// testCluster is an in-process control plane with the ReplicaSet and
// Deployment controllers running, as the server will run them.
type testCluster struct {
	cluster *framework.Cluster
	client  kubernetes.Interface
}

func startCluster(t testing.TB) *testCluster {
	t.Helper()
	cluster := framework.StartInProcess(t, framework.Options{})
	client, err := kubernetes.NewForConfig(cluster.RESTConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(client, 0)
	rsController := replicaset.New(client, factory.Apps().V1().ReplicaSets(), factory.Core().V1().Pods())
	dController := deployment.New(client, factory.Apps().V1().Deployments(), factory.Apps().V1().ReplicaSets(), factory.Core().V1().Pods())
	factory.Start(ctx.Done())
	var wg sync.WaitGroup
	for _, start := range []func(context.Context) error{rsController.Start, dController.Start} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := start(ctx); err != nil {
				t.Errorf("controller: %v", err)
			}
		}()
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		factory.Shutdown()
	})
	return &testCluster{cluster: cluster, client: client}
}

func (tc *testCluster) namespace(t testing.TB, name string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := tc.client.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

// kubectl runs kubectl against the cluster: $KUBECTL if set (any stock
// kubectl), else the one built into navarch.
func (tc *testCluster) kubectl(t testing.TB, stdin string, args ...string) (string, error) {
	t.Helper()
	bin := os.Getenv("KUBECTL")
	if bin == "" {
		stdout, stderr, err := tc.cluster.KubectlWithInput(t, stdin, args...)
		return stdout + stderr, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+tc.cluster.Kubeconfig)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (tc *testCluster) mustKubectl(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	out, err := tc.kubectl(t, stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// markPodsReady plays the node agent: until the test ends it marks every
// active pod in ns Running and Ready as soon as it sees it.
func (tc *testCluster) markPodsReady(t testing.TB, ns string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			pods, err := tc.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				continue
			}
			for i := range pods.Items {
				pod := &pods.Items[i]
				if pod.DeletionTimestamp != nil || controller.IsPodReady(pod) {
					continue
				}
				pod.Status.Phase = corev1.PodRunning
				pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
				_, err := tc.client.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
				if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && ctx.Err() == nil {
					t.Errorf("marking pod %s ready: %v", pod.Name, err)
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
}

// availabilityMonitor watches a Deployment and remembers every status
// whose availableReplicas is below replicas-maxUnavailable.
type availabilityMonitor struct {
	mu         sync.Mutex
	armed      bool
	violations []string
	seen       int
}

func (tc *testCluster) watchAvailability(t testing.TB, ns, name string, minAvailable int32) *availabilityMonitor {
	t.Helper()
	m := &availabilityMonitor{}
	ctx, cancel := context.WithCancel(context.Background())
	w, err := tc.client.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); w.Stop(); <-done })
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			d, ok := ev.Object.(*appsv1.Deployment)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			m.mu.Lock()
			m.seen++
			if m.armed && d.Status.AvailableReplicas < minAvailable {
				m.violations = append(m.violations, fmt.Sprintf("generation %d: available %d < %d (replicas %d, updated %d)",
					d.Generation, d.Status.AvailableReplicas, minAvailable, d.Status.Replicas, d.Status.UpdatedReplicas))
			}
			m.mu.Unlock()
		}
	}()
	return m
}

// arm starts checking (after the first rollout, when all are available).
func (m *availabilityMonitor) arm() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.armed = true
}

func (m *availabilityMonitor) check(t *testing.T) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range m.violations {
		t.Errorf("availability dropped below replicas-maxUnavailable: %s", v)
	}
	m.violations = nil
}

func (tc *testCluster) deployment(t testing.TB, ns, name string) *appsv1.Deployment {
	t.Helper()
	d, err := tc.client.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (tc *testCluster) replicaSets(t testing.TB, ns string) []appsv1.ReplicaSet {
	t.Helper()
	list, err := tc.client.AppsV1().ReplicaSets(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

const webManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 4
  selector:
    matchLabels: {app: web}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 1}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.0
`

func TestRollingUpdateWithKubectl(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster and runs kubectl")
	}
	tc := startCluster(t)
	ns := tc.namespace(t, "rolling")
	tc.markPodsReady(t, ns)
	monitor := tc.watchAvailability(t, ns, "web", 4-1)
	tc.mustKubectl(t, webManifest, "-n", ns, "apply", "-f", "-")

	t.Run("first rollout", func(t *testing.T) {
		out := tc.mustKubectl(t, "", "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
		if !strings.Contains(out, `deployment "web" successfully rolled out`) {
			t.Errorf("rollout status output:\n%s", out)
		}
		d := tc.deployment(t, ns, "web")
		rss := tc.replicaSets(t, ns)
		if len(rss) != 1 {
			t.Fatalf("replica sets = %d, want 1", len(rss))
		}
		rs := rss[0]
		hash := controller.ComputeHash(&d.Spec.Template, d.Status.CollisionCount)
		checks := []struct{ what, got, want string }{
			{"replica set name", rs.Name, "web-" + hash},
			{"pod-template-hash label", rs.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey], hash},
			{"selector hash", rs.Spec.Selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey], hash},
			{"rs revision", rs.Annotations[deployment.RevisionAnnotation], "1"},
			{"rs desired-replicas", rs.Annotations[deployment.DesiredReplicasAnnotation], "4"},
			{"rs max-replicas", rs.Annotations[deployment.MaxReplicasAnnotation], "5"},
			{"deployment revision", d.Annotations[deployment.RevisionAnnotation], "1"},
			{"available", fmt.Sprint(d.Status.AvailableReplicas), "4"},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
			}
		}
		cond := deployment.GetConditionForTest(&d.Status, appsv1.DeploymentProgressing)
		if cond == nil || cond.Reason != deployment.NewRSAvailableReason {
			t.Errorf("Progressing condition = %+v, want reason %s", cond, deployment.NewRSAvailableReason)
		}
		if cond := deployment.GetConditionForTest(&d.Status, appsv1.DeploymentAvailable); cond == nil || cond.Status != corev1.ConditionTrue {
			t.Errorf("Available condition = %+v, want True", cond)
		}
	})
	monitor.arm()

	t.Run("set image rolls out keeping availability", func(t *testing.T) {
		tc.mustKubectl(t, "", "-n", ns, "set", "image", "deployment/web", "web=nginx:2.0")
		tc.mustKubectl(t, "", "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
		monitor.check(t)
		d := tc.deployment(t, ns, "web")
		if got := d.Annotations[deployment.RevisionAnnotation]; got != "2" {
			t.Errorf("deployment revision = %q, want 2", got)
		}
		if d.Status.UpdatedReplicas != 4 || d.Status.Replicas != 4 {
			t.Errorf("status = %+v, want 4 updated of 4", d.Status)
		}
	})

	t.Run("history lists both revisions", func(t *testing.T) {
		out := tc.mustKubectl(t, "", "-n", ns, "rollout", "history", "deployment/web")
		for _, rev := range []string{"1 ", "2 "} {
			if !strings.Contains(out, "\n"+rev) {
				t.Errorf("history lacks revision %s:\n%s", rev, out)
			}
		}
	})

	t.Run("undo restores the previous template", func(t *testing.T) {
		tc.mustKubectl(t, "", "-n", ns, "rollout", "undo", "deployment/web")
		tc.mustKubectl(t, "", "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
		monitor.check(t)
		d := tc.deployment(t, ns, "web")
		if got := d.Spec.Template.Spec.Containers[0].Image; got != "nginx:1.0" {
			t.Errorf("image after undo = %q, want nginx:1.0", got)
		}
		if got := d.Annotations[deployment.RevisionAnnotation]; got != "3" {
			t.Errorf("deployment revision = %q, want 3", got)
		}
		rss := tc.replicaSets(t, ns)
		if len(rss) != 2 {
			t.Fatalf("replica sets = %d, want 2 (the first one reused)", len(rss))
		}
		for _, rs := range rss {
			if rs.Spec.Template.Spec.Containers[0].Image != "nginx:1.0" {
				continue
			}
			if rs.Annotations[deployment.RevisionAnnotation] != "3" || rs.Annotations[deployment.RevisionHistoryAnnotation] != "1" {
				t.Errorf("reused replica set annotations = %v, want revision 3, history 1", rs.Annotations)
			}
		}
	})

	t.Run("pause holds a template change until resume", func(t *testing.T) {
		tc.mustKubectl(t, "", "-n", ns, "rollout", "pause", "deployment/web")
		tc.mustKubectl(t, "", "-n", ns, "set", "image", "deployment/web", "web=nginx:3.0")
		framework.WaitFor(t, waitTimeout, "paused deployment observed", func() (bool, error) {
			d := tc.deployment(t, ns, "web")
			cond := deployment.GetConditionForTest(&d.Status, appsv1.DeploymentProgressing)
			return d.Status.ObservedGeneration == d.Generation && cond != nil && cond.Reason == deployment.PausedDeployReason, nil
		})
		if got := len(tc.replicaSets(t, ns)); got != 2 {
			t.Errorf("replica sets while paused = %d, want 2", got)
		}
		tc.mustKubectl(t, "", "-n", ns, "rollout", "resume", "deployment/web")
		tc.mustKubectl(t, "", "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
		monitor.check(t)
		if got := len(tc.replicaSets(t, ns)); got != 3 {
			t.Errorf("replica sets after resume = %d, want 3", got)
		}
	})

	t.Run("restart rolls out a new replica set", func(t *testing.T) {
		tc.mustKubectl(t, "", "-n", ns, "rollout", "restart", "deployment/web")
		tc.mustKubectl(t, "", "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
		monitor.check(t)
		d := tc.deployment(t, ns, "web")
		if _, ok := d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"]; !ok {
			t.Errorf("template annotations = %v, want restartedAt", d.Spec.Template.Annotations)
		}
		if got := d.Annotations[deployment.RevisionAnnotation]; got != "5" {
			t.Errorf("deployment revision = %q, want 5", got)
		}
	})

	t.Run("scale", func(t *testing.T) {
		tc.mustKubectl(t, "", "-n", ns, "scale", "deployment/web", "--replicas=6")
		framework.WaitFor(t, waitTimeout, "6 available replicas", func() (bool, error) {
			d := tc.deployment(t, ns, "web")
			return d.Status.ObservedGeneration == d.Generation && d.Status.AvailableReplicas == 6 && d.Status.Replicas == 6, nil
		})
	})

	t.Run("describe shows what upstream shows", func(t *testing.T) {
		out := tc.mustKubectl(t, "", "-n", ns, "describe", "deployment", "web")
		for _, want := range []string{
			"StrategyType:           RollingUpdate",
			"RollingUpdateStrategy:  1 max unavailable, 1 max surge",
			"NewReplicaSet:",
			"ScalingReplicaSet",
			"Scaled up replica set web-",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("describe lacks %q:\n%s", want, out)
			}
		}
	})
}

func TestRecreateWithKubectl(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster and runs kubectl")
	}
	tc := startCluster(t)
	ns := tc.namespace(t, "recreate")
	tc.markPodsReady(t, ns)
	manifest := strings.Replace(webManifest, "    type: RollingUpdate\n    rollingUpdate: {maxSurge: 1, maxUnavailable: 1}\n", "    type: Recreate\n", 1)
	tc.mustKubectl(t, manifest, "-n", ns, "apply", "-f", "-")
	tc.mustKubectl(t, "", "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")

	// Recreate never runs old and new pods together.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := tc.client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	images := map[string]string{}
	var mixed []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			if ev.Type == watch.Deleted {
				delete(images, pod.Name)
			} else {
				images[pod.Name] = pod.Spec.Containers[0].Image
			}
			seen := map[string]bool{}
			for _, img := range images {
				seen[img] = true
			}
			if len(seen) > 1 {
				mixed = append(mixed, fmt.Sprint(images))
			}
		}
	}()
	tc.mustKubectl(t, "", "-n", ns, "set", "image", "deployment/web", "web=nginx:2.0")
	tc.mustKubectl(t, "", "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
	cancel()
	w.Stop()
	<-done
	for _, m := range mixed {
		t.Errorf("old and new pods at once: %s", m)
	}
	d := tc.deployment(t, ns, "web")
	if d.Status.UpdatedReplicas != 4 || d.Status.AvailableReplicas != 4 {
		t.Errorf("status = %+v, want 4 updated and available", d.Status)
	}
}

func TestProgressDeadlineWithKubectl(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster and runs kubectl")
	}
	tc := startCluster(t)
	ns := tc.namespace(t, "deadline")
	// No pod ever turns ready here.
	manifest := strings.Replace(webManifest, "  replicas: 4\n", "  replicas: 2\n  progressDeadlineSeconds: 2\n", 1)
	tc.mustKubectl(t, manifest, "-n", ns, "apply", "-f", "-")
	out, err := tc.kubectl(t, "", "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
	if err == nil || !strings.Contains(out, `deployment "web" exceeded its progress deadline`) {
		t.Errorf("rollout status: err %v, output:\n%s\nwant the progress deadline error", err, out)
	}
	d := tc.deployment(t, ns, "web")
	cond := deployment.GetConditionForTest(&d.Status, appsv1.DeploymentProgressing)
	if cond == nil || cond.Status != corev1.ConditionFalse || cond.Reason != deployment.TimedOutReason {
		t.Errorf("Progressing = %+v, want False %s", cond, deployment.TimedOutReason)
	}
	if cond := deployment.GetConditionForTest(&d.Status, appsv1.DeploymentAvailable); cond == nil || cond.Status != corev1.ConditionFalse {
		t.Errorf("Available = %+v, want False", cond)
	}
}

func TestRevisionHistoryLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	tc := startCluster(t)
	ns := tc.namespace(t, "history")
	tc.markPodsReady(t, ns)
	manifest := strings.Replace(webManifest, "  replicas: 4\n", "  replicas: 2\n  revisionHistoryLimit: 1\n", 1)
	tc.mustKubectl(t, manifest, "-n", ns, "apply", "-f", "-")
	for _, image := range []string{"nginx:2.0", "nginx:3.0", "nginx:4.0"} {
		tc.mustKubectl(t, "", "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
		tc.mustKubectl(t, "", "-n", ns, "set", "image", "deployment/web", "web="+image)
	}
	tc.mustKubectl(t, "", "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
	framework.WaitFor(t, waitTimeout, "old replica sets beyond the limit deleted", func() (bool, error) {
		return len(tc.replicaSets(t, ns)) == 2, nil
	})
	for _, rs := range tc.replicaSets(t, ns) {
		if rev := rs.Annotations[deployment.RevisionAnnotation]; rev != "3" && rev != "4" {
			t.Errorf("kept replica set %s of revision %s, want revisions 3 and 4 only", rs.Name, rev)
		}
	}
}
