package pod

import (
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// newPod returns a valid pod as the API server would store it: defaulted
// and prepared for create.
func newPod(mutate ...func(*corev1.Pod)) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:         "app",
				Image:        "nginx:1.27",
				Ports:        []corev1.ContainerPort{{Name: "http", ContainerPort: 80}},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			}},
			Volumes: []corev1.Volume{{Name: "data"}},
		},
	}
	for _, m := range mutate {
		m(pod)
	}
	s := strategy{}
	s.Default(pod)
	s.PrepareForCreate(pod)
	return pod
}

// errorKeys renders errors as "Type path", sorted, for comparison.
func errorKeys(errs field.ErrorList) []string {
	keys := make([]string, 0, len(errs))
	for _, e := range errs {
		keys = append(keys, string(e.Type)+" "+e.Field)
	}
	sort.Strings(keys)
	return keys
}

func checkErrors(t *testing.T, errs field.ErrorList, want []string) {
	t.Helper()
	sort.Strings(want)
	if want == nil {
		want = []string{}
	}
	if d := cmp.Diff(want, errorKeys(errs)); d != "" {
		t.Errorf("errors (-want +got):\n%s\nfull errors: %v", d, errs)
	}
}

func TestValidatePod(t *testing.T) {
	container := func(p *corev1.Pod) *corev1.Container { return &p.Spec.Containers[0] }
	tests := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []string
	}{
		{name: "valid", mutate: func(*corev1.Pod) {}},
		{
			name:   "bad name",
			mutate: func(p *corev1.Pod) { p.Name = "Web_1" },
			want:   []string{"FieldValueInvalid metadata.name"},
		},
		{
			name:   "no containers",
			mutate: func(p *corev1.Pod) { p.Spec.Containers = nil },
			want:   []string{"FieldValueRequired spec.containers"},
		},
		{
			name:   "container name not a DNS label",
			mutate: func(p *corev1.Pod) { container(p).Name = "App" },
			want:   []string{"FieldValueInvalid spec.containers[0].name"},
		},
		{
			name: "duplicate container names",
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "app", Image: "busybox"})
			},
			want: []string{"FieldValueDuplicate spec.containers[1].name"},
		},
		{
			name: "init container named like a container",
			mutate: func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{{Name: "app", Image: "busybox"}}
			},
			want: []string{"FieldValueDuplicate spec.initContainers[0].name"},
		},
		{
			name:   "image required",
			mutate: func(p *corev1.Pod) { container(p).Image = "" },
			want:   []string{"FieldValueRequired spec.containers[0].image"},
		},
		{
			name:   "image with spaces",
			mutate: func(p *corev1.Pod) { container(p).Image = " nginx" },
			want:   []string{"FieldValueInvalid spec.containers[0].image"},
		},
		{
			name:   "port out of range",
			mutate: func(p *corev1.Pod) { container(p).Ports[0].ContainerPort = 70000 },
			want:   []string{"FieldValueInvalid spec.containers[0].ports[0].containerPort"},
		},
		{
			name: "duplicate port names",
			mutate: func(p *corev1.Pod) {
				container(p).Ports = append(container(p).Ports, corev1.ContainerPort{Name: "http", ContainerPort: 81})
			},
			want: []string{"FieldValueDuplicate spec.containers[0].ports[1].name"},
		},
		{
			name:   "unknown protocol",
			mutate: func(p *corev1.Pod) { container(p).Ports[0].Protocol = "ICMP" },
			want:   []string{"FieldValueNotSupported spec.containers[0].ports[0].protocol"},
		},
		{
			name:   "env name with =",
			mutate: func(p *corev1.Pod) { container(p).Env = []corev1.EnvVar{{Name: "A=B"}} },
			want:   []string{"FieldValueInvalid spec.containers[0].env[0].name"},
		},
		{
			name: "env value and valueFrom",
			mutate: func(p *corev1.Pod) {
				container(p).Env = []corev1.EnvVar{{Name: "A", Value: "x", ValueFrom: &corev1.EnvVarSource{
					ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}, Key: "k"}}}}
			},
			want: []string{"FieldValueInvalid spec.containers[0].env[0].valueFrom"},
		},
		{
			name: "env field ref not for env",
			mutate: func(p *corev1.Pod) {
				container(p).Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{
					FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}
			},
			want: []string{"FieldValueNotSupported spec.containers[0].env[0].valueFrom.fieldRef.fieldPath"},
		},
		{
			name:   "mount of a missing volume",
			mutate: func(p *corev1.Pod) { container(p).VolumeMounts[0].Name = "logs" },
			want:   []string{"FieldValueNotFound spec.containers[0].volumeMounts[0].name"},
		},
		{
			name: "mount path twice",
			mutate: func(p *corev1.Pod) {
				container(p).VolumeMounts = append(container(p).VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: "/data"})
			},
			want: []string{"FieldValueInvalid spec.containers[0].volumeMounts[1].mountPath"},
		},
		{
			name:   "subPath climbing out",
			mutate: func(p *corev1.Pod) { container(p).VolumeMounts[0].SubPath = "../etc" },
			want:   []string{"FieldValueInvalid spec.containers[0].volumeMounts.subPath"},
		},
		{
			name: "duplicate volume names",
			mutate: func(p *corev1.Pod) {
				p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "data"})
			},
			want: []string{"FieldValueDuplicate spec.volumes[1].name"},
		},
		{
			name: "two volume sources",
			mutate: func(p *corev1.Pod) {
				p.Spec.Volumes[0].HostPath = &corev1.HostPathVolumeSource{Path: "/tmp"}
				p.Spec.Volumes[0].EmptyDir = &corev1.EmptyDirVolumeSource{}
			},
			want: []string{
				"FieldValueForbidden spec.volumes[0].hostPath",
				// The volume is invalid, so the mount finds no volume.
				"FieldValueNotFound spec.containers[0].volumeMounts[0].name",
			},
		},
		{
			name: "configMap volume without name",
			mutate: func(p *corev1.Pod) {
				p.Spec.Volumes[0].ConfigMap = &corev1.ConfigMapVolumeSource{}
			},
			want: []string{
				"FieldValueRequired spec.volumes[0].configMap.name",
				"FieldValueNotFound spec.containers[0].volumeMounts[0].name",
			},
		},
		{
			name: "probe without handler",
			mutate: func(p *corev1.Pod) {
				container(p).ReadinessProbe = &corev1.Probe{}
			},
			want: []string{"FieldValueRequired spec.containers[0].readinessProbe"},
		},
		{
			name: "probe with two handlers",
			mutate: func(p *corev1.Pod) {
				container(p).LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
					Exec:      &corev1.ExecAction{Command: []string{"true"}},
					TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)},
				}}
			},
			want: []string{"FieldValueForbidden spec.containers[0].livenessProbe.tcpSocket"},
		},
		{
			name: "liveness success threshold",
			mutate: func(p *corev1.Pod) {
				container(p).LivenessProbe = &corev1.Probe{SuccessThreshold: 2, ProbeHandler: corev1.ProbeHandler{
					TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")}}}
			},
			want: []string{"FieldValueInvalid spec.containers[0].livenessProbe.successThreshold"},
		},
		{
			name: "negative probe period",
			mutate: func(p *corev1.Pod) {
				container(p).ReadinessProbe = &corev1.Probe{PeriodSeconds: -1, ProbeHandler: corev1.ProbeHandler{
					Exec: &corev1.ExecAction{Command: []string{"true"}}}}
			},
			want: []string{"FieldValueInvalid spec.containers[0].readinessProbe.periodSeconds"},
		},
		{
			name: "request above limit",
			mutate: func(p *corev1.Pod) {
				container(p).Resources = corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
				}
			},
			want: []string{"FieldValueInvalid spec.containers[0].resources.requests"},
		},
		{
			name: "unknown resource",
			mutate: func(p *corev1.Pod) {
				container(p).Resources.Limits = corev1.ResourceList{"gpu": resource.MustParse("1")}
			},
			want: []string{
				"FieldValueInvalid spec.containers[0].resources.limits[gpu]",
				"FieldValueInvalid spec.containers[0].resources.requests[gpu]",
			},
		},
		{
			name:   "restart policy",
			mutate: func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" },
			want:   []string{"FieldValueNotSupported spec.restartPolicy"},
		},
		{
			name:   "dns policy",
			mutate: func(p *corev1.Pod) { p.Spec.DNSPolicy = "Google" },
			want:   []string{"FieldValueNotSupported spec.dnsPolicy"},
		},
		{
			name:   "dns policy None without config",
			mutate: func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSNone },
			want:   []string{"FieldValueRequired spec.dnsConfig"},
		},
		{
			name: "toleration Exists with value",
			mutate: func(p *corev1.Pod) {
				p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Value: "v"}}
			},
			want: []string{"FieldValueInvalid spec.tolerations[0].operator"},
		},
		{
			name:   "active deadline zero",
			mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptrTo(int64(0)) },
			want:   []string{"FieldValueInvalid spec.activeDeadlineSeconds"},
		},
		{
			name:   "node name",
			mutate: func(p *corev1.Pod) { p.Spec.NodeName = "Node_1" },
			want:   []string{"FieldValueInvalid spec.nodeName"},
		},
		{
			name: "ephemeral containers on create",
			mutate: func(p *corev1.Pod) {
				p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}
			},
			want: []string{"FieldValueForbidden spec.ephemeralContainers"},
		},
		{
			name: "host port conflict",
			mutate: func(p *corev1.Pod) {
				container(p).Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}, {ContainerPort: 81, HostPort: 8080}}
			},
			want: []string{"FieldValueDuplicate spec.containers[0].ports[1].hostPort"},
		},
		{
			name: "plain init container with probe",
			mutate: func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox",
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}}}
			},
			want: []string{"FieldValueForbidden spec.initContainers[0].readinessProbe"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := newPod(tt.mutate)
			checkErrors(t, strategy{}.Validate(pod), tt.want)
		})
	}
}

