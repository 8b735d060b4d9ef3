package pod

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestValidatePodUpdate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []string
	}{
		{name: "no change", mutate: func(*corev1.Pod) {}},
		{name: "image", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx:1.28" }},
		{name: "labels", mutate: func(p *corev1.Pod) { p.Labels = map[string]string{"tier": "web"} }},
		{name: "lower active deadline", mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptrTo(int64(50)) }},
		{
			name: "add toleration",
			mutate: func(p *corev1.Pod) {
				p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "gpu", Operator: corev1.TolerationOpExists})
			},
		},
		{
			name:   "raise active deadline",
			mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptrTo(int64(500)) },
			want:   []string{"FieldValueInvalid spec.activeDeadlineSeconds"},
		},
		{
			name:   "remove active deadline",
			mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = nil },
			want:   []string{"FieldValueInvalid spec.activeDeadlineSeconds"},
		},
		{
			name:   "remove toleration",
			mutate: func(p *corev1.Pod) { p.Spec.Tolerations = p.Spec.Tolerations[:1] },
			want:   []string{"FieldValueForbidden spec.tolerations"},
		},
		{
			name:   "change port",
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 8080 },
			want:   []string{"FieldValueForbidden spec"},
		},
		{
			name: "add container",
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers = append(p.Spec.Containers, p.Spec.Containers[0])
				p.Spec.Containers[1].Name = "two"
			},
			want: []string{"FieldValueForbidden spec.containers"},
		},
		{
			name:   "change restart policy",
			mutate: func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyNever },
			want:   []string{"FieldValueForbidden spec"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newPod(func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptrTo(int64(100)) })
			old.ResourceVersion = "1"
			pod := old.DeepCopy()
			tt.mutate(pod)
			s := strategy{}
			s.Default(pod)
			s.PrepareForUpdate(pod, old)
			checkErrors(t, s.ValidateUpdate(pod, old), tt.want)
		})
	}
}

func TestPodUpdateMessage(t *testing.T) {
	old := newPod()
	old.ResourceVersion = "1"
	pod := old.DeepCopy()
	pod.Spec.Containers[0].Ports[0].ContainerPort = 8080
	errs := strategy{}.ValidateUpdate(pod, old)
	if len(errs) != 1 {
		t.Fatalf("got %d errors, want 1: %v", len(errs), errs)
	}
	msg := errs[0].Error()
	const prefix = "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"
	if !strings.HasPrefix(msg, prefix) {
		t.Errorf("message = %q, want prefix %q", msg, prefix)
	}
	if !strings.Contains(msg, "8080") {
		t.Errorf("message %q does not show the changed value", msg)
	}
}

func TestPrepareForUpdateKeepsStatus(t *testing.T) {
	old := newPod()
	old.Status.Phase = corev1.PodRunning
	pod := old.DeepCopy()
	pod.Status = corev1.PodStatus{Phase: corev1.PodFailed}
	strategy{}.PrepareForUpdate(pod, old)
	if pod.Status.Phase != corev1.PodRunning {
		t.Errorf("phase = %s, want Running kept from old", pod.Status.Phase)
	}
}

func TestStatusUpdate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []string
	}{
		{
			name: "running with IP",
			mutate: func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodRunning
				p.Status.PodIP = "10.42.0.7"
				p.Status.PodIPs = []corev1.PodIP{{IP: "10.42.0.7"}}
				p.Status.HostIP = "192.168.1.2"
				p.Status.HostIPs = []corev1.HostIP{{IP: "192.168.1.2"}}
			},
		},
		{
			name:   "unknown phase",
			mutate: func(p *corev1.Pod) { p.Status.Phase = "Sleeping" },
			want:   []string{"FieldValueNotSupported status.phase"},
		},
		{
			name:   "bad pod IP",
			mutate: func(p *corev1.Pod) { p.Status.PodIPs = []corev1.PodIP{{IP: "10.42.0.300"}} },
			want:   []string{"FieldValueInvalid status.podIPs[0]"},
		},
		{
			name:   "two IPv4 pod IPs",
			mutate: func(p *corev1.Pod) { p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.1"}, {IP: "10.0.0.2"}} },
			want:   []string{"FieldValueInvalid status.podIPs"},
		},
		{
			name:   "QoS changed",
			mutate: func(p *corev1.Pod) { p.Status.QOSClass = corev1.PodQOSGuaranteed },
			want:   []string{"FieldValueInvalid status.qosClass"},
		},
		{
			name: "custom condition type",
			mutate: func(p *corev1.Pod) {
				p.Status.Conditions = []corev1.PodCondition{{Type: "bad type", Status: corev1.ConditionTrue}}
			},
			want: []string{"FieldValueInvalid status.conditions[0].type"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newPod()
			old.ResourceVersion = "1"
			pod := old.DeepCopy()
			tt.mutate(pod)
			s := statusStrategy{}
			s.PrepareForStatusUpdate(pod, old)
			checkErrors(t, s.ValidateStatusUpdate(pod, old), tt.want)
		})
	}
}

func TestStatusUpdateKeepsSpec(t *testing.T) {
	old := newPod()
	pod := old.DeepCopy()
	pod.Spec.NodeName = "elsewhere"
	pod.Status.QOSClass = ""
	statusStrategy{}.PrepareForStatusUpdate(pod, old)
	if pod.Spec.NodeName != "" {
		t.Errorf("nodeName = %q, want the old empty spec", pod.Spec.NodeName)
	}
	if pod.Status.QOSClass != old.Status.QOSClass {
		t.Errorf("qosClass = %q, want %q backfilled", pod.Status.QOSClass, old.Status.QOSClass)
	}
}

func TestTerminatedContainerMayNotRestart(t *testing.T) {
	old := newPod(func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyNever })
	old.ResourceVersion = "1"
	old.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app",
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}}}
	pod := old.DeepCopy()
	pod.Status.ContainerStatuses[0].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	checkErrors(t, statusStrategy{}.ValidateStatusUpdate(pod, old), []string{"FieldValueForbidden status.containerStatuses[0].state"})
}
