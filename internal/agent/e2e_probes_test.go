package agent_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/test/framework"
)

// TestAgentProbesEndToEnd runs probes, init containers, lifecycle hooks
// and an OOM kill on a real containerd: readiness flips the pod's Ready
// condition both ways, a failed liveness probe restarts the container
// (after its preStop hook), exec probes and their timeout work, init
// containers run in order (and kubectl renders their progress and
// failures), postStart and preStop hooks run, and a container over its
// memory limit is reported OOMKilled.
func TestAgentProbesEndToEnd(t *testing.T) {
	h := startE2EHost(t, framework.Options{}, nil)
	cluster, client, dataDir := h.cluster, h.client, h.cfg.DataDir
	ctx := context.Background()

	httpProbe := func(path string, port intstr.IntOrString, failures int32) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: port}},
			PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: failures}
	}
	execProbe := func(failures int32, cmd ...string) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: cmd}},
			PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: failures}
	}
	pods := map[string]func(*corev1.Pod){
		"probed": func(p *corev1.Pod) {
			c := &p.Spec.Containers[0]
			c.ReadinessProbe = httpProbe("/readiness", intstr.FromInt32(8080), 1)
			// Room for a loaded machine: a web server slow to start or to
			// answer must not be killed before the test toggles it.
			c.LivenessProbe = httpProbe("/healthz", intstr.FromString("http"), 3)
			c.LivenessProbe.InitialDelaySeconds = 2
			c.LivenessProbe.TimeoutSeconds = 3
			c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{
				Command: []string{"/web", "check", "http://127.0.0.1:8080/note?msg=prestop-liveness"}}}}
		},
		"exec": func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe = execProbe(1, "/web", "check", "http://127.0.0.1:8080/readiness")
		},
		"slowexec": func(p *corev1.Pod) {
			p.Spec.Containers[0].StartupProbe = execProbe(1, "/web", "sleep", "5")
		},
		"init": func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{initContainer("one", "sleep", "1"), initContainer("two", "sleep", "1")}
		},
		"initwait": func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{initContainer("one", "sleep", "600"), initContainer("two", "exit", "0")}
		},
		"initfail": func(p *corev1.Pod) {
			p.Spec.RestartPolicy = corev1.RestartPolicyNever
			p.Spec.InitContainers = []corev1.Container{initContainer("setup", "exit", "3")}
		},
		"initloop": func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{initContainer("setup", "exit", "1")}
		},
		"hooks": func(p *corev1.Pod) {
			web := &p.Spec.Containers[0]
			web.Lifecycle = &corev1.Lifecycle{
				PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/web", "sleep", "0"}}},
				PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{
					Command: []string{"/web", "check", "http://127.0.0.1:8080/note?msg=prestop-exec"}}},
			}
			second := *web.DeepCopy()
			second.Name, second.Ports = "second", []corev1.ContainerPort{{Name: "http2", ContainerPort: 8081}}
			second.Env = []corev1.EnvVar{{Name: "PORT", Value: "8081"}}
			second.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: "/note?msg=prestop-http", Port: intstr.FromString("http2")}}}
			p.Spec.Containers = append(p.Spec.Containers, second)
		},
		"badhook": func(p *corev1.Pod) {
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{
				Command: []string{"/web", "exit", "7"}}}}
		},
		"oom": func(p *corev1.Pod) {
			limit := corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("48Mi"), corev1.ResourceCPU: resource.MustParse("500m")}
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: limit, Limits: limit}
		},
	}
	created := map[string]time.Time{}
	for name, mutate := range pods {
		pod := probeTestPod(name)
		mutate(pod)
		created[name] = time.Now()
		if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating pod %s: %v", name, err)
		}
	}

	t.Run("readiness probe flips Ready both ways", func(t *testing.T) {
		pod := waitPod(t, client, "probed", "Ready", func(p *corev1.Pod) bool { return podReady(p) })
		t.Logf("pod create -> Ready (first readiness probe passed): %v", time.Since(created["probed"]).Round(time.Millisecond))
		for _, want := range []bool{false, true} {
			httpGet(t, "http://"+pod.Status.PodIP+":8080/readiness/toggle")
			toggled := time.Now()
			p := waitPod(t, client, "probed", fmt.Sprintf("Ready=%v", want), func(p *corev1.Pod) bool { return podReady(p) == want })
			t.Logf("readiness answer changed -> Ready=%v in the pod status: %v", want, time.Since(toggled).Round(time.Millisecond))
			if cs := p.Status.ContainerStatuses[0]; cs.Ready != want || cs.RestartCount != 0 || cs.State.Running == nil {
				t.Errorf("container status %+v: want ready=%v, running, never restarted", cs, want)
			}
			if c := conditionOf(p, corev1.ContainersReady); (c.Status == corev1.ConditionTrue) != want {
				t.Errorf("ContainersReady = %+v, want %v", c, want)
			}
		}
		waitEvent(t, client, "probed", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503")
	})

	t.Run("liveness failure restarts the container after its preStop hook", func(t *testing.T) {
		pod, err := client.CoreV1().Pods("default").Get(ctx, "probed", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		before := pod.Status.ContainerStatuses[0].ContainerID
		httpGet(t, "http://"+pod.Status.PodIP+":8080/healthz/toggle")
		p := waitPod(t, client, "probed", "restarted and Ready again", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses[0]
			return cs.RestartCount == 1 && cs.State.Running != nil && podReady(p)
		})
		cs := p.Status.ContainerStatuses[0]
		if cs.ContainerID == before || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ContainerID != before {
			t.Errorf("container status %+v: want a new container, the old one as lastState", cs)
		}
		t.Logf("lastState after the liveness kill: %+v", cs.LastTerminationState.Terminated)
		waitEvent(t, client, "probed", "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 503")
		waitEvent(t, client, "probed", "Killing", "Container web failed liveness probe, will be restarted")
		logFile := filepath.Join(dataDir, "pods", fmt.Sprintf("default_probed_%s", p.UID), "web", "0.log")
		if data, err := os.ReadFile(logFile); err != nil || !strings.Contains(string(data), "note prestop-liveness") {
			t.Errorf("the killed container's log (err %v) lacks its preStop hook's visit:\n%s", err, data)
		}
	})

	t.Run("kubectl describe shows the probes and their events", func(t *testing.T) {
		out := cluster.MustKubectl(t, "describe", "pod", "probed")
		for _, want := range []string{
			"Liveness:", "http-get http://:http/healthz delay=2s timeout=3s period=1s successThreshold=1 failureThreshold=3",
			"Readiness:", "http-get http://:8080/readiness delay=0s timeout=1s period=1s successThreshold=1 failureThreshold=1",
			"Restart Count:  1", "Last State:     Terminated",
			"Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 503",
			"Killing", "Container web failed liveness probe, will be restarted",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("kubectl describe lacks %q:\n%s", want, out)
			}
		}
		t.Logf("kubectl describe pod probed:\n%s", out)
	})

	t.Run("exec readiness probe", func(t *testing.T) {
		pod := waitPod(t, client, "exec", "Ready", podReady)
		httpGet(t, "http://"+pod.Status.PodIP+":8080/readiness/toggle")
		waitPod(t, client, "exec", "not Ready", func(p *corev1.Pod) bool { return !podReady(p) })
		waitEvent(t, client, "exec", "Unhealthy", "Readiness probe failed: HTTP 503")
	})

	t.Run("exec probe timeout", func(t *testing.T) {
		waitEvent(t, client, "slowexec", "Unhealthy", `Startup probe failed: command "/web sleep 5" timed out`)
		waitEvent(t, client, "slowexec", "Killing", "Container web failed startup probe, will be restarted")
		p, err := client.CoreV1().Pods("default").Get(ctx, "slowexec", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if cs := p.Status.ContainerStatuses[0]; cs.Ready || (cs.Started != nil && *cs.Started) {
			t.Errorf("a container that never passed its startup probe: %+v, want neither started nor ready", cs)
		}
	})

	t.Run("init containers run in order", func(t *testing.T) {
		p := waitPod(t, client, "init", "Running and Ready", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning && podReady(p) })
		one, two := p.Status.InitContainerStatuses[0].State.Terminated, p.Status.InitContainerStatuses[1].State.Terminated
		app := p.Status.ContainerStatuses[0].State.Running
		if one == nil || two == nil || app == nil || one.Reason != "Completed" || two.Reason != "Completed" {
			t.Fatalf("statuses %+v / %+v: want both init containers Completed and the app running", p.Status.InitContainerStatuses, p.Status.ContainerStatuses)
		}
		if two.StartedAt.Before(&one.FinishedAt) || app.StartedAt.Before(&two.FinishedAt) {
			t.Errorf("out of order: one %v-%v, two %v-%v, app from %v", one.StartedAt, one.FinishedAt, two.StartedAt, two.FinishedAt, app.StartedAt)
		}
		if c := conditionOf(p, corev1.PodInitialized); c.Status != corev1.ConditionTrue {
			t.Errorf("Initialized = %+v", c)
		}
		t.Logf("init containers: one %s-%s, two %s-%s, app started %s", one.StartedAt.Format(time.TimeOnly), one.FinishedAt.Format(time.TimeOnly),
			two.StartedAt.Format(time.TimeOnly), two.FinishedAt.Format(time.TimeOnly), app.StartedAt.Format(time.TimeOnly))
	})

	t.Run("kubectl renders init progress and failures", func(t *testing.T) {
		waitPod(t, client, "initfail", "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
		waitPod(t, client, "initloop", "Init:CrashLoopBackOff", func(p *corev1.Pod) bool {
			w := p.Status.InitContainerStatuses[0].State.Waiting
			return w != nil && w.Reason == "CrashLoopBackOff"
		})
		waitPod(t, client, "initwait", "the first init container running", func(p *corev1.Pod) bool {
			return len(p.Status.InitContainerStatuses) == 2 && p.Status.InitContainerStatuses[0].State.Running != nil
		})
		out := cluster.MustKubectl(t, "get", "pods", "initfail", "initloop", "initwait")
		t.Logf("kubectl get pods:\n%s", out)
		for name, want := range map[string]string{"initfail": "Init:Error", "initloop": "Init:CrashLoopBackOff", "initwait": "Init:0/2"} {
			if !hasTableRow(out, name, want) {
				t.Errorf("kubectl get: pod %s not shown as %s:\n%s", name, want, out)
			}
		}
		p, err := client.CoreV1().Pods("default").Get(ctx, "initwait", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if c := conditionOf(p, corev1.PodInitialized); c.Status != corev1.ConditionFalse || c.Message != "containers with incomplete status: [one two]" {
			t.Errorf("Initialized = %+v", c)
		}
	})

	t.Run("postStart hooks", func(t *testing.T) {
		waitPod(t, client, "hooks", "Running and Ready", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning && podReady(p) })
		waitEvent(t, client, "badhook", "FailedPostStartHook", "PostStartHook failed")
		waitEvent(t, client, "badhook", "Killing", "FailedPostStartHook")
		waitPod(t, client, "badhook", "restarted after its hook failed", func(p *corev1.Pod) bool {
			return p.Status.ContainerStatuses[0].RestartCount >= 1
		})
	})

	t.Run("preStop hooks run on deletion, before SIGTERM", func(t *testing.T) {
		p, err := client.CoreV1().Pods("default").Get(ctx, "hooks", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		deleteAndWait(t, client, "hooks")
		for container, note := range map[string]string{"web": "note prestop-exec", "second": "note prestop-http"} {
			logFile := filepath.Join(dataDir, "pods", fmt.Sprintf("default_hooks_%s", p.UID), container, "0.log")
			if data, err := os.ReadFile(logFile); err != nil || !strings.Contains(string(data), note) {
				t.Errorf("container %s's log (err %v) lacks %q: the preStop hook did not reach the running server:\n%s", container, err, note, data)
			}
		}
	})

	t.Run("OOMKilled", func(t *testing.T) {
		pod := waitPod(t, client, "oom", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning && podReady(p) })
		// The container dies while answering: no answer is expected.
		hc := &http.Client{Timeout: 10 * time.Second}
		if resp, err := hc.Get("http://" + pod.Status.PodIP + ":8080/allocate?mb=256"); err == nil {
			resp.Body.Close()
		}
		p := waitPod(t, client, "oom", "OOMKilled in lastState", func(p *corev1.Pod) bool {
			last := p.Status.ContainerStatuses[0].LastTerminationState.Terminated
			return last != nil
		})
		last := p.Status.ContainerStatuses[0].LastTerminationState.Terminated
		if last.Reason != "OOMKilled" || last.ExitCode != 137 {
			t.Errorf("lastState = %+v, want OOMKilled with exit code 137", last)
		}
		t.Logf("after the allocation: restartCount %d, lastState %s exit %d", p.Status.ContainerStatuses[0].RestartCount, last.Reason, last.ExitCode)
	})

	// The pods go before the cleanup removes what is left, so that the
	// agent does not recreate sandboxes under it.
	for name := range pods {
		if name != "hooks" {
			if err := client.CoreV1().Pods("default").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
				t.Errorf("deleting %s: %v", name, err)
			}
		}
	}
	framework.WaitFor(t, 60*time.Second, "every pod gone", func() (bool, error) {
		list, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		return err == nil && len(list.Items) == 0, err
	})
}

