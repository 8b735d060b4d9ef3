package pod

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func running(ready bool) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: "app", Ready: ready,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

func waiting(reason string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
}

func terminated(reason string, exitCode, signal int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		Reason: reason, ExitCode: exitCode, Signal: signal}}}
}

func TestPodStatusColumn(t *testing.T) {
	now := metav1.Now()
	tests := []struct {
		name      string
		pod       corev1.Pod
		wantReady string
		want      string
	}{
		{
			name:      "pending",
			pod:       corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}},
			wantReady: "0/1", want: "Pending",
		},
		{
			name:      "running and ready",
			pod:       corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{running(true)}}},
			wantReady: "1/1", want: "Running",
		},
		{
			name:      "waiting reason",
			pod:       corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{waiting("ContainerCreating")}}},
			wantReady: "0/1", want: "ContainerCreating",
		},
		{
			name:      "crash loop",
			pod:       corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{waiting("CrashLoopBackOff")}}},
			wantReady: "0/1", want: "CrashLoopBackOff",
		},
		{
			name:      "completed",
			pod:       corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{terminated("Completed", 0, 0)}}},
			wantReady: "0/1", want: "Completed",
		},
		{
			name:      "killed by signal",
			pod:       corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{terminated("", 137, 9)}}},
			wantReady: "0/1", want: "Signal:9",
		},
		{
			name:      "exit code",
			pod:       corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{terminated("", 3, 0)}}},
			wantReady: "0/1", want: "ExitCode:3",
		},
		{
			name: "second init container running",
			pod: corev1.Pod{
				Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "a"}, {Name: "b"}}},
				Status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
					{Name: "a", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}},
					{Name: "b", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
				}},
			},
			wantReady: "0/1", want: "Init:1/2",
		},
		{
			name: "init container crash looping",
			pod: corev1.Pod{
				Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "a"}}},
				Status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
					{Name: "a", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}},
				}},
			},
			wantReady: "0/1", want: "Init:CrashLoopBackOff",
		},
		{
			name: "init container failed",
			pod: corev1.Pod{
				Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "a"}}},
				Status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
					{Name: "a", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2}}},
				}},
			},
			wantReady: "0/1", want: "Init:ExitCode:2",
		},
		{
			name: "pod initializing",
			pod: corev1.Pod{
				Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "a"}}},
				Status: corev1.PodStatus{Phase: corev1.PodPending,
					InitContainerStatuses: []corev1.ContainerStatus{{Name: "a", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}}},
					ContainerStatuses:     []corev1.ContainerStatus{waiting("PodInitializing")},
				},
			},
			wantReady: "0/1", want: "PodInitializing",
		},
		{
			name: "sidecar counts as a container",
			pod: corev1.Pod{
				Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "proxy", RestartPolicy: ptrTo(corev1.ContainerRestartPolicyAlways)}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning,
					Conditions: []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}},
					InitContainerStatuses: []corev1.ContainerStatus{{Name: "proxy", Ready: true, Started: ptrTo(true),
						State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}},
					ContainerStatuses: []corev1.ContainerStatus{running(true)},
				},
			},
			wantReady: "2/2", want: "Running",
		},
		{
			name: "terminating",
			pod: corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now},
				Status:     corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{running(true)}},
			},
			wantReady: "1/1", want: "Terminating",
		},
		{
			name:      "node lost",
			pod:       corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, Reason: "NodeLost"}},
			wantReady: "0/1", want: "NodeLost",
		},
		{
			name: "node lost and deleted",
			pod: corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now},
				Status:     corev1.PodStatus{Phase: corev1.PodRunning, Reason: "NodeLost"},
			},
			wantReady: "0/1", want: "Unknown",
		},
		{
			name: "scheduling gated",
			pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonSchedulingGated}}}},
			wantReady: "0/1", want: "SchedulingGated",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := tt.pod
			pod.Name = "p"
			if len(pod.Spec.Containers) == 0 {
				pod.Spec.Containers = []corev1.Container{{Name: "app"}}
			}
			row := table.Row(&pod)
			if got := row[1]; got != tt.wantReady {
				t.Errorf("READY = %v, want %s", got, tt.wantReady)
			}
			if got := row[2]; got != tt.want {
				t.Errorf("STATUS = %v, want %s", got, tt.want)
			}
		})
	}
}

func TestPodRow(t *testing.T) {
	created := metav1.NewTime(time.Now().Add(-2 * time.Hour))
	lastRestart := metav1.NewTime(time.Now().Add(-5 * time.Minute))
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: created},
		Spec: corev1.PodSpec{
			NodeName:       "n1",
			Containers:     []corev1.Container{{Name: "app"}},
			ReadinessGates: []corev1.PodReadinessGate{{ConditionType: "lb.example.com/ready"}},
		},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			PodIPs:     []corev1.PodIP{{IP: "10.42.0.7"}},
			Conditions: []corev1.PodCondition{{Type: "lb.example.com/ready", Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: "app", Ready: true, RestartCount: 3,
				State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: lastRestart}},
			}},
		},
	}
	want := []interface{}{"web", "1/1", "Running", "3 (5m ago)", "120m", "10.42.0.7", "n1", "<none>", "1/1"}
	if d := cmp.Diff(want, table.Row(pod)); d != "" {
		t.Errorf("row (-want +got):\n%s", d)
	}
	if got, want := len(table.Columns), len(want); got != want {
		t.Errorf("%d columns, want %d", got, want)
	}
}

func TestFields(t *testing.T) {
	pod := newPod(func(p *corev1.Pod) { p.Spec.NodeName = "n1" })
	pod.Status.PodIPs = []corev1.PodIP{{IP: "10.42.0.7"}, {IP: "fd00::7"}}
	got := fields(pod)
	want := map[string]string{
		"spec.nodeName":            "n1",
		"spec.restartPolicy":       "Always",
		"spec.schedulerName":       "default-scheduler",
		"spec.serviceAccountName":  "default",
		"spec.hostNetwork":         "false",
		"status.phase":             "Pending",
		"status.podIP":             "10.42.0.7",
		"status.podIPs":            "10.42.0.7,fd00::7",
		"status.nominatedNodeName": "",
	}
	if d := cmp.Diff(want, map[string]string(got)); d != "" {
		t.Errorf("fields (-want +got):\n%s", d)
	}
	if n := len(fields(&corev1.Pod{})); n != len(want) {
		t.Errorf("fields of an empty pod has %d names, want all %d", n, len(want))
	}
}

func TestKind(t *testing.T) {
	k := Kind()
	if k.Resource != "pods" || k.Kind != "Pod" || !k.Namespaced || k.Status == nil {
		t.Errorf("Kind() = %+v, want namespaced pods with a status subresource", k)
	}
	if d := cmp.Diff([]string{"po"}, k.ShortNames); d != "" {
		t.Errorf("short names (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"all"}, k.Categories); d != "" {
		t.Errorf("categories (-want +got):\n%s", d)
	}
}
