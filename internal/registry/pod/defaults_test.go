package pod

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func ptrTo[T any](v T) *T { return &v }

func TestDefaultPodSpec(t *testing.T) {
	spec := corev1.PodSpec{
		Containers: []corev1.Container{{
			Name:  "web",
			Image: "nginx:1.27",
			Ports: []corev1.ContainerPort{{ContainerPort: 80}},
			Env: []corev1.EnvVar{{Name: "NODE", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}},
			LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
				HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}},
		}},
		Volumes: []corev1.Volume{
			{Name: "scratch"},
			{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "conf"}}}},
			{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
		},
	}
	DefaultPodSpec(&spec)

	want := corev1.PodSpec{
		RestartPolicy:                 corev1.RestartPolicyAlways,
		DNSPolicy:                     corev1.DNSClusterFirst,
		SecurityContext:               &corev1.PodSecurityContext{},
		TerminationGracePeriodSeconds: ptrTo(int64(30)),
		SchedulerName:                 "default-scheduler",
		Containers: []corev1.Container{{
			Name:                     "web",
			Image:                    "nginx:1.27",
			Ports:                    []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
			Env:                      []corev1.EnvVar{{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.nodeName"}}}},
			TerminationMessagePath:   "/dev/termination-log",
			TerminationMessagePolicy: corev1.TerminationMessageReadFile,
			ImagePullPolicy:          corev1.PullIfNotPresent,
			LivenessProbe: &corev1.Probe{
				ProbeHandler:   corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(80), Scheme: corev1.URISchemeHTTP}},
				TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3,
			},
		}},
		Volumes: []corev1.Volume{
			{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "conf"}, DefaultMode: ptrTo(int32(0o644))}}},
			{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds", DefaultMode: ptrTo(int32(0o644))}}},
		},
	}
	if d := cmp.Diff(want, spec); d != "" {
		t.Errorf("DefaultPodSpec mismatch (-want +got):\n%s", d)
	}
}

func TestDefaultPullPolicy(t *testing.T) {
	tests := []struct {
		image string
		want  corev1.PullPolicy
	}{
		{"nginx", corev1.PullAlways},
		{"nginx:latest", corev1.PullAlways},
		{"nginx:1.27", corev1.PullIfNotPresent},
		{"registry:5000/team/app", corev1.PullAlways},
		{"registry:5000/team/app:v2", corev1.PullIfNotPresent},
		{"nginx@sha256:0123abcd", corev1.PullIfNotPresent},
		{"nginx:latest@sha256:0123abcd", corev1.PullAlways},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			if got := defaultPullPolicy(tt.image); got != tt.want {
				t.Errorf("defaultPullPolicy(%q) = %s, want %s", tt.image, got, tt.want)
			}
		})
	}
}

func TestDefaultPodOnlyFields(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		HostNetwork: true,
		Containers: []corev1.Container{{
			Name: "c", Image: "i",
			Ports:     []corev1.ContainerPort{{ContainerPort: 8080}},
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}},
		}},
	}}
	strategy{}.Default(pod)
	c := pod.Spec.Containers[0]
	if got := c.Resources.Requests[corev1.ResourceCPU]; got.String() != "500m" {
		t.Errorf("cpu request = %s, want 500m copied from the limit", got.String())
	}
	if got := c.Ports[0].HostPort; got != 8080 {
		t.Errorf("hostPort = %d, want 8080 (host network)", got)
	}
	if pod.Spec.EnableServiceLinks == nil || !*pod.Spec.EnableServiceLinks {
		t.Errorf("enableServiceLinks = %v, want true", pod.Spec.EnableServiceLinks)
	}

	// Templates get neither: upstream defaults them on Pod objects only.
	spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i",
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}}
	DefaultPodSpec(&spec)
	if spec.EnableServiceLinks != nil || spec.Containers[0].Resources.Requests != nil {
		t.Errorf("DefaultPodSpec set pod-only fields: enableServiceLinks=%v requests=%v",
			spec.EnableServiceLinks, spec.Containers[0].Resources.Requests)
	}
}

