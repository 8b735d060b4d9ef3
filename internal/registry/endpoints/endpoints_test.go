package endpoints

import (
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func newEndpoints(subsets ...corev1.EndpointSubset) *corev1.Endpoints {
	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Subsets: subsets}
	strategy{}.Default(ep)
	return ep
}

func addresses(ips ...string) []corev1.EndpointAddress {
	var out []corev1.EndpointAddress
	for _, ip := range ips {
		out = append(out, corev1.EndpointAddress{IP: ip})
	}
	return out
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		subset corev1.EndpointSubset
		want   []string
	}{
		{name: "valid", subset: corev1.EndpointSubset{Addresses: addresses("10.42.0.5"), Ports: []corev1.EndpointPort{{Port: 80}}}},
		{name: "headless without ports", subset: corev1.EndpointSubset{Addresses: addresses("10.42.0.5")}},
		{
			name:   "no addresses",
			subset: corev1.EndpointSubset{Ports: []corev1.EndpointPort{{Port: 80}}},
			want:   []string{"FieldValueRequired subsets[0]"},
		},
		{
			name:   "loopback address",
			subset: corev1.EndpointSubset{Addresses: addresses("127.0.0.1")},
			want:   []string{"FieldValueInvalid subsets[0].addresses[0].ip"},
		},
		{
			name:   "bad not-ready address",
			subset: corev1.EndpointSubset{NotReadyAddresses: addresses("10.0.0")},
			want:   []string{"FieldValueInvalid subsets[0].notReadyAddresses[0].ip", "FieldValueInvalid subsets[0].notReadyAddresses[0].ip"},
		},
		{
			name:   "unnamed ports",
			subset: corev1.EndpointSubset{Addresses: addresses("10.42.0.5"), Ports: []corev1.EndpointPort{{Port: 80}, {Name: "b", Port: 81}}},
			want:   []string{"FieldValueRequired subsets[0].ports[0].name"},
		},
		{
			name:   "port zero",
			subset: corev1.EndpointSubset{Addresses: addresses("10.42.0.5"), Ports: []corev1.EndpointPort{{Port: 0}}},
			want:   []string{"FieldValueInvalid subsets[0].ports[0].port"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := []string{}
			for _, e := range (strategy{}).Validate(newEndpoints(tt.subset)) {
				got = append(got, string(e.Type)+" "+e.Field)
			}
			sort.Strings(got)
			if tt.want == nil {
				tt.want = []string{}
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("errors (-want +got):\n%s", d)
			}
		})
	}
}

func TestFormatEndpoints(t *testing.T) {
	tests := []struct {
		name    string
		subsets []corev1.EndpointSubset
		want    string
	}{
		{name: "none", want: "<none>"},
		{
			name:    "two",
			subsets: []corev1.EndpointSubset{{Addresses: addresses("10.42.0.5", "10.42.0.6"), Ports: []corev1.EndpointPort{{Port: 80}}}},
			want:    "10.42.0.5:80,10.42.0.6:80",
		},
		{
			name:    "more than three",
			subsets: []corev1.EndpointSubset{{Addresses: addresses("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"), Ports: []corev1.EndpointPort{{Port: 8080}}}},
			want:    "10.0.0.1:8080,10.0.0.2:8080,10.0.0.3:8080 + 2 more...",
		},
		{
			name:    "headless",
			subsets: []corev1.EndpointSubset{{Addresses: addresses("10.42.0.5")}},
			want:    "10.42.0.5",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatEndpoints(&corev1.Endpoints{Subsets: tt.subsets}); got != tt.want {
				t.Errorf("formatEndpoints = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestKind(t *testing.T) {
	ep := newEndpoints(corev1.EndpointSubset{Addresses: addresses("10.42.0.5"), Ports: []corev1.EndpointPort{{Port: 53, Protocol: ""}}})
	if got := ep.Subsets[0].Ports[0].Protocol; got != corev1.ProtocolTCP {
		t.Errorf("default protocol = %q, want TCP", got)
	}
	if k := Kind(); k.Resource != "endpoints" || k.ShortNames[0] != "ep" || len(table.Row(ep)) != len(k.Table.Columns) {
		t.Errorf("Kind() = %+v", k)
	}
}
