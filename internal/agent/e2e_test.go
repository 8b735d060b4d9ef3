package agent_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/agent"
	"github.com/navarch/navarch/internal/agent/cni"
	"github.com/navarch/navarch/internal/agent/cri"
	"github.com/navarch/navarch/internal/images"
	"github.com/navarch/navarch/test/framework"
	"github.com/navarch/navarch/test/hostlock"
)

// e2eBridge and e2ePodCIDR keep the test's pod network apart from a
// Navarch agent that may run on the same machine.
const (
	e2eBridge  = "nve2e0"
	e2ePodCIDR = "10.42.250.0/24"
	e2eNode    = "e2e-node"
)

// TestAgentEndToEnd runs the agent on a real containerd against an
// in-process control plane: a pod with env from every source runs, is
// reachable at its IP, survives an agent restart without a container
// restart, shows a missing image as ErrImagePull, gets its status
// written while other writers label it, is followed by logs -f until
// its container exits, shows Terminating while its preStop hook runs
// and a final status (terminated, not ready, its sidecar stopped after
// the app) before it goes, and on
// deletion gives its sandbox and IP back.
func TestAgentEndToEnd(t *testing.T) {
	h := startE2EHost(t, framework.Options{}, nil)
	cluster, client, endpoint, dataDir := h.cluster, h.client, h.endpoint, h.cfg.DataDir
	ctx := context.Background()
	// outer is the test itself: the restarted agent outlives its subtest.
	outer := t

	mustCreate(t, client, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "web-config", Namespace: "default"}, Data: map[string]string{"greeting": "hello"}})
	mustCreate(t, client, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "web-secret", Namespace: "default"}, Data: map[string][]byte{"token": []byte("s3cret")}})
	created := time.Now()
	pod, err := client.CoreV1().Pods("default").Create(ctx, webPod(), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod: %v", err)
	}
	pod = waitPod(t, client, "web", "Running and Ready", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodRunning && podReady(p) && p.Status.PodIP != ""
	})
	t.Logf("pod create -> Running and Ready: %v", time.Since(created).Round(time.Millisecond))
	checkRunningStatus(t, pod)

	t.Run("reachable at the pod IP from the host", func(t *testing.T) {
		body := httpGet(t, "http://"+pod.Status.PodIP+":8080/x")
		if want := "hello from web path=/x"; !strings.Contains(body, want) {
			t.Errorf("GET pod IP: got %q, want it to contain %q", body, want)
		}
	})

	t.Run("env from every source", func(t *testing.T) {
		logFile := filepath.Join(dataDir, "pods", fmt.Sprintf("default_web_%s", pod.UID), "web", "0.log")
		var log string
		framework.WaitFor(t, 20*time.Second, "the container's env in its log", func() (bool, error) {
			data, _ := os.ReadFile(logFile)
			log = string(data)
			return strings.Contains(log, "listening on"), nil
		})
		for _, want := range []string{
			"env POD_NAME=web", "env POD_NAMESPACE=default", "env NODE=" + e2eNode,
			"env POD_IP=" + pod.Status.PodIP, "env GREETING=hello", "env TOKEN=s3cret",
			"env MESSAGE=hello from web", "env APP_LABEL=web", "env PATH=/",
		} {
			if !strings.Contains(log, want+"\n") {
				t.Errorf("container log lacks %q:\n%s", want, log)
			}
		}
	})

	t.Run("events", func(t *testing.T) {
		framework.WaitFor(t, 10*time.Second, "Pulled, Created and Started events", func() (bool, error) {
			events, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{
				FieldSelector: fields.OneTermEqualSelector("involvedObject.name", "web").String()})
			if err != nil {
				return false, err
			}
			seen := map[string]bool{}
			for _, e := range events.Items {
				if e.Source.Component == "kubelet" && e.InvolvedObject.FieldPath == "spec.containers{web}" {
					seen[e.Reason] = true
				}
			}
			return seen["Pulled"] && seen["Created"] && seen["Started"], nil
		})
	})

	t.Run("agent restart adopts the running pod", func(t *testing.T) {
		restarted := time.Now()
		h.restartAgent(outer)
		// A new pod running proves the new agent syncs pods; its first
		// relist woke the web pod before that.
		second := webPod()
		second.Name = "second"
		if _, err := client.CoreV1().Pods("default").Create(ctx, second, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating pod: %v", err)
		}
		waitPod(t, client, "second", "Running after the agent restart", func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodRunning && podReady(p)
		})
		lease, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, e2eNode, metav1.GetOptions{})
		if err != nil || !lease.Spec.RenewTime.After(restarted) {
			t.Errorf("node lease %v (err %v) not renewed after the restart at %v", lease.Spec.RenewTime, err, restarted)
		}
		after, err := client.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := after.Status.ContainerStatuses[0].ContainerID, pod.Status.ContainerStatuses[0].ContainerID; got != want {
			t.Errorf("container id after restart = %s, want %s (adopted, not restarted)", got, want)
		}
		if got := after.Status.ContainerStatuses[0].RestartCount; got != 0 || after.Status.Phase != corev1.PodRunning {
			t.Errorf("after the agent restart: phase %s restartCount %d, want Running and 0", after.Status.Phase, got)
		}
		rt, err := cri.Dial(ctx, endpoint)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer rt.Close()
		containers, err := rt.ListContainers(ctx, &runtimeapi.ContainerFilter{LabelSelector: map[string]string{cri.LabelPodUID: string(pod.UID)}})
		if err != nil {
			t.Fatal(err)
		}
		if len(containers) != 1 || "containerd://"+containers[0].Id != pod.Status.ContainerStatuses[0].ContainerID ||
			containers[0].State != runtimeapi.ContainerState_CONTAINER_RUNNING {
			t.Errorf("runtime containers of the web pod = %v, want only the original, running", containers)
		}
		deleteAndWait(t, client, "second")
		body := httpGet(t, "http://"+pod.Status.PodIP+":8080/again")
		if !strings.Contains(body, "path=/again") {
			t.Errorf("GET after restart: %q", body)
		}
	})

	t.Run("missing image", func(t *testing.T) {
		missing := webPod()
		missing.Name = "missing"
		missing.Spec.Containers[0].Image = "localhost/missing:1"
		missing.Spec.Containers[0].ImagePullPolicy = corev1.PullIfNotPresent
		if _, err := client.CoreV1().Pods("default").Create(ctx, missing, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating pod: %v", err)
		}
		p := waitPod(t, client, "missing", "ErrImagePull or ImagePullBackOff", func(p *corev1.Pod) bool {
			if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Waiting == nil {
				return false
			}
			r := p.Status.ContainerStatuses[0].State.Waiting.Reason
			return r == "ErrImagePull" || r == "ImagePullBackOff"
		})
		if p.Status.Phase != corev1.PodPending {
			t.Errorf("phase = %s, want Pending", p.Status.Phase)
		}
		framework.WaitFor(t, 10*time.Second, "a Failed event naming the image", func() (bool, error) {
			events, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{
				FieldSelector: fields.OneTermEqualSelector("involvedObject.name", "missing").String()})
			if err != nil {
				return false, err
			}
			for _, e := range events.Items {
				if e.Reason == "Failed" && strings.Contains(e.Message, `"localhost/missing:1"`) {
					return true, nil
				}
			}
			return false, nil
		})
		deleteAndWait(t, client, "missing")
	})

	t.Run("security context: runAsNonRoot, runAsUser, seccomp", func(t *testing.T) {
		// The image has no user: it would run as root.
		root := webPod()
		root.Name = "nonroot"
		root.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}
		mustCreate(t, client, root)
		waitPod(t, client, "nonroot", "refused to run as root", func(p *corev1.Pod) bool {
			if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Waiting == nil {
				return false
			}
			w := p.Status.ContainerStatuses[0].State.Waiting
			return w.Reason == "CreateContainerConfigError" && strings.Contains(w.Message, "container has runAsNonRoot and image will run as root")
		})
		deleteAndWait(t, client, "nonroot")

		confined := webPod()
		confined.Name = "confined"
		confined.Spec.RestartPolicy = corev1.RestartPolicyNever
		confined.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(1000)),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
		confined.Spec.Containers[0].Args = []string{"cat", "/proc/self/status"}
		mustCreate(t, client, confined)
		done := waitPod(t, client, "confined", "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
		data, err := os.ReadFile(filepath.Join(dataDir, "pods", fmt.Sprintf("default_confined_%s", done.UID), "web", "0.log"))
		if err != nil {
			t.Fatal(err)
		}
		// CRI log lines: "TIME stdout F Name:\tweb".
		status := string(data)
		for _, want := range []string{"F Uid:\t1000\t", "F Seccomp:\t2\n"} {
			if !strings.Contains(status, want) {
				t.Errorf("/proc/self/status of the confined container lacks %q:\n%s", want, status)
			}
		}
		deleteAndWait(t, client, "confined")
	})

	t.Run("a deleted pod shows Terminating, then its final status", func(t *testing.T) {
		slow := webPod()
		slow.Name = "slow"
		slow.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 4}}}
		// A sidecar, which must outlive the app while it drains.
		slow.Spec.InitContainers = []corev1.Container{{
			Name: "proxy", Image: "localhost/web:e2e", ImagePullPolicy: corev1.PullNever,
			RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
			Env:           []corev1.EnvVar{{Name: "PORT", Value: "8081"}},
		}}
		if _, err := client.CoreV1().Pods("default").Create(ctx, slow, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating pod: %v", err)
		}
		// Other writers label the pod while the agent writes its status
		// (the status patches must not conflict with them).
		labelCtx, stopLabels := context.WithCancel(ctx)
		labelsDone := make(chan int)
		go func() {
			n := 0
			for labelCtx.Err() == nil {
				patch := fmt.Sprintf(`{"metadata":{"labels":{"writer":"w%d"}}}`, n)
				if _, err := client.CoreV1().Pods("default").Patch(labelCtx, "slow", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err == nil {
					n++
				}
				time.Sleep(10 * time.Millisecond)
			}
			labelsDone <- n
		}()
		p := waitPod(t, client, "slow", "Running and Ready while its labels change", func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodRunning && podReady(p) && p.Status.PodIP != ""
		})
		stopLabels()
		if n := <-labelsDone; n == 0 {
			t.Errorf("no label patch went through while the pod started")
		}
		checkRunningStatus(t, p)
		// (This first kubectl also builds it, so the one during the
		// grace period is quick.)
		if out := cluster.MustKubectl(t, "get", "pods", "slow"); !hasTableRow(out, "slow", "Running") {
			t.Errorf("kubectl get:\n%s\nwant slow Running", out)
		}

		// kubectl logs -f streams the running container's log and ends
		// when the container exits.
		logs, err := client.CoreV1().Pods("default").GetLogs("slow", &corev1.PodLogOptions{Container: "web", Follow: true}).Stream(ctx)
		if err != nil {
			t.Fatalf("logs -f: %v", err)
		}
		defer logs.Close()
		logLines := make(chan string, 100)
		go func() {
			defer close(logLines)
			r := bufio.NewReader(logs)
			for {
				line, err := r.ReadString('\n')
				if line != "" {
					logLines <- line
				}
				if err != nil {
					return
				}
			}
		}()
		framework.WaitFor(t, 20*time.Second, "the followed log to reach 'listening on'", func() (bool, error) {
			for {
				select {
				case line, ok := <-logLines:
					if !ok {
						return false, fmt.Errorf("logs -f ended while the container runs")
					}
					if strings.HasPrefix(line, "listening on") {
						return true, nil
					}
				default:
					return false, nil
				}
			}
		})

		w, err := client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("metadata.name", "slow").String(), ResourceVersion: p.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		deleted := time.Now()
		if err := client.CoreV1().Pods("default").Delete(ctx, "slow", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		// The preStop hook holds the container for 4 s: kubectl shows the
		// pod Terminating meanwhile.
		if out := cluster.MustKubectl(t, "get", "pods", "slow"); !hasTableRow(out, "slow", "Terminating") {
			t.Errorf("kubectl get during the grace period:\n%s\nwant slow Terminating", out)
		}
		var last *corev1.Pod
		timeout := time.After(40 * time.Second)
	events:
		for {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					t.Fatal("the watch ended before the pod was deleted")
				}
				if ev.Type == "DELETED" {
					break events
				}
				if pod, ok := ev.Object.(*corev1.Pod); ok {
					last = pod
				}
			case <-timeout:
				t.Fatalf("pod slow not gone 40s after its deletion; last status %+v", statusOf(last))
			}
		}
		t.Logf("delete -> gone: %v", time.Since(deleted).Round(time.Millisecond))
		if last == nil || last.DeletionTimestamp == nil {
			t.Fatalf("no update of the pod with a deletionTimestamp before it went: %+v", last)
		}
		cs := last.Status.ContainerStatuses
		if len(cs) != 1 || cs[0].State.Terminated == nil || cs[0].Ready {
			t.Fatalf("the pod's last container status %+v, want terminated and not ready", cs)
		}
		if term := cs[0].State.Terminated; term.Reason == "" || term.FinishedAt.IsZero() || term.ContainerID != cs[0].ContainerID {
			t.Errorf("terminated state %+v, want a reason, a finish time and the container's id", term)
		}
		if podReady(last) || (last.Status.Phase != corev1.PodFailed && last.Status.Phase != corev1.PodSucceeded) {
			t.Errorf("the pod's last status: phase %s, ready %v; want a terminal phase, not ready", last.Status.Phase, podReady(last))
		}
		t.Logf("final status: phase %s, container terminated %s (exit code %d)", last.Status.Phase, cs[0].State.Terminated.Reason, cs[0].State.Terminated.ExitCode)
		// The sidecar stopped after the app (whose preStop hook took 4 s).
		if ics := last.Status.InitContainerStatuses; len(ics) != 1 || ics[0].State.Terminated == nil ||
			ics[0].State.Terminated.FinishedAt.Before(&cs[0].State.Terminated.FinishedAt) {
			t.Errorf("sidecar status %+v, want terminated no earlier than the app (finished %v)", ics, cs[0].State.Terminated.FinishedAt)
		} else {
			t.Logf("app finished %v, sidecar finished %v", cs[0].State.Terminated.FinishedAt.Format(time.TimeOnly), ics[0].State.Terminated.FinishedAt.Format(time.TimeOnly))
		}
		// The follow ended with the container.
		framework.WaitFor(t, 10*time.Second, "logs -f to end", func() (bool, error) {
			for {
				select {
				case _, ok := <-logLines:
					if !ok {
						return true, nil
					}
				default:
					return false, nil
				}
			}
		})
	})

	t.Run("deletion releases the sandbox and IP", func(t *testing.T) {
		deleteAndWait(t, client, "web")
		rt, err := cri.Dial(ctx, endpoint)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer rt.Close()
		framework.WaitFor(t, 10*time.Second, "no sandbox for the pod", func() (bool, error) {
			sandboxes, err := rt.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{cri.LabelPodUID: string(pod.UID)}})
			return len(sandboxes) == 0, err
		})
		lease := filepath.Join(dataDir, "cni", "ipam", "navarch-pods", pod.Status.PodIP)
		if _, err := os.Stat(lease); !os.IsNotExist(err) {
			t.Errorf("IP lease %s still exists (err %v), want it released", lease, err)
		}
	})
}

