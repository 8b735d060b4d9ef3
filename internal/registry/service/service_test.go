package service

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func ptrTo[T any](v T) *T { return &v }

// newService returns a created service: defaulted, prepared, and given
// the cluster IP the API server would allocate.
func newService(mutate ...func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Port: 80}},
		},
	}
	for _, m := range mutate {
		m(svc)
	}
	s := strategy{}
	s.Default(svc)
	s.PrepareForCreate(svc)
	return svc
}

func checkErrors(t *testing.T, errs field.ErrorList, want []string) {
	t.Helper()
	got := []string{}
	for _, e := range errs {
		got = append(got, string(e.Type)+" "+e.Field)
	}
	sort.Strings(got)
	if want == nil {
		want = []string{}
	}
	sort.Strings(want)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("errors (-want +got):\n%s\nfull errors: %v", d, errs)
	}
}

func TestDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   corev1.ServiceSpec
		want corev1.ServiceSpec
	}{
		{
			name: "cluster IP",
			in:   corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
			want: corev1.ServiceSpec{
				Type:                  corev1.ServiceTypeClusterIP,
				Ports:                 []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(80)}},
				SessionAffinity:       corev1.ServiceAffinityNone,
				InternalTrafficPolicy: ptrTo(corev1.ServiceInternalTrafficPolicyCluster),
				IPFamilyPolicy:        ptrTo(corev1.IPFamilyPolicySingleStack),
				IPFamilies:            []corev1.IPFamily{corev1.IPv4Protocol},
			},
		},
		{
			name: "load balancer",
			in:   corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 443, TargetPort: intstr.FromString("https")}}},
			want: corev1.ServiceSpec{
				Type:                          corev1.ServiceTypeLoadBalancer,
				Ports:                         []corev1.ServicePort{{Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("https")}},
				SessionAffinity:               corev1.ServiceAffinityNone,
				ExternalTrafficPolicy:         corev1.ServiceExternalTrafficPolicyCluster,
				InternalTrafficPolicy:         ptrTo(corev1.ServiceInternalTrafficPolicyCluster),
				AllocateLoadBalancerNodePorts: ptrTo(true),
				IPFamilyPolicy:                ptrTo(corev1.IPFamilyPolicySingleStack),
				IPFamilies:                    []corev1.IPFamily{corev1.IPv4Protocol},
			},
		},
		{
			name: "external name",
			in:   corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"},
			want: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com", SessionAffinity: corev1.ServiceAffinityNone},
		},
		{
			name: "client IP affinity",
			in:   corev1.ServiceSpec{SessionAffinity: corev1.ServiceAffinityClientIP, ClusterIP: "None"},
			want: corev1.ServiceSpec{
				Type:                  corev1.ServiceTypeClusterIP,
				ClusterIP:             "None",
				ClusterIPs:            []string{"None"},
				SessionAffinity:       corev1.ServiceAffinityClientIP,
				SessionAffinityConfig: &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptrTo(int32(10800))}},
				InternalTrafficPolicy: ptrTo(corev1.ServiceInternalTrafficPolicyCluster),
				IPFamilyPolicy:        ptrTo(corev1.IPFamilyPolicyRequireDualStack),
				IPFamilies:            []corev1.IPFamily{corev1.IPv4Protocol},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &corev1.Service{Spec: tt.in}
			strategy{}.Default(svc)
			strategy{}.PrepareForCreate(svc)
			if d := cmp.Diff(tt.want, svc.Spec); d != "" {
				t.Errorf("spec (-want +got):\n%s", d)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.Service)
		want   []string
	}{
		{name: "valid", mutate: func(*corev1.Service) {}},
		{name: "headless without ports", mutate: func(s *corev1.Service) { s.Spec.ClusterIP = "None"; s.Spec.Ports = nil }},
		{name: "node port in range", mutate: func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort; s.Spec.Ports[0].NodePort = 30080 }},
		{
			name:   "name not a DNS-1035 label",
			mutate: func(s *corev1.Service) { s.Name = "1web" },
			want:   []string{"FieldValueInvalid metadata.name"},
		},
		{
			name:   "no ports",
			mutate: func(s *corev1.Service) { s.Spec.Ports = nil },
			want:   []string{"FieldValueRequired spec.ports"},
		},
		{
			name: "unnamed ports",
			mutate: func(s *corev1.Service) {
				s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "https", Port: 443})
			},
			want: []string{"FieldValueRequired spec.ports[0].name"},
		},
		{
			name: "same port twice",
			mutate: func(s *corev1.Service) {
				s.Spec.Ports = []corev1.ServicePort{{Name: "a", Port: 80}, {Name: "b", Port: 80}}
			},
			want: []string{"FieldValueDuplicate spec.ports[1]"},
		},
		{
			name:   "port out of range",
			mutate: func(s *corev1.Service) { s.Spec.Ports[0].Port = 0 },
			want:   []string{"FieldValueInvalid spec.ports[0].port", "FieldValueInvalid spec.ports[0].targetPort"},
		},
		{
			name:   "bad target port name",
			mutate: func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("not_a_name") },
			want:   []string{"FieldValueInvalid spec.ports[0].targetPort"},
		},
		{
			name:   "node port on cluster IP",
			mutate: func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 },
			want:   []string{"FieldValueForbidden spec.ports[0].nodePort"},
		},
		{
			name:   "node port out of range",
			mutate: func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort; s.Spec.Ports[0].NodePort = 8080 },
			want:   []string{"FieldValueInvalid spec.ports[0].nodePort"},
		},
		{
			name:   "external name required",
			mutate: func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeExternalName },
			want:   []string{"FieldValueRequired spec.externalName"},
		},
		{
			name:   "headless node port",
			mutate: func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort; s.Spec.ClusterIP = "None" },
			want:   []string{"FieldValueInvalid spec.clusterIPs[0]"},
		},
		{
			name:   "loopback external IP",
			mutate: func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"127.0.0.1"} },
			want:   []string{"FieldValueInvalid spec.externalIPs[0]"},
		},
		{
			name:   "bad selector",
			mutate: func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "a b"} },
			want:   []string{"FieldValueInvalid spec.selector"},
		},
		{
			name:   "unknown type",
			mutate: func(s *corev1.Service) { s.Spec.Type = "Magic" },
			want:   []string{"FieldValueNotSupported spec.type"},
		},
		{
			name:   "bad cluster IP",
			mutate: func(s *corev1.Service) { s.Spec.ClusterIP = "10.0.0.300" },
			want:   []string{"FieldValueInvalid spec.clusterIPs[0]"},
		},
		{
			name:   "source ranges on cluster IP",
			mutate: func(s *corev1.Service) { s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/8"} },
			want:   []string{"FieldValueForbidden spec.LoadBalancerSourceRanges"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrors(t, strategy{}.Validate(newService(tt.mutate)), tt.want)
		})
	}
}