func TestValidatePodTemplateSpec(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.PodTemplateSpec)
		want   []string
	}{
		{name: "valid", mutate: func(*corev1.PodTemplateSpec) {}},
		{
			name:   "bad label",
			mutate: func(t *corev1.PodTemplateSpec) { t.Labels = map[string]string{"app": "a b"} },
			want:   []string{"FieldValueInvalid spec.template.labels"},
		},
		{
			name:   "container without image",
			mutate: func(t *corev1.PodTemplateSpec) { t.Spec.Containers[0].Image = "" },
			want:   []string{"FieldValueRequired spec.template.spec.containers[0].image"},
		},
		{
			name: "ephemeral containers",
			mutate: func(t *corev1.PodTemplateSpec) {
				t.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
					Name: "debug", Image: "busybox", TerminationMessagePolicy: corev1.TerminationMessageReadFile, ImagePullPolicy: corev1.PullAlways}}}
			},
			want: []string{"FieldValueForbidden spec.template.spec.ephemeralContainers"},
		},
		{
			name:   "not defaulted",
			mutate: func(t *corev1.PodTemplateSpec) { t.Spec.RestartPolicy = "" },
			want:   []string{"FieldValueRequired spec.template.spec.restartPolicy"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl := &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
			}
			DefaultPodSpec(&tmpl.Spec)
			tt.mutate(tmpl)
			checkErrors(t, ValidatePodTemplateSpec(tmpl, field.NewPath("spec", "template")), tt.want)
		})
	}
}
