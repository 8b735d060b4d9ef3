package agent

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

func TestParseResolvConf(t *testing.T) {
	got := parseResolvConf([]byte("# comment\nnameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch corp.example lab.example\noptions ndots:2 edns0\n"))
	want := hostResolv{servers: []string{"192.0.2.53", "192.0.2.54"}, searches: []string{"corp.example", "lab.example"}, options: []string{"ndots:2", "edns0"}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(hostResolv{})); diff != "" {
		t.Errorf("parseResolvConf (-want +got):\n%s", diff)
	}
}

func TestPodDNSConfig(t *testing.T) {
	settings := dnsSettings{
		clusterDNS: []string{"10.43.0.10"}, clusterDomain: "cluster.local",
		host: hostResolv{servers: []string{"192.0.2.53"}, searches: []string{"corp.example"}, options: []string{"edns0"}},
	}
	tests := []struct {
		name string
		spec corev1.PodSpec
		want *runtimeapi.DNSConfig
	}{
		{name: "ClusterFirst", spec: corev1.PodSpec{DNSPolicy: corev1.DNSClusterFirst},
			want: &runtimeapi.DNSConfig{Servers: []string{"10.43.0.10"},
				Searches: []string{"ns1.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example"}, Options: []string{"ndots:5"}}},
		{name: "empty policy means ClusterFirst", spec: corev1.PodSpec{},
			want: &runtimeapi.DNSConfig{Servers: []string{"10.43.0.10"},
				Searches: []string{"ns1.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example"}, Options: []string{"ndots:5"}}},
		{name: "Default", spec: corev1.PodSpec{DNSPolicy: corev1.DNSDefault},
			want: &runtimeapi.DNSConfig{Servers: []string{"192.0.2.53"}, Searches: []string{"corp.example"}, Options: []string{"edns0"}}},
		{name: "ClusterFirst on the host network falls back to Default", spec: corev1.PodSpec{DNSPolicy: corev1.DNSClusterFirst, HostNetwork: true},
			want: &runtimeapi.DNSConfig{Servers: []string{"192.0.2.53"}, Searches: []string{"corp.example"}, Options: []string{"edns0"}}},
		{name: "None with dnsConfig", spec: corev1.PodSpec{DNSPolicy: corev1.DNSNone, DNSConfig: &corev1.PodDNSConfig{
			Nameservers: []string{"192.0.2.99"}, Searches: []string{"a.example"}, Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("1")}}}},
			want: &runtimeapi.DNSConfig{Servers: []string{"192.0.2.99"}, Searches: []string{"a.example"}, Options: []string{"ndots:1"}}},
		{name: "ClusterFirst merges dnsConfig", spec: corev1.PodSpec{DNSPolicy: corev1.DNSClusterFirst, DNSConfig: &corev1.PodDNSConfig{
			Searches: []string{"extra.example"}, Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("2")}, {Name: "rotate"}}}},
			want: &runtimeapi.DNSConfig{Servers: []string{"10.43.0.10"},
				Searches: []string{"ns1.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example", "extra.example"},
				Options:  []string{"ndots:2", "rotate"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1"}, Spec: tt.spec}
			if diff := cmp.Diff(tt.want, podDNSConfig(pod, settings), protocmp.Transform()); diff != "" {
				t.Errorf("podDNSConfig (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSandboxConfig(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns1", UID: "u1", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{
			{ContainerPort: 8080}, {ContainerPort: 53, HostPort: 5353, Protocol: corev1.ProtocolUDP}}}}},
	}
	cfg := sandboxConfig(pod, 2, "/logs", dnsSettings{clusterDNS: []string{"10.43.0.10"}, clusterDomain: "cluster.local"})
	if cfg.Hostname != "web" || cfg.LogDirectory != "/logs/ns1_web_u1" || cfg.Metadata.Attempt != 2 {
		t.Errorf("hostname %q logDirectory %q attempt %d, want web, /logs/ns1_web_u1, 2", cfg.Hostname, cfg.LogDirectory, cfg.Metadata.Attempt)
	}
	wantPorts := []*runtimeapi.PortMapping{{Protocol: runtimeapi.Protocol_UDP, ContainerPort: 53, HostPort: 5353}}
	if diff := cmp.Diff(wantPorts, cfg.PortMappings, protocmp.Transform()); diff != "" {
		t.Errorf("port mappings (-want +got):\n%s", diff)
	}
	for k, want := range map[string]string{"app": "web", "io.kubernetes.pod.uid": "u1", "io.kubernetes.pod.name": "web", "io.kubernetes.pod.namespace": "ns1"} {
		if got := cfg.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	ns := cfg.Linux.SecurityContext.NamespaceOptions
	if ns.Network != runtimeapi.NamespaceMode_POD || ns.Ipc != runtimeapi.NamespaceMode_POD || ns.Pid != runtimeapi.NamespaceMode_CONTAINER {
		t.Errorf("namespaces = %v, want network and IPC shared in the pod, PID per container", ns)
	}
}

func TestOOMScoreAdjNeverNegative(t *testing.T) {
	guaranteed := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: mustQuantity("1"), corev1.ResourceMemory: mustQuantity("1Gi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: mustQuantity("1"), corev1.ResourceMemory: mustQuantity("1Gi")},
	}
	burstable := corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: mustQuantity("512Mi")}}
	tests := []struct {
		name      string
		resources corev1.ResourceRequirements
		want      int64
	}{
		{name: "Guaranteed is clamped to 0", resources: guaranteed, want: 0},
		{name: "BestEffort", want: 1000},
		{name: "Burstable by request share", resources: burstable, want: 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: tt.resources}}}}
			if got := oomScoreAdj(pod, &pod.Spec.Containers[0], 1<<30); got != tt.want {
				t.Errorf("oomScoreAdj = %d, want %d", got, tt.want)
			}
		})
	}
}
