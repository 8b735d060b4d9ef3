package agent

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestServiceEnv(t *testing.T) {
	services := []corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Name: "redis-master"}, Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.11",
			Ports: []corev1.ServicePort{{Name: "redis", Port: 6379, Protocol: corev1.ProtocolTCP}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "headless"}, Spec: corev1.ServiceSpec{ClusterIP: "None",
			Ports: []corev1.ServicePort{{Port: 80}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "ext"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}},
	}
	want := []envVar{
		{"REDIS_MASTER_SERVICE_HOST", "10.43.0.11"},
		{"REDIS_MASTER_SERVICE_PORT", "6379"},
		{"REDIS_MASTER_SERVICE_PORT_REDIS", "6379"},
		{"REDIS_MASTER_PORT", "tcp://10.43.0.11:6379"},
		{"REDIS_MASTER_PORT_6379_TCP", "tcp://10.43.0.11:6379"},
		{"REDIS_MASTER_PORT_6379_TCP_PROTO", "tcp"},
		{"REDIS_MASTER_PORT_6379_TCP_PORT", "6379"},
		{"REDIS_MASTER_PORT_6379_TCP_ADDR", "10.43.0.11"},
	}
	if diff := cmp.Diff(want, serviceEnv(services), cmp.AllowUnexported(envVar{})); diff != "" {
		t.Fatalf("serviceEnv (-want +got):\n%s", diff)
	}
}

func TestExplicitEnvOverridesServiceEnv(t *testing.T) {
	objects := fakeObjects{svcs: []corev1.Service{{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.12", Ports: []corev1.ServicePort{{Port: 5432}}}}}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"}}
	c := &corev1.Container{Name: "c", Env: []corev1.EnvVar{{Name: "DB_SERVICE_PORT", Value: "1"}, {Name: "URL", Value: "$(DB_SERVICE_HOST):$(DB_SERVICE_PORT)"}}}
	env, err := makeEnv(context.Background(), pod, c, envContext{objects: objects})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, v := range env {
		got[v.name] = v.value
	}
	if got["DB_SERVICE_HOST"] != "10.43.0.12" || got["DB_SERVICE_PORT"] != "1" || got["URL"] != "10.43.0.12:1" {
		t.Fatalf("env = %v", got)
	}
}
