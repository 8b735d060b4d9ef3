package endpoints

import (
	"fmt"
	"github.com/navarch/navarch/internal/controller/serviceendpoints"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

func addr(ip, uid string) corev1.EndpointAddress {
	a := corev1.EndpointAddress{IP: ip}
	if uid != "" {
		a.TargetRef = &corev1.ObjectReference{Kind: "Pod", UID: types.UID(uid)}
	}
	return a
}

func ports(numbers ...int32) []corev1.EndpointPort {
	var out []corev1.EndpointPort
	for _, n := range numbers {
		out = append(out, corev1.EndpointPort{Name: fmt.Sprintf("p%d", n), Port: n, Protocol: corev1.ProtocolTCP})
	}
	return out
}

func TestRepackSubsets(t *testing.T) {
	tests := []struct {
		name string
		in   []corev1.EndpointSubset
		want []corev1.EndpointSubset
	}{
		{
			name: "duplicates merge and sort",
			in: []corev1.EndpointSubset{
				{Addresses: []corev1.EndpointAddress{addr("10.0.0.2", "b")}, Ports: ports(80)},
				{Addresses: []corev1.EndpointAddress{addr("10.0.0.1", "a"), addr("10.0.0.2", "b")}, Ports: ports(80)},
			},
			want: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.0.0.1", "a"), addr("10.0.0.2", "b")}, Ports: ports(80)}},
		},
		{
			name: "not ready on a port wins over ready",
			in: []corev1.EndpointSubset{
				{Addresses: []corev1.EndpointAddress{addr("10.0.0.1", "a")}, Ports: ports(80)},
				{NotReadyAddresses: []corev1.EndpointAddress{addr("10.0.0.1", "a")}, Ports: ports(80)},
			},
			want: []corev1.EndpointSubset{{NotReadyAddresses: []corev1.EndpointAddress{addr("10.0.0.1", "a")}, Ports: ports(80)}},
		},
		{
			name: "ports served by the same addresses share a subset",
			in: []corev1.EndpointSubset{
				{Addresses: []corev1.EndpointAddress{addr("10.0.0.1", "a")}, Ports: ports(443)},
				{Addresses: []corev1.EndpointAddress{addr("10.0.0.1", "a")}, Ports: ports(80)},
				{Addresses: []corev1.EndpointAddress{addr("10.0.0.2", "b")}, Ports: ports(80)},
			},
			want: []corev1.EndpointSubset{
				{Addresses: []corev1.EndpointAddress{addr("10.0.0.1", "a")}, Ports: ports(443)},
				{Addresses: []corev1.EndpointAddress{addr("10.0.0.1", "a"), addr("10.0.0.2", "b")}, Ports: ports(80)},
			},
		},
		{
			name: "one IP of two pods stays two addresses",
			in: []corev1.EndpointSubset{
				{Addresses: []corev1.EndpointAddress{addr("10.0.0.1", "b"), addr("10.0.0.1", "a")}, Ports: ports(80)},
			},
			want: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.0.0.1", "a"), addr("10.0.0.1", "b")}, Ports: ports(80)}},
		},
		{
			name: "nothing in, nothing out",
			want: []corev1.EndpointSubset{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := serviceendpoints.RepackSubsets(tc.in)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("serviceendpoints.RepackSubsets (-want +got):\n%s", diff)
			}
			if again := serviceendpoints.RepackSubsets(got); !subsetsEqual(again, got) {
				t.Errorf("repacking the canonical form changed it: %v -> %v", got, again)
			}
		})
	}
}

func manyAddresses(prefix string, n int) []corev1.EndpointAddress {
	out := make([]corev1.EndpointAddress, n)
	for i := range out {
		out[i] = addr(fmt.Sprintf("%s.%d.%d", prefix, i/250, i%250), fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name                      string
		subsets                   []corev1.EndpointSubset
		wantCut                   bool
		wantReady, wantNotReady   int
		wantFirstReady, wantFirst int // addresses left in the first subset (ready, not ready)
	}{
		{
			name:      "under capacity is untouched",
			subsets:   []corev1.EndpointSubset{{Addresses: manyAddresses("10.0", 600), NotReadyAddresses: manyAddresses("10.1", 400)}},
			wantReady: 600, wantNotReady: 400, wantFirstReady: 600, wantFirst: 400,
		},
		{
			name:      "not ready addresses go first",
			subsets:   []corev1.EndpointSubset{{Addresses: manyAddresses("10.0", 900), NotReadyAddresses: manyAddresses("10.1", 300)}},
			wantCut:   true,
			wantReady: 900, wantNotReady: 100, wantFirstReady: 900, wantFirst: 100,
		},
		{
			name: "too many ready: cut in proportion, not ready all gone",
			subsets: []corev1.EndpointSubset{
				{Addresses: manyAddresses("10.0", 900), NotReadyAddresses: manyAddresses("10.1", 10), Ports: ports(80)},
				{Addresses: manyAddresses("10.2", 300), Ports: ports(443)},
			},
			wantCut:   true,
			wantReady: 1000, wantNotReady: 0, wantFirstReady: 750, wantFirst: 0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cut := truncate(tc.subsets)
			if cut != tc.wantCut {
				t.Errorf("truncate = %v, want %v", cut, tc.wantCut)
			}
			ready, notReady := 0, 0
			for _, s := range tc.subsets {
				ready += len(s.Addresses)
				notReady += len(s.NotReadyAddresses)
			}
			if ready != tc.wantReady || notReady != tc.wantNotReady {
				t.Errorf("left %d ready, %d not ready; want %d, %d", ready, notReady, tc.wantReady, tc.wantNotReady)
			}
			if got := len(tc.subsets[0].Addresses); got != tc.wantFirstReady {
				t.Errorf("first subset keeps %d ready, want %d", got, tc.wantFirstReady)
			}
			if got := len(tc.subsets[0].NotReadyAddresses); got != tc.wantFirst {
				t.Errorf("first subset keeps %d not ready, want %d", got, tc.wantFirst)
			}
		})
	}
}
