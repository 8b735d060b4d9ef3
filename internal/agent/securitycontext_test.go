package agent

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

func TestSyncPodRunAsNonRoot(t *testing.T) {
	const rootMsg = `container has runAsNonRoot and image will run as root (pod: "web_default(uid-web)", container: app)`
	tests := []struct {
		name string
		// imageUID and imageUser are the image's user as the runtime
		// reports it.
		imageUID  *int64
		imageUser string
		pod       func(*corev1.Pod)
		// want is the waiting message, "" when the container runs.
		want string
	}{
		{name: "image without a user", pod: func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}
		}, want: rootMsg},
		{name: "image user 0", imageUID: ptr.To(int64(0)), pod: func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsNonRoot: ptr.To(true)}
		}, want: rootMsg},
		{name: "image user by name", imageUser: "nobody", pod: func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}
		}, want: `container has runAsNonRoot and image has non-numeric user (nobody), cannot verify user is non-root (pod: "web_default(uid-web)", container: app)`},
		{name: "runAsUser 0", pod: func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To(int64(0))}
		}, want: `container's runAsUser breaks non-root policy (pod: "web_default(uid-web)", container: app)`},
		{name: "runAsUser 1000", pod: func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(1000))}
		}},
		{name: "image user 65532", imageUID: ptr.To(int64(65532)), pod: func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}
		}},
		{name: "the container allows root", pod: func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsNonRoot: ptr.To(false)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newSyncHarness(t)
			h.runtime.AddImage("localhost/app:1")
			h.runtime.SetImageUser("localhost/app:1", tt.imageUID, tt.imageUser)
			after, result := h.sync(h.createPod(testPod("web", tt.pod)))
			cs := after.Status.ContainerStatuses[0]
			if tt.want == "" {
				if cs.State.Running == nil {
					t.Errorf("container status %+v, want running", cs)
				}
				return
			}
			if cs.State.Waiting == nil || cs.State.Waiting.Reason != "CreateContainerConfigError" || cs.State.Waiting.Message != tt.want {
				t.Errorf("container status %+v, want waiting in CreateContainerConfigError: %s", cs, tt.want)
			}
			if !hasEvent(h.events(), "Warning Failed Error: "+tt.want) {
				t.Error("no Failed event with the message")
			}
			if result.requeueAfter == 0 {
				t.Error("not requeued")
			}
		})
	}
}

func TestContainerSeccompProfile(t *testing.T) {
	h := newSyncHarness(t)
	h.syncer.seccompRoot = "/var/lib/navarch/agent/seccomp"
	h.runtime.AddImage("localhost/app:1")
	h.sync(h.createPod(testPod("web", func(p *corev1.Pod) {
		p.Spec.SecurityContext = &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
		p.Spec.Containers = append(p.Spec.Containers,
			corev1.Container{Name: "local", Image: "localhost/app:1", SecurityContext: &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{
				Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr.To("profiles/audit.json")}}},
			corev1.Container{Name: "open", Image: "localhost/app:1", SecurityContext: &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{
				Type: corev1.SeccompProfileTypeUnconfined}}})
	})))
	for name, want := range map[string]*runtimeapi.SecurityProfile{
		"app":   {ProfileType: runtimeapi.SecurityProfile_RuntimeDefault},
		"local": {ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "/var/lib/navarch/agent/seccomp/profiles/audit.json"},
		"open":  {ProfileType: runtimeapi.SecurityProfile_Unconfined},
	} {
		got := h.runtime.ContainerConfig(h.containerID(name)).GetLinux().GetSecurityContext().GetSeccomp()
		if got.GetProfileType() != want.ProfileType || got.GetLocalhostRef() != want.LocalhostRef {
			t.Errorf("%s: seccomp %v, want %v", name, got, want)
		}
	}

	h2 := newSyncHarness(t)
	h2.runtime.AddImage("localhost/app:1")
	h2.sync(h2.createPod(testPod("plain")))
	if got := h2.runtime.ContainerConfig(h2.containerID("app")).GetLinux().GetSecurityContext().GetSeccomp(); got != nil {
		t.Errorf("no profile asked: seccomp %v, want none (the runtime's default)", got)
	}
}