// TestExternalIPsRefused checks the addresses a Service may not claim as
// external IPs are refused on create and update, each with its field path,
// and become a 422 Invalid status the way the API server builds it.
func TestExternalIPsRefused(t *testing.T) {
	tests := []struct {
		ip, msg string
	}{
		{"127.0.0.1", "loopback"},
		{"127.200.0.9", "loopback"},
		{"::1", "loopback"},
		{"169.254.169.254", "link-local"},
		{"fe80::1", "link-local"},
		{"0.0.0.0", "unspecified"},
		{"::", "unspecified"},
		{"224.0.0.5", "link-local multicast"},
		{"239.1.2.3", "multicast"},
		{"ff05::2", "multicast"},
		{"10.0.0.300", "valid IP"},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			svc := newService(func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"192.0.2.10", tt.ip} })
			errs := strategy{}.Validate(svc)
			checkErrors(t, errs, []string{"FieldValueInvalid spec.externalIPs[1]"})
			if len(errs) == 1 && !strings.Contains(errs[0].Detail, tt.msg) {
				t.Errorf("detail %q does not say %q", errs[0].Detail, tt.msg)
			}
			status := apierrors.NewInvalid(Kind().GroupVersion.WithKind("Service").GroupKind(), svc.Name, errs).Status()
			if status.Code != 422 || status.Reason != metav1.StatusReasonInvalid ||
				status.Details == nil || len(status.Details.Causes) == 0 || status.Details.Causes[0].Field != "spec.externalIPs[1]" {
				t.Errorf("status = %+v, want 422 Invalid naming spec.externalIPs[1]", status)
			}

			// An update may not add one either.
			old := newService()
			old.ResourceVersion = "1"
			updated := old.DeepCopy()
			updated.Spec.ExternalIPs = []string{tt.ip}
			strategy{}.Default(updated)
			strategy{}.PrepareForUpdate(updated, old)
			checkErrors(t, strategy{}.ValidateUpdate(updated, old), []string{"FieldValueInvalid spec.externalIPs[0]"})
		})
	}
	ok := newService(func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"192.0.2.10", "203.0.113.7", "2001:db8::1"} })
	checkErrors(t, strategy{}.Validate(ok), nil)
}

