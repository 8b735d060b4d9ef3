package endpointslice

import (
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// newSlice returns a small valid IPv4 EndpointSlice, defaulted as the API
// server would before validating it.
func newSlice() *discoveryv1.EndpointSlice {
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-abcde", Namespace: "default", ResourceVersion: "1", Generation: 1},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.42.0.5"}, NodeName: ptr.To("node-a"), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}},
		},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}},
	}
	strategy{}.Default(slice)
	return slice
}

func summary(errs field.ErrorList) []string {
	out := []string{}
	for _, e := range errs {
		out = append(out, e.Field+" "+string(e.Type))
	}
	sort.Strings(out)
	return out
}

func TestDefault(t *testing.T) {
	slice := &discoveryv1.EndpointSlice{Ports: []discoveryv1.EndpointPort{{Port: ptr.To[int32](53), Protocol: ptr.To(corev1.ProtocolUDP)}, {}}}
	strategy{}.Default(slice)
	want := []discoveryv1.EndpointPort{
		{Name: ptr.To(""), Port: ptr.To[int32](53), Protocol: ptr.To(corev1.ProtocolUDP)},
		{Name: ptr.To(""), Protocol: ptr.To(corev1.ProtocolTCP)},
	}
	if diff := cmp.Diff(want, slice.Ports); diff != "" {
		t.Errorf("ports (-want +got):\n%s", diff)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*discoveryv1.EndpointSlice)
		want   []string
	}{
		{name: "valid", mutate: func(*discoveryv1.EndpointSlice) {}, want: []string{}},
		{name: "valid IPv6", mutate: func(s *discoveryv1.EndpointSlice) {
			s.AddressType = discoveryv1.AddressTypeIPv6
			s.Endpoints[0].Addresses = []string{"fd00:10:42::5"}
		}, want: []string{}},
		{name: "valid FQDN", mutate: func(s *discoveryv1.EndpointSlice) {
			s.AddressType = discoveryv1.AddressTypeFQDN
			s.Endpoints[0].Addresses = []string{"db.example.com"}
		}, want: []string{}},
		{name: "no address type", mutate: func(s *discoveryv1.EndpointSlice) { s.AddressType = "" }, want: []string{"addressType FieldValueRequired"}},
		{name: "unknown address type", mutate: func(s *discoveryv1.EndpointSlice) { s.AddressType = "MAC" }, want: []string{"addressType FieldValueNotSupported"}},
		{name: "IPv6 address in IPv4 slice", mutate: func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = []string{"fd00::1"} },
			want: []string{"endpoints[0].addresses[0] FieldValueInvalid"}},
		{name: "IPv4 address in IPv6 slice", mutate: func(s *discoveryv1.EndpointSlice) { s.AddressType = discoveryv1.AddressTypeIPv6 },
			want: []string{"endpoints[0].addresses[0] FieldValueInvalid"}},
		{name: "loopback address", mutate: func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = []string{"127.0.0.1"} },
			want: []string{"endpoints[0].addresses[0] FieldValueInvalid"}},
		{name: "no addresses", mutate: func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = nil },
			want: []string{"endpoints[0].addresses FieldValueRequired"}},
		{name: "bad node name", mutate: func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].NodeName = ptr.To("Node_A") },
			want: []string{"endpoints[0].nodeName FieldValueInvalid"}},
		{name: "bad hostname", mutate: func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Hostname = ptr.To("web.0") },
			want: []string{"endpoints[0].hostname FieldValueInvalid"}},
		{name: "duplicate zone hint", mutate: func(s *discoveryv1.EndpointSlice) {
			s.Endpoints[0].Hints = &discoveryv1.EndpointHints{ForZones: []discoveryv1.ForZone{{Name: "a"}, {Name: "a"}}}
		}, want: []string{"endpoints[0].hints.forZones[1].name FieldValueDuplicate"}},
		{name: "duplicate port names", mutate: func(s *discoveryv1.EndpointSlice) {
			s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: ptr.To("http"), Port: ptr.To[int32](80), Protocol: ptr.To(corev1.ProtocolTCP)})
		}, want: []string{"ports[1].name FieldValueDuplicate"}},
		{name: "port name not a DNS label", mutate: func(s *discoveryv1.EndpointSlice) { s.Ports[0].Name = ptr.To("HTTP_Port") },
			want: []string{"ports[0].name FieldValueInvalid"}},
		{name: "port protocol unknown", mutate: func(s *discoveryv1.EndpointSlice) { s.Ports[0].Protocol = ptr.To(corev1.Protocol("QUIC")) },
			want: []string{"ports[0].protocol FieldValueNotSupported"}},
		{name: "port protocol missing", mutate: func(s *discoveryv1.EndpointSlice) { s.Ports[0].Protocol = nil },
			want: []string{"ports[0].protocol FieldValueRequired"}},
		{name: "bad app protocol", mutate: func(s *discoveryv1.EndpointSlice) { s.Ports[0].AppProtocol = ptr.To("h2c?") },
			want: []string{"ports[0].appProtocol FieldValueInvalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSlice()
			tt.mutate(s)
			if diff := cmp.Diff(tt.want, summary(strategy{}.Validate(s))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUpdate(t *testing.T) {
	tests := []struct {
		name           string
		mutate         func(*discoveryv1.EndpointSlice)
		want           []string
		wantGeneration int64
	}{
		{name: "new endpoint", mutate: func(s *discoveryv1.EndpointSlice) {
			s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.42.0.6"}})
		}, want: []string{}, wantGeneration: 2},
		{name: "label change", mutate: func(s *discoveryv1.EndpointSlice) { s.Labels = map[string]string{"kubernetes.io/service-name": "web"} },
			want: []string{}, wantGeneration: 2},
		{name: "annotation change", mutate: func(s *discoveryv1.EndpointSlice) { s.Annotations = map[string]string{"a": "b"} },
			want: []string{}, wantGeneration: 1},
		{name: "address type change", mutate: func(s *discoveryv1.EndpointSlice) {
			s.AddressType = discoveryv1.AddressTypeFQDN
			s.Endpoints[0].Addresses = []string{"web.example.com"}
		}, want: []string{"addressType FieldValueInvalid"}, wantGeneration: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newSlice()
			s := old.DeepCopy()
			tt.mutate(s)
			strategy{}.PrepareForUpdate(s, old)
			if s.Generation != tt.wantGeneration {
				t.Errorf("generation: got %d, want %d", s.Generation, tt.wantGeneration)
			}
			if diff := cmp.Diff(tt.want, summary(strategy{}.ValidateUpdate(s, old))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTableRow(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*discoveryv1.EndpointSlice)
		want   []interface{}
	}{
		{name: "one endpoint", mutate: func(*discoveryv1.EndpointSlice) {},
			want: []interface{}{"web-abcde", "IPv4", "8080", "10.42.0.5", "<unknown>"}},
		{name: "empty", mutate: func(s *discoveryv1.EndpointSlice) { s.Endpoints, s.Ports = nil, nil },
			want: []interface{}{"web-abcde", "IPv4", "<unset>", "<unset>", "<unknown>"}},
		{name: "many", mutate: func(s *discoveryv1.EndpointSlice) {
			s.Endpoints = []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1", "10.0.0.2"}}, {Addresses: []string{"10.0.0.3", "10.0.0.4", "10.0.0.5"}}}
			s.Ports = []discoveryv1.EndpointPort{{Port: ptr.To[int32](80)}, {Name: ptr.To("metrics")}, {}, {Port: ptr.To[int32](443)}}
		}, want: []interface{}{"web-abcde", "IPv4", "80,metrics,* + 1 more...", "10.0.0.1,10.0.0.2,10.0.0.3 + 2 more...", "<unknown>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSlice()
			tt.mutate(s)
			if diff := cmp.Diff(tt.want, Kind().Table.Row(s)); diff != "" {
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
	}{"discovery.k8s.io/v1", "endpointslices", "endpointslice", "EndpointSlice", nil, nil, true, false, false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kind (-want +got):\n%s", diff)
	}
	if _, ok := k.New().(*discoveryv1.EndpointSlice); !ok {
		t.Errorf("New: got %T, want *discoveryv1.EndpointSlice", k.New())
	}
	if _, ok := k.NewList().(*discoveryv1.EndpointSliceList); !ok {
		t.Errorf("NewList: got %T, want *discoveryv1.EndpointSliceList", k.NewList())
	}
}