// probeTestPod is the base pod of the probe tests: the web container,
// its port named http, a short grace period.
func probeTestPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			NodeName:                      e2eNode,
			TerminationGracePeriodSeconds: ptr.To(int64(5)),
			Containers: []corev1.Container{{
				Name: "web", Image: "localhost/web:e2e", ImagePullPolicy: corev1.PullNever,
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				Env:   []corev1.EnvVar{{Name: "PORT", Value: "8080"}},
			}},
		},
	}
}

// initContainer runs one of the web image's command modes.
func initContainer(name string, args ...string) corev1.Container {
	return corev1.Container{Name: name, Image: "localhost/web:e2e", ImagePullPolicy: corev1.PullNever, Command: append([]string{"/web"}, args...)}
}

func conditionOf(p *corev1.Pod, typ corev1.PodConditionType) corev1.PodCondition {
	for _, c := range p.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return corev1.PodCondition{}
}

// waitEvent waits for an event of the pod with reason whose message
// starts with message.
func waitEvent(t *testing.T, client kubernetes.Interface, pod, reason, message string) {
	t.Helper()
	framework.WaitFor(t, 60*time.Second, fmt.Sprintf("a %s event %q on pod %s", reason, message, pod), func() (bool, error) {
		events, err := client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("involvedObject.name", pod).String()})
		if err != nil {
			return false, err
		}
		for _, e := range events.Items {
			if e.Reason == reason && strings.HasPrefix(e.Message, message) && e.Source.Component == "kubelet" {
				return true, nil
			}
		}
		return false, nil
	})
}

// hasTableRow reports whether kubectl's table output has a row for name
// whose STATUS column is status.
func hasTableRow(out, name, status string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == name && f[2] == status {
			return true
		}
	}
	return false
}