// removeAllSandboxes stops and removes every sandbox of the test's
// containerd.
func removeAllSandboxes(t *testing.T, endpoint string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rt, err := cri.Dial(ctx, endpoint)
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	defer rt.Close()
	sandboxes, err := rt.ListPodSandbox(ctx, nil)
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	for _, sb := range sandboxes {
		if err := rt.StopPodSandbox(ctx, sb.Id); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if err := rt.RemovePodSandbox(ctx, sb.Id); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
}

// buildPrograms builds the test's web server as a static binary and
// returns its directory. (The pause image comes from the binary navarch
// embeds, as in production.)
func buildPrograms(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+"/", "./testdata/web")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

// e2eHost is an agent on the host's containerd (its own data dir, the
// test bridge and pod CIDR) against an in-process control plane, with the
// web test image imported as localhost/web:e2e.
type e2eHost struct {
	cluster *framework.Cluster
	client  kubernetes.Interface
	cfg     agent.Config
	// endpoint is the CRI socket of the agent's containerd.
	endpoint string
	// stopAgent stops the running agent (and its containerd).
	stopAgent func()
}

// startE2EHost skips the test unless it can run on a real containerd, then
// takes the host lock, starts a control plane with opts and an agent with
// cfg's test defaults (tune adjusts them), waits for the node to be Ready
// and imports the web image. When the test ends, every sandbox is removed
// while containerd still runs, then the agent stops and the pod bridge is
// removed, so a failed test leaves nothing running.
func startE2EHost(t *testing.T, opts framework.Options, tune func(*agent.Config)) *e2eHost {
	t.Helper()
	framework.RequireContainerd(t)
	bin := buildPrograms(t)
	hostlock.Lock(t) // containerd, the pod bridge and port 10250 are the host's
	h := &e2eHost{cluster: framework.StartInProcess(t, opts)}
	h.client = h.cluster.Client(t)
	dataDir := t.TempDir()
	h.cfg = agent.Config{NodeName: e2eNode, DataDir: dataDir, Bridge: e2eBridge, PodCIDR: e2ePodCIDR, KubeletAddress: ":0"}
	if tune != nil {
		tune(&h.cfg)
	}
	t.Cleanup(func() {
		if err := cni.RemoveLeftovers(context.Background(), e2eBridge); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	h.endpoint = "unix://" + filepath.Join(dataDir, "containerd", "containerd.sock")
	h.stopAgent = startAgent(t, h.cfg, h.client)
	t.Cleanup(func() {
		removeAllSandboxes(t, h.endpoint)
		h.stopAgent()
	})
	waitNodeReady(t, h.client)
	ref, err := images.Build(context.Background(), images.CtrImporter(h.endpoint), images.BuildSpec{Binary: filepath.Join(bin, "web"), Tag: "localhost/web:e2e"})
	if err != nil {
		t.Fatalf("building the web image: %v", err)
	}
	if ref != "localhost/web:e2e" {
		t.Errorf("built %q, want localhost/web:e2e", ref)
	}
	return h
}

// restartAgent stops the agent and starts a new one with the same
// configuration; t is the test whose end stops it.
func (h *e2eHost) restartAgent(t *testing.T) {
	h.stopAgent()
	h.stopAgent = startAgent(t, h.cfg, h.client)
}

// startAgent runs an agent until the returned stop is called; stop is
// idempotent and the caller must call it.
func startAgent(t *testing.T, cfg agent.Config, client kubernetes.Interface) (stop func()) {
	t.Helper()
	a, err := agent.New(cfg, client)
	if err != nil {
		t.Fatalf("agent.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Start(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("agent: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("agent did not stop within 60s")
		}
	}
	return stop
}

func waitNodeReady(t *testing.T, client kubernetes.Interface) {
	t.Helper()
	framework.WaitFor(t, 90*time.Second, "node Ready", func() (bool, error) {
		node, err := client.CoreV1().Nodes().Get(context.Background(), e2eNode, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				_, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(context.Background(), e2eNode, metav1.GetOptions{})
				return err == nil, nil
			}
		}
		return false, nil
	})
}

func webPod() *corev1.Pod {
	fieldRef := func(path string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			NodeName:                      e2eNode,
			TerminationGracePeriodSeconds: ptr.To(int64(5)),
			Containers: []corev1.Container{{
				Name: "web", Image: "localhost/web:e2e", ImagePullPolicy: corev1.PullNever,
				Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
				Env: []corev1.EnvVar{
					{Name: "PORT", Value: "8080"},
					{Name: "POD_NAME", ValueFrom: fieldRef("metadata.name")},
					{Name: "POD_NAMESPACE", ValueFrom: fieldRef("metadata.namespace")},
					{Name: "POD_IP", ValueFrom: fieldRef("status.podIP")},
					{Name: "NODE", ValueFrom: fieldRef("spec.nodeName")},
					{Name: "APP_LABEL", ValueFrom: fieldRef("metadata.labels['app']")},
					{Name: "GREETING", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}, Key: "greeting"}}},
					{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: "web-secret"}, Key: "token"}}},
					{Name: "MESSAGE", Value: "$(GREETING) from $(POD_NAME)"},
				},
			}},
		},
	}
}