func TestUpdate(t *testing.T) {
	allocated := func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeNodePort
		s.Spec.ClusterIP = "10.43.0.10"
		s.Spec.Ports[0].NodePort = 30080
	}
	tests := []struct {
		name   string
		mutate func(*corev1.Service)
		check  func(*testing.T, *corev1.Service)
		want   []string
	}{
		{
			name: "apply without allocated values keeps them",
			mutate: func(s *corev1.Service) {
				s.Spec.ClusterIP, s.Spec.ClusterIPs = "", nil
				s.Spec.Ports[0].NodePort = 0
			},
			check: func(t *testing.T, s *corev1.Service) {
				if s.Spec.ClusterIP != "10.43.0.10" || s.Spec.Ports[0].NodePort != 30080 {
					t.Errorf("clusterIP %q nodePort %d, want old values kept", s.Spec.ClusterIP, s.Spec.Ports[0].NodePort)
				}
			},
		},
		{
			name:   "change cluster IP",
			mutate: func(s *corev1.Service) { s.Spec.ClusterIP = "10.43.0.11" },
			want:   []string{"FieldValueInvalid spec.clusterIPs[0]"},
		},
		{
			name:   "to ClusterIP drops node ports",
			mutate: func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP },
			check: func(t *testing.T, s *corev1.Service) {
				if s.Spec.Ports[0].NodePort != 0 || s.Spec.ExternalTrafficPolicy != "" {
					t.Errorf("nodePort %d externalTrafficPolicy %q, want cleared", s.Spec.Ports[0].NodePort, s.Spec.ExternalTrafficPolicy)
				}
			},
		},
		{
			name: "to ExternalName drops cluster IPs",
			mutate: func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeExternalName
				s.Spec.ExternalName = "example.com"
			},
			check: func(t *testing.T, s *corev1.Service) {
				if s.Spec.ClusterIP != "" || s.Spec.IPFamilies != nil || s.Spec.IPFamilyPolicy != nil {
					t.Errorf("clusterIP %q families %v policy %v, want cleared", s.Spec.ClusterIP, s.Spec.IPFamilies, s.Spec.IPFamilyPolicy)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newService(allocated)
			old.ResourceVersion = "3"
			svc := old.DeepCopy()
			tt.mutate(svc)
			s := strategy{}
			s.Default(svc)
			s.PrepareForUpdate(svc, old)
			checkErrors(t, s.ValidateUpdate(svc, old), tt.want)
			if tt.check != nil {
				tt.check(t, svc)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		name    string
		svcType corev1.ServiceType
		ingress []corev1.LoadBalancerIngress
		want    []string
	}{
		{name: "load balancer IP", svcType: corev1.ServiceTypeLoadBalancer, ingress: []corev1.LoadBalancerIngress{{IP: "192.168.1.240"}}},
		{
			name: "ingress on cluster IP", svcType: corev1.ServiceTypeClusterIP,
			ingress: []corev1.LoadBalancerIngress{{IP: "192.168.1.240"}},
			want:    []string{"FieldValueForbidden status.loadBalancer.ingress"},
		},
		{
			name: "hostname that is an IP", svcType: corev1.ServiceTypeLoadBalancer,
			ingress: []corev1.LoadBalancerIngress{{Hostname: "192.168.1.240"}},
			want:    []string{"FieldValueInvalid status.loadBalancer.ingress[0].hostname"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newService(func(s *corev1.Service) { s.Spec.Type = tt.svcType })
			old.ResourceVersion = "3"
			svc := old.DeepCopy()
			svc.Spec.Type = corev1.ServiceTypeExternalName // ignored: the spec is kept
			svc.Status.LoadBalancer.Ingress = tt.ingress
			s := statusStrategy{}
			s.PrepareForStatusUpdate(svc, old)
			if svc.Spec.Type != tt.svcType {
				t.Errorf("type = %s, want %s kept from old", svc.Spec.Type, tt.svcType)
			}
			checkErrors(t, s.ValidateStatusUpdate(svc, old), tt.want)
		})
	}
}

func TestTable(t *testing.T) {
	created := metav1.NewTime(time.Now().Add(-90 * time.Second))
	tests := []struct {
		name string
		svc  *corev1.Service
		want []interface{}
	}{
		{
			name: "cluster IP",
			svc: &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIPs: []string{"10.43.0.10"},
				Selector: map[string]string{"app": "web"},
				Ports:    []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}, {Port: 53, Protocol: corev1.ProtocolUDP}}}},
			want: []interface{}{"web", "ClusterIP", "10.43.0.10", "<none>", "80/TCP,53/UDP", "90s", "app=web"},
		},
		{
			name: "pending load balancer",
			svc: &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.43.0.11"},
				Ports: []corev1.ServicePort{{Port: 443, NodePort: 31443, Protocol: corev1.ProtocolTCP}}}},
			want: []interface{}{"web", "LoadBalancer", "10.43.0.11", "<pending>", "443:31443/TCP", "90s", "<none>"},
		},
		{
			name: "external name",
			svc:  &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}},
			want: []interface{}{"web", "ExternalName", "<none>", "db.example.com", "<none>", "90s", "<none>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.svc.Name, tt.svc.CreationTimestamp = "web", created
			if d := cmp.Diff(tt.want, table.Row(tt.svc)); d != "" {
				t.Errorf("row (-want +got):\n%s", d)
			}
		})
	}
}

func TestFieldsAndKind(t *testing.T) {
	svc := newService(func(s *corev1.Service) { s.Spec.ClusterIP = "None" })
	want := map[string]string{"spec.clusterIP": "None", "spec.type": "ClusterIP"}
	if d := cmp.Diff(want, map[string]string(fields(svc))); d != "" {
		t.Errorf("fields (-want +got):\n%s", d)
	}
	k := Kind()
	if k.Resource != "services" || k.Status == nil || len(k.ShortNames) != 1 || k.ShortNames[0] != "svc" || k.Categories[0] != "all" {
		t.Errorf("Kind() = %+v, want services/svc in category all with status", k)
	}
}
