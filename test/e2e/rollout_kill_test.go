package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/simnode"
	"github.com/navarch/navarch/test/framework"
)

// TestServerKilledMidRollout kills the server (API server, controllers and
// scheduler in one process) with SIGKILL in the middle of a rolling update
// on simulated nodes, restarts it on the same data dir, and checks that the
// rollout finishes from the stored state: every replica of the new
// template created exactly once, none of the old left, and never fewer
// ready pods than replicas - maxUnavailable while it ran.
func TestServerKilledMidRollout(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binary")
	}
	const (
		replicas       = 20
		maxUnavailable = 2
		deployment     = "roll"
	)
	a := framework.StartBinary(t, framework.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The simulated nodes and the pod recorder run in this process, so
	// they outlive the server and reconnect to its successor.
	cfg := a.RESTConfig(t)
	cfg.QPS, cfg.Burst = -1, 0
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sim := simnode.New(client, simnode.Config{Count: 5, NamePrefix: "roll-node-"})
	simDone := make(chan error, 1)
	go func() { simDone <- sim.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-simDone; err != nil {
			t.Errorf("simulated nodes: %v", err)
		}
	}()
	rec := newPodRecorder(t, ctx, client, "app="+deployment)

	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: deployment, Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(replicas)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": deployment}},
			// A pod counts as available 2 s after it is ready, so the
			// rollout takes several rounds and the kill lands inside it.
			MinReadySeconds: 2,
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxSurge:       ptr.To(intstr.FromInt32(3)),
					MaxUnavailable: ptr.To(intstr.FromInt32(maxUnavailable)),
				}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": deployment}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "localhost/web:1"}}},
			},
		},
	}
	if _, err := client.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, client, deployment, replicas, 90*time.Second)
	rec.startChecking()

	a.MustKubectl(t, "set", "image", "deployment/"+deployment, "web=localhost/web:2")
	framework.WaitFor(t, 60*time.Second, "the rollout under way", func() (bool, error) {
		got, err := client.AppsV1().Deployments("default").Get(ctx, deployment, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		st := got.Status
		return st.ObservedGeneration == got.Generation && st.UpdatedReplicas > 0 && st.UpdatedReplicas < replicas, nil
	})
	a.Kill()
	t.Logf("server killed with %d pods of the new template created", rec.created("localhost/web:2"))

	framework.StartBinary(t, framework.Options{DataDir: a.DataDir, Port: a.Port})
	waitRolledOut(t, client, deployment, replicas, 120*time.Second)

	pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=" + deployment})
	if err != nil {
		t.Fatal(err)
	}
	live := 0
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		live++
		if img := p.Spec.Containers[0].Image; img != "localhost/web:2" {
			t.Errorf("pod %s still runs %s after the rollout", p.Name, img)
		}
	}
	if live != replicas {
		t.Errorf("%d live pods after the rollout, want %d", live, replicas)
	}
	if n := rec.created("localhost/web:2"); n != replicas {
		t.Errorf("%d pods of the new template were created, want exactly %d (none twice, none missing)", n, replicas)
	}
	if low, ok := rec.lowestReady(); ok && low < replicas-maxUnavailable {
		t.Errorf("ready pods dropped to %d during the rollout, below replicas - maxUnavailable = %d", low, replicas-maxUnavailable)
	}
}

// waitRolledOut waits until the deployment's current template runs on
// every replica and nothing else is left.
func waitRolledOut(t *testing.T, client kubernetes.Interface, name string, replicas int32, timeout time.Duration) {
	t.Helper()
	framework.WaitFor(t, timeout, fmt.Sprintf("deployment %s rolled out", name), func() (bool, error) {
		d, err := client.AppsV1().Deployments("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		st := d.Status
		return st.ObservedGeneration == d.Generation && st.UpdatedReplicas == replicas &&
			st.Replicas == replicas && st.AvailableReplicas == replicas, nil
	})
}

// podRecorder watches a label selector's pods through an informer (which
// relists across a server restart): which pods were ever created per image,
// and, once checking starts, the lowest number of ready, undeleted pods.
type podRecorder struct {
	mu       sync.Mutex
	ready    map[string]bool
	seen     map[string]string // pod UID -> image
	checking bool
	lowest   int
}

func newPodRecorder(t *testing.T, ctx context.Context, client kubernetes.Interface, selector string) *podRecorder {
	r := &podRecorder{ready: map[string]bool{}, seen: map[string]string{}, lowest: -1}
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace("default"),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector }))
	inf := factory.Core().V1().Pods().Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.observe(obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { r.observe(obj.(*corev1.Pod)) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				r.mu.Lock()
				delete(r.ready, string(pod.UID))
				r.sample()
				r.mu.Unlock()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	return r
}

func (r *podRecorder) observe(pod *corev1.Pod) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen[string(pod.UID)] = pod.Spec.Containers[0].Image
	ready := pod.DeletionTimestamp == nil
	if ready {
		ready = false
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
	}
	if ready {
		r.ready[string(pod.UID)] = true
	} else {
		delete(r.ready, string(pod.UID))
	}
	r.sample()
}

// sample records the ready count; r.mu must be held.
func (r *podRecorder) sample() {
	if r.checking && (r.lowest < 0 || len(r.ready) < r.lowest) {
		r.lowest = len(r.ready)
	}
}

// startChecking begins tracking the lowest ready count (after the first
// rollout, which starts from zero).
func (r *podRecorder) startChecking() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checking = true
	r.sample()
}

func (r *podRecorder) created(image string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, img := range r.seen {
		if strings.EqualFold(img, image) {
			n++
		}
	}
	return n
}

func (r *podRecorder) lowestReady() (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lowest, r.lowest >= 0
}