func mustCreate(t *testing.T, client kubernetes.Interface, obj any) {
	t.Helper()
	var err error
	switch o := obj.(type) {
	case *corev1.ConfigMap:
		_, err = client.CoreV1().ConfigMaps(o.Namespace).Create(context.Background(), o, metav1.CreateOptions{})
	case *corev1.Secret:
		_, err = client.CoreV1().Secrets(o.Namespace).Create(context.Background(), o, metav1.CreateOptions{})
	case *corev1.Pod:
		_, err = client.CoreV1().Pods(o.Namespace).Create(context.Background(), o, metav1.CreateOptions{})
	default:
		t.Fatalf("mustCreate: no create for %T", obj)
	}
	if err != nil {
		t.Fatalf("create: %v", err)
	}
}

func waitPod(t *testing.T, client kubernetes.Interface, name, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var last *corev1.Pod
	deadline := time.Now().Add(60 * time.Second)
	for {
		p, err := client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err == nil {
			last = p
			if cond(p) {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s: timed out waiting for %s; last status: %+v", name, what, statusOf(last))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func statusOf(p *corev1.Pod) any {
	if p == nil {
		return nil
	}
	return p.Status
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func checkRunningStatus(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	if len(pod.Status.ContainerStatuses) != 1 {
		t.Fatalf("containerStatuses = %d, want 1", len(pod.Status.ContainerStatuses))
	}
	cs := pod.Status.ContainerStatuses[0]
	if cs.State.Running == nil || !cs.Ready || cs.RestartCount != 0 || cs.Started == nil || !*cs.Started {
		t.Errorf("container status = %+v, want running, ready, started, 0 restarts", cs)
	}
	if !strings.HasPrefix(cs.ContainerID, "containerd://") || cs.ImageID == "" {
		t.Errorf("containerID %q imageID %q, want containerd://... and an image id", cs.ContainerID, cs.ImageID)
	}
	if pod.Status.HostIP == "" || pod.Status.StartTime == nil || len(pod.Status.PodIPs) != 1 {
		t.Errorf("hostIP %q startTime %v podIPs %v: want all set", pod.Status.HostIP, pod.Status.StartTime, pod.Status.PodIPs)
	}
	if !strings.HasPrefix(pod.Status.PodIP, "10.42.250.") {
		t.Errorf("podIP %s, want one in %s", pod.Status.PodIP, e2ePodCIDR)
	}
	var types []string
	for _, c := range pod.Status.Conditions {
		types = append(types, string(c.Type)+"="+string(c.Status))
	}
	want := "PodReadyToStartContainers=True,Initialized=True,Ready=True,ContainersReady=True,PodScheduled=True"
	if got := strings.Join(types, ","); got != want {
		t.Errorf("conditions = %s, want %s", got, want)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	var body string
	framework.WaitFor(t, 20*time.Second, "GET "+url, func() (bool, error) {
		resp, err := client.Get(url)
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		body = string(data)
		return err == nil && resp.StatusCode == http.StatusOK, nil
	})
	return body
}

func deleteAndWait(t *testing.T, client kubernetes.Interface, name string) {
	t.Helper()
	if err := client.CoreV1().Pods("default").Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("deleting pod %s: %v", name, err)
	}
	framework.WaitFor(t, 40*time.Second, "pod "+name+" gone", func() (bool, error) {
		_, err := client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}