func TestPrepareForCreateAdmission(t *testing.T) {
	tests := []struct {
		name        string
		tolerations []corev1.Toleration
		wantKeys    []string
	}{
		{
			name:     "adds both tolerations",
			wantKeys: []string{taintNodeNotReady, taintNodeUnreachable},
		},
		{
			name:        "keeps a user toleration of not-ready",
			tolerations: []corev1.Toleration{{Key: taintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}},
			wantKeys:    []string{taintNodeNotReady, taintNodeUnreachable},
		},
		{
			name:        "tolerate-everything needs nothing more",
			tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			wantKeys:    []string{""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Tolerations: tt.tolerations,
				Containers: []corev1.Container{{Name: "c", Image: "i"}}}}
			strategy{}.PrepareForCreate(pod)
			var keys []string
			for _, tol := range pod.Spec.Tolerations {
				keys = append(keys, tol.Key)
				if tol.Key == taintNodeUnreachable && (tol.TolerationSeconds == nil || *tol.TolerationSeconds != 300) {
					t.Errorf("unreachable toleration seconds = %v, want 300", tol.TolerationSeconds)
				}
			}
			if d := cmp.Diff(tt.wantKeys, keys); d != "" {
				t.Errorf("toleration keys (-want +got):\n%s", d)
			}
			if pod.Spec.ServiceAccountName != "default" {
				t.Errorf("serviceAccountName = %q, want default", pod.Spec.ServiceAccountName)
			}
			if pod.Status.Phase != corev1.PodPending || pod.Status.QOSClass != corev1.PodQOSBestEffort {
				t.Errorf("status = %s/%s, want Pending/BestEffort", pod.Status.Phase, pod.Status.QOSClass)
			}
		})
	}
}

func TestQOSClass(t *testing.T) {
	res := func(req, lim string) corev1.ResourceRequirements {
		r := corev1.ResourceRequirements{}
		if req != "" {
			r.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(req), corev1.ResourceMemory: resource.MustParse("64Mi")}
		}
		if lim != "" {
			r.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(lim), corev1.ResourceMemory: resource.MustParse("64Mi")}
		}
		return r
	}
	tests := []struct {
		name string
		res  corev1.ResourceRequirements
		want corev1.PodQOSClass
	}{
		{"nothing", corev1.ResourceRequirements{}, corev1.PodQOSBestEffort},
		{"requests only", res("100m", ""), corev1.PodQOSBurstable},
		{"requests below limits", res("100m", "200m"), corev1.PodQOSBurstable},
		{"requests equal limits", res("200m", "200m"), corev1.PodQOSGuaranteed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: tt.res}}}}
			if got := qosClass(pod); got != tt.want {
				t.Errorf("qosClass = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestSyncFields(t *testing.T) {
	tests := []struct {
		name         string
		status       corev1.PodStatus
		wantPodIPs   []corev1.PodIP
		wantPodIP    string
		wantHostIPs  []corev1.HostIP
		wantHostIPsS string
	}{
		{
			name:        "singular only",
			status:      corev1.PodStatus{PodIP: "10.42.0.7", HostIP: "192.168.1.2"},
			wantPodIPs:  []corev1.PodIP{{IP: "10.42.0.7"}},
			wantPodIP:   "10.42.0.7",
			wantHostIPs: []corev1.HostIP{{IP: "192.168.1.2"}}, wantHostIPsS: "192.168.1.2",
		},
		{
			name:       "plural only",
			status:     corev1.PodStatus{PodIPs: []corev1.PodIP{{IP: "10.42.0.7"}, {IP: "fd00::7"}}},
			wantPodIPs: []corev1.PodIP{{IP: "10.42.0.7"}, {IP: "fd00::7"}},
			wantPodIP:  "10.42.0.7",
		},
		{
			name:       "singular wins",
			status:     corev1.PodStatus{PodIP: "10.42.0.8", PodIPs: []corev1.PodIP{{IP: "10.42.0.7"}}},
			wantPodIPs: []corev1.PodIP{{IP: "10.42.0.8"}},
			wantPodIP:  "10.42.0.8",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Status: tt.status}
			defaultPod(pod)
			if d := cmp.Diff(tt.wantPodIPs, pod.Status.PodIPs); d != "" || pod.Status.PodIP != tt.wantPodIP {
				t.Errorf("podIP %q podIPs (-want +got):\n%s", pod.Status.PodIP, d)
			}
			if d := cmp.Diff(tt.wantHostIPs, pod.Status.HostIPs); d != "" || pod.Status.HostIP != tt.wantHostIPsS {
				t.Errorf("hostIP %q hostIPs (-want +got):\n%s", pod.Status.HostIP, d)
			}
		})
	}

	spec := corev1.PodSpec{DeprecatedServiceAccount: "builder"}
	DefaultPodSpec(&spec)
	if spec.ServiceAccountName != "builder" || spec.DeprecatedServiceAccount != "builder" {
		t.Errorf("serviceAccountName %q serviceAccount %q, want both builder", spec.ServiceAccountName, spec.DeprecatedServiceAccount)
	}
	hostNet := corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Ports: []corev1.ContainerPort{{ContainerPort: 53}}}}}
	DefaultPodSpec(&hostNet)
	if got := hostNet.Containers[0].Ports[0].HostPort; got != 0 {
		t.Errorf("template hostPort = %d, want 0: only pods get it", got)
	}
}
