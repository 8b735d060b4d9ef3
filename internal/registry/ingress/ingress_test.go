package ingress

import (
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// newIngress returns a small valid Ingress: one host, one Prefix path to
// a service port by number.
func newIngress() *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: "1"},
		Spec: networkingv1.IngressSpec{
			Rules: []networkingv1.IngressRule{{
				Host: "shop.example.com",
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
					Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix),
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}},
				}}}},
			}},
		},
	}
}

func summary(errs field.ErrorList) []string {
	out := []string{}
	for _, e := range errs {
		out = append(out, e.Field+" "+string(e.Type))
	}
	sort.Strings(out)
	return out
}

func firstPath(ing *networkingv1.Ingress) *networkingv1.HTTPIngressPath {
	return &ing.Spec.Rules[0].HTTP.Paths[0]
}

func TestValidate(t *testing.T) {
	const path0 = "spec.rules[0].http.paths[0]"
	tests := []struct {
		name   string
		mutate func(*networkingv1.Ingress)
		want   []string
	}{
		{name: "valid", mutate: func(*networkingv1.Ingress) {}, want: []string{}},
		{name: "valid wildcard host and named port", mutate: func(ing *networkingv1.Ingress) {
			ing.Spec.Rules[0].Host = "*.example.com"
			firstPath(ing).Backend.Service.Port = networkingv1.ServiceBackendPort{Name: "http"}
		}, want: []string{}},
		{name: "valid default backend only", mutate: func(ing *networkingv1.Ingress) {
			ing.Spec.Rules = nil
			ing.Spec.DefaultBackend = &networkingv1.IngressBackend{Resource: &corev1.TypedLocalObjectReference{APIGroup: ptr.To("k8s.example.com"), Kind: "StorageBucket", Name: "static"}}
		}, want: []string{}},
		{name: "neither rules nor default backend", mutate: func(ing *networkingv1.Ingress) { ing.Spec.Rules = nil }, want: []string{"spec FieldValueInvalid"}},
		{name: "host is an IP", mutate: func(ing *networkingv1.Ingress) { ing.Spec.Rules[0].Host = "10.0.0.1" },
			want: []string{"spec.rules[0].host FieldValueInvalid"}},
		{name: "host not a DNS name", mutate: func(ing *networkingv1.Ingress) { ing.Spec.Rules[0].Host = "Shop_Example" },
			want: []string{"spec.rules[0].host FieldValueInvalid"}},
		{name: "bad wildcard", mutate: func(ing *networkingv1.Ingress) { ing.Spec.Rules[0].Host = "shop.*.com" },
			want: []string{"spec.rules[0].host FieldValueInvalid"}},
		{name: "pathType unset", mutate: func(ing *networkingv1.Ingress) { firstPath(ing).PathType = nil },
			want: []string{path0 + ".pathType FieldValueRequired"}},
		{name: "relative Prefix path", mutate: func(ing *networkingv1.Ingress) { firstPath(ing).Path = "shop" },
			want: []string{path0 + ".path FieldValueInvalid"}},
		{name: "Exact path with dot segment", mutate: func(ing *networkingv1.Ingress) {
			firstPath(ing).PathType = ptr.To(networkingv1.PathTypeExact)
			firstPath(ing).Path = "/a/../b"
		}, want: []string{path0 + ".path FieldValueInvalid"}},
		{name: "empty implementation-specific path", mutate: func(ing *networkingv1.Ingress) {
			firstPath(ing).PathType = ptr.To(networkingv1.PathTypeImplementationSpecific)
			firstPath(ing).Path = ""
		}, want: []string{}},
		{name: "unknown pathType", mutate: func(ing *networkingv1.Ingress) { firstPath(ing).PathType = ptr.To(networkingv1.PathType("Regex")) },
			want: []string{path0 + ".pathType FieldValueNotSupported"}},
		{name: "no paths", mutate: func(ing *networkingv1.Ingress) { ing.Spec.Rules[0].HTTP.Paths = nil },
			want: []string{"spec.rules[0].http.paths FieldValueRequired"}},
		{name: "no backend", mutate: func(ing *networkingv1.Ingress) { firstPath(ing).Backend = networkingv1.IngressBackend{} },
			want: []string{path0 + ".backend FieldValueInvalid"}},
		{name: "service and resource backend", mutate: func(ing *networkingv1.Ingress) {
			firstPath(ing).Backend.Resource = &corev1.TypedLocalObjectReference{Kind: "Bucket", Name: "b"}
		}, want: []string{path0 + ".backend FieldValueInvalid"}},
		{name: "service without port", mutate: func(ing *networkingv1.Ingress) {
			firstPath(ing).Backend.Service.Port = networkingv1.ServiceBackendPort{}
		},
			want: []string{path0 + ".backend FieldValueRequired"}},
		{name: "port name and number", mutate: func(ing *networkingv1.Ingress) { firstPath(ing).Backend.Service.Port.Name = "http" },
			want: []string{path0 + ".backend FieldValueInvalid"}},
		{name: "port out of range", mutate: func(ing *networkingv1.Ingress) { firstPath(ing).Backend.Service.Port.Number = 70000 },
			want: []string{path0 + ".backend.service.port.number FieldValueInvalid"}},
		{name: "service name not a DNS-1035 label", mutate: func(ing *networkingv1.Ingress) { firstPath(ing).Backend.Service.Name = "1web" },
			want: []string{path0 + ".backend.service.name FieldValueInvalid"}},
		{name: "resource without kind", mutate: func(ing *networkingv1.Ingress) {
			firstPath(ing).Backend = networkingv1.IngressBackend{Resource: &corev1.TypedLocalObjectReference{Name: "b"}}
		}, want: []string{path0 + ".backend.resource.kind FieldValueRequired"}},
		{name: "bad TLS host and secret", mutate: func(ing *networkingv1.Ingress) {
			ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"shop.example.com", "bad host"}, SecretName: "Shop_TLS"}}
		}, want: []string{"spec.tls[0].hosts[1] FieldValueInvalid", "spec.tls[0].secretName FieldValueInvalid"}},
		{name: "class annotation disagrees", mutate: func(ing *networkingv1.Ingress) {
			ing.Spec.IngressClassName = ptr.To("navarch")
			ing.Annotations = map[string]string{"kubernetes.io/ingress.class": "nginx"}
		}, want: []string{"annotations.kubernetes.io/ingress.class FieldValueInvalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ing := newIngress()
			tt.mutate(ing)
			if diff := cmp.Diff(tt.want, summary(strategy{}.Validate(ing))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	tests := []struct {
		name      string
		oldMutate func(*networkingv1.Ingress)
		mutate    func(*networkingv1.Ingress)
		want      []string
	}{
		{name: "change backend", mutate: func(ing *networkingv1.Ingress) { firstPath(ing).Backend.Service.Name = "web2" }, want: []string{}},
		{name: "new invalid secret name", mutate: func(ing *networkingv1.Ingress) {
			ing.Spec.TLS = []networkingv1.IngressTLS{{SecretName: "Bad_Secret"}}
		}, want: []string{"spec.tls[0].secretName FieldValueInvalid"}},
		{name: "stored invalid secret name is tolerated", oldMutate: func(ing *networkingv1.Ingress) {
			ing.Spec.TLS = []networkingv1.IngressTLS{{SecretName: "Bad_Secret"}}
		}, mutate: func(ing *networkingv1.Ingress) { ing.Labels = map[string]string{"a": "b"} }, want: []string{}},
		{name: "class annotation is checked on create only", mutate: func(ing *networkingv1.Ingress) {
			ing.Spec.IngressClassName = ptr.To("navarch")
			ing.Annotations = map[string]string{"kubernetes.io/ingress.class": "nginx"}
		}, want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newIngress()
			if tt.oldMutate != nil {
				tt.oldMutate(old)
			}
			ing := old.DeepCopy()
			tt.mutate(ing)
			if diff := cmp.Diff(tt.want, summary(strategy{}.ValidateUpdate(ing, old))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	old := newIngress()
	old.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "192.0.2.10"}}

	created := newIngress()
	created.Status = old.Status
	strategy{}.PrepareForCreate(created)
	if len(created.Status.LoadBalancer.Ingress) != 0 {
		t.Errorf("create: got status %v, want it cleared", created.Status)
	}
	updated := old.DeepCopy()
	updated.Status = networkingv1.IngressStatus{}
	strategy{}.PrepareForUpdate(updated, old)
	if len(updated.Status.LoadBalancer.Ingress) != 1 {
		t.Errorf("update: got status %v, want the stored one", updated.Status)
	}
	statusUpdate := old.DeepCopy()
	statusUpdate.Spec.Rules = nil
	statusStrategy{}.PrepareForStatusUpdate(statusUpdate, old)
	if len(statusUpdate.Spec.Rules) != 1 {
		t.Errorf("status update: got rules %v, want the stored ones", statusUpdate.Spec.Rules)
	}

	tests := []struct {
		name string
		lb   []networkingv1.IngressLoadBalancerIngress
		want []string
	}{
		{name: "valid", lb: []networkingv1.IngressLoadBalancerIngress{{IP: "192.0.2.10"}, {Hostname: "lb.example.com"}}, want: []string{}},
		{name: "bad IP", lb: []networkingv1.IngressLoadBalancerIngress{{IP: "192.0.2"}}, want: []string{"status.loadBalancer.ingress[0].ip FieldValueInvalid"}},
		{name: "IP as hostname", lb: []networkingv1.IngressLoadBalancerIngress{{Hostname: "192.0.2.1"}}, want: []string{"status.loadBalancer.ingress[0].hostname FieldValueInvalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ing := old.DeepCopy()
			ing.Status.LoadBalancer.Ingress = tt.lb
			if diff := cmp.Diff(tt.want, summary(statusStrategy{}.ValidateStatusUpdate(ing, old))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTableRow(t *testing.T) {
	rule := func(host string) networkingv1.IngressRule { return networkingv1.IngressRule{Host: host} }
	tests := []struct {
		name   string
		mutate func(*networkingv1.Ingress)
		want   []interface{}
	}{
		{name: "one host", mutate: func(*networkingv1.Ingress) {},
			want: []interface{}{"web", "<none>", "shop.example.com", "", "80", "<unknown>"}},
		{name: "no host, TLS, class and address", mutate: func(ing *networkingv1.Ingress) {
			ing.Spec.Rules[0].Host = ""
			ing.Spec.IngressClassName = ptr.To("navarch")
			ing.Spec.TLS = []networkingv1.IngressTLS{{SecretName: "tls"}}
			ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "192.0.2.20"}, {IP: "192.0.2.10"}, {IP: "192.0.2.10"}}
		}, want: []interface{}{"web", "navarch", "*", "192.0.2.10,19...", "80, 443", "<unknown>"}},
		{name: "many hosts", mutate: func(ing *networkingv1.Ingress) {
			ing.Spec.Rules = []networkingv1.IngressRule{rule("a.example"), rule("b.example"), rule("c.example"), rule("d.example"), rule("e.example")}
		}, want: []interface{}{"web", "<none>", "a.example,b.example,c.example + 2 more...", "", "80", "<unknown>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ing := newIngress()
			tt.mutate(ing)
			if diff := cmp.Diff(tt.want, Kind().Table.Row(ing)); diff != "" {
				t.Errorf("row (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKind(t *testing.T) {
	k := Kind()
	got := struct {
		GroupVersion, Resource, Singular, Kind string
		ShortNames, Categories                 []string
		Namespaced, HasStatus, HasScale        bool
	}{k.GroupVersion.String(), k.Resource, k.Singular, k.Kind, k.ShortNames, k.Categories, k.Namespaced, k.Status != nil, k.Scale != nil}
	want := struct {
		GroupVersion, Resource, Singular, Kind string
		ShortNames, Categories                 []string
		Namespaced, HasStatus, HasScale        bool
	}{"networking.k8s.io/v1", "ingresses", "ingress", "Ingress", []string{"ing"}, nil, true, true, false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kind (-want +got):\n%s", diff)
	}
	if _, ok := k.New().(*networkingv1.Ingress); !ok {
		t.Errorf("New: got %T, want *networkingv1.Ingress", k.New())
	}
	if _, ok := k.NewList().(*networkingv1.IngressList); !ok {
		t.Errorf("NewList: got %T, want *networkingv1.IngressList", k.NewList())
	}
}
