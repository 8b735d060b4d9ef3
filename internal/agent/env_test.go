package agent

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "a", "B": "bee", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	tests := []struct{ name, in, want string }{
		{name: "no reference", in: "plain", want: "plain"},
		{name: "one reference", in: "$(A)", want: "a"},
		{name: "references in text", in: "x$(A)y$(B)z", want: "xaybeez"},
		{name: "unknown kept", in: "$(NOPE)-$(A)", want: "$(NOPE)-a"},
		{name: "empty value", in: "[$(EMPTY)]", want: "[]"},
		{name: "escaped dollar", in: "$$(A)", want: "$(A)"},
		{name: "double escape", in: "$$$$", want: "$$"},
		{name: "lone dollar", in: "cost $5", want: "cost $5"},
		{name: "trailing dollar", in: "x$", want: "x$"},
		{name: "unterminated", in: "$(A", want: "$(A"},
		{name: "empty name", in: "$()", want: "$()"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := expand(tt.in, lookup); got != tt.want {
				t.Errorf("expand(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// fakeObjects serves ConfigMaps and Secrets from maps.
type fakeObjects struct {
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
	svcs       []corev1.Service
}

func (f fakeObjects) configMap(_ context.Context, _, name string) (*corev1.ConfigMap, error) {
	if cm, ok := f.configMaps[name]; ok {
		return cm, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
}

func (f fakeObjects) services(context.Context, *corev1.Pod) ([]corev1.Service, error) {
	return f.svcs, nil
}

func (f fakeObjects) secret(_ context.Context, _, name string) (*corev1.Secret, error) {
	if s, ok := f.secrets[name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

func TestMakeEnv(t *testing.T) {
	objects := fakeObjects{
		configMaps: map[string]*corev1.ConfigMap{"cfg": {Data: map[string]string{"color": "blue", "size": "L"}}},
		secrets:    map[string]*corev1.Secret{"sec": {Data: map[string][]byte{"password": []byte("pw")}}},
	}
	cmKey := func(name, key string, optional bool) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: ptr.To(optional)}}
	}
	secretKey := func(name, key string, optional bool) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: ptr.To(optional)}}
	}
	field := func(path string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}
	}
	tests := []struct {
		name    string
		c       corev1.Container
		want    []envVar
		wantErr string
	}{
		{name: "values and expansion in order", c: corev1.Container{Env: []corev1.EnvVar{
			{Name: "A", Value: "1"}, {Name: "B", Value: "$(A)-$(C)"}, {Name: "C", Value: "3"}, {Name: "A", Value: "$(C)$(A)"}}},
			want: []envVar{{"A", "31"}, {"B", "1-$(C)"}, {"C", "3"}}},
		{name: "downward API fields", c: corev1.Container{Env: []corev1.EnvVar{
			{Name: "NAME", ValueFrom: field("metadata.name")}, {Name: "NS", ValueFrom: field("metadata.namespace")},
			{Name: "UID", ValueFrom: field("metadata.uid")}, {Name: "TIER", ValueFrom: field("metadata.labels['tier']")},
			{Name: "NOTE", ValueFrom: field("metadata.annotations['note']")}, {Name: "NODE", ValueFrom: field("spec.nodeName")},
			{Name: "SA", ValueFrom: field("spec.serviceAccountName")},
			{Name: "IP", ValueFrom: field("status.podIP")}, {Name: "HOST", ValueFrom: field("status.hostIP")}}},
			want: []envVar{{"NAME", "p"}, {"NS", "ns"}, {"UID", "u1"}, {"TIER", "front"}, {"NOTE", "hi"}, {"NODE", "n1"},
				{"SA", "default"}, {"IP", "10.42.0.5"}, {"HOST", "192.0.2.1"}}},
		{name: "configmap and secret keys", c: corev1.Container{Env: []corev1.EnvVar{
			{Name: "COLOR", ValueFrom: cmKey("cfg", "color", false)}, {Name: "PW", ValueFrom: secretKey("sec", "password", false)}}},
			want: []envVar{{"COLOR", "blue"}, {"PW", "pw"}}},
		{name: "optional missing refs are skipped", c: corev1.Container{Env: []corev1.EnvVar{
			{Name: "X", ValueFrom: cmKey("nope", "k", true)}, {Name: "Y", ValueFrom: cmKey("cfg", "nokey", true)},
			{Name: "Z", ValueFrom: secretKey("nope", "k", true)}, {Name: "W", Value: "w"}}},
			want: []envVar{{"W", "w"}}},
		{name: "missing configmap", c: corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: cmKey("nope", "k", false)}}},
			wantErr: `configmap "nope" not found`},
		{name: "missing configmap key", c: corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: cmKey("cfg", "k", false)}}},
			wantErr: "couldn't find key k in ConfigMap ns/cfg"},
		{name: "missing secret", c: corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: secretKey("nope", "k", false)}}},
			wantErr: `secret "nope" not found`},
		{name: "missing secret key", c: corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: secretKey("sec", "k", false)}}},
			wantErr: "couldn't find key k in Secret ns/sec"},
		{name: "envFrom with prefix, then env overrides", c: corev1.Container{
			EnvFrom: []corev1.EnvFromSource{
				{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
				{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}}},
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Optional: ptr.To(true)}},
			},
			Env: []corev1.EnvVar{{Name: "CFG_size", Value: "XL"}}},
			want: []envVar{{"CFG_color", "blue"}, {"CFG_size", "XL"}, {"password", "pw"}}},
		{name: "resource limits and requests", c: corev1.Container{
			Name: "c",
			Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
			},
			Env: []corev1.EnvVar{
				{Name: "MEM_MI", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
				{Name: "CPU_LIMIT", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
				{Name: "CPU_REQ_M", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "requests.cpu", Divisor: resource.MustParse("1m")}}},
			}},
			want: []envVar{{"MEM_MI", "64"}, {"CPU_LIMIT", "2"}, {"CPU_REQ_M", "250"}}},
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1", Labels: map[string]string{"tier": "front"}, Annotations: map[string]string{"note": "hi"}},
		Spec:       corev1.PodSpec{NodeName: "n1", ServiceAccountName: "default"},
	}
	ec := envContext{podIP: "10.42.0.5", hostIP: "192.0.2.1", objects: objects,
		allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi")}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			got, err := makeEnv(context.Background(), pod, &c, ec)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("makeEnv: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(envVar{})); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
		})
	}
}
