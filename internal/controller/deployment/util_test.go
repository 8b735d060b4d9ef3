package deployment

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestResolveFenceposts(t *testing.T) {
	tests := []struct {
		name                       string
		surge, unavailable         *intstr.IntOrString
		desired                    int32
		wantSurge, wantUnavailable int32
	}{
		{name: "defaults 25% of 4", surge: ptr.To(intstr.FromString("25%")), unavailable: ptr.To(intstr.FromString("25%")), desired: 4, wantSurge: 1, wantUnavailable: 1},
		{name: "25% of 10: surge rounds up, unavailable down", surge: ptr.To(intstr.FromString("25%")), unavailable: ptr.To(intstr.FromString("25%")), desired: 10, wantSurge: 3, wantUnavailable: 2},
		{name: "25% of 1", surge: ptr.To(intstr.FromString("25%")), unavailable: ptr.To(intstr.FromString("25%")), desired: 1, wantSurge: 1, wantUnavailable: 0},
		{name: "both round to 0: unavailable 1", surge: ptr.To(intstr.FromString("0%")), unavailable: ptr.To(intstr.FromString("10%")), desired: 5, wantSurge: 0, wantUnavailable: 1},
		{name: "absolute values", surge: ptr.To(intstr.FromInt32(2)), unavailable: ptr.To(intstr.FromInt32(0)), desired: 3, wantSurge: 2, wantUnavailable: 0},
		{name: "nil is 0", desired: 3, wantSurge: 0, wantUnavailable: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			surge, unavailable, err := ResolveFenceposts(tc.surge, tc.unavailable, tc.desired)
			if err != nil {
				t.Fatal(err)
			}
			if surge != tc.wantSurge || unavailable != tc.wantUnavailable {
				t.Errorf("got surge %d unavailable %d, want %d and %d", surge, unavailable, tc.wantSurge, tc.wantUnavailable)
			}
		})
	}
}

func TestMaxUnavailable(t *testing.T) {
	tests := []struct {
		name     string
		d        *appsv1.Deployment
		expected int32
	}{
		{name: "rolling 1 of 4", d: newDeployment("d", 4, intstr.FromInt32(1), intstr.FromInt32(1)), expected: 1},
		{name: "capped at replicas", d: newDeployment("d", 2, intstr.FromInt32(0), intstr.FromInt32(5)), expected: 2},
		{name: "zero replicas", d: newDeployment("d", 0, intstr.FromInt32(1), intstr.FromInt32(1)), expected: 0},
		{name: "recreate", d: recreate(newDeployment("d", 4, intstr.FromInt32(1), intstr.FromInt32(1))), expected: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := MaxUnavailable(tc.d); got != tc.expected {
				t.Errorf("MaxUnavailable = %d, want %d", got, tc.expected)
			}
		})
	}
}

func TestNewRSReplicas(t *testing.T) {
	tests := []struct {
		name     string
		strategy appsv1.DeploymentStrategyType
		replicas int32
		surge    int32
		oldSize  int32
		newSize  int32
		want     int32
	}{
		{name: "rolling: surge room", strategy: appsv1.RollingUpdateDeploymentStrategyType, replicas: 4, surge: 1, oldSize: 4, newSize: 0, want: 1},
		{name: "rolling: no room", strategy: appsv1.RollingUpdateDeploymentStrategyType, replicas: 4, surge: 1, oldSize: 4, newSize: 1, want: 1},
		{name: "rolling: capped at replicas", strategy: appsv1.RollingUpdateDeploymentStrategyType, replicas: 4, surge: 3, oldSize: 0, newSize: 2, want: 4},
		{name: "rolling: old shrank", strategy: appsv1.RollingUpdateDeploymentStrategyType, replicas: 4, surge: 1, oldSize: 2, newSize: 1, want: 3},
		{name: "recreate: all at once", strategy: appsv1.RecreateDeploymentStrategyType, replicas: 4, oldSize: 0, newSize: 0, want: 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDeployment("web", tc.replicas, intstr.FromInt32(tc.surge), intstr.FromInt32(0))
			if tc.strategy == appsv1.RecreateDeploymentStrategyType {
				recreate(d)
			}
			newRS := newReplicaSet(d, "web-new", tc.newSize, 2)
			oldRS := newReplicaSet(d, "web-old", tc.oldSize, 1)
			got, err := newRSReplicas(d, []*appsv1.ReplicaSet{oldRS, newRS}, newRS)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("newRSReplicas = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestSetNewReplicaSetAnnotations(t *testing.T) {
	tests := []struct {
		name        string
		rsAnno      map[string]string
		dAnno       map[string]string
		newRevision int64
		exists      bool
		want        map[string]string
	}{
		{
			name:        "new replica set",
			dAnno:       map[string]string{"kubernetes.io/change-cause": "v2", RevisionAnnotation: "7", "kubectl.kubernetes.io/last-applied-configuration": "{}"},
			newRevision: 2,
			want: map[string]string{
				"kubernetes.io/change-cause": "v2", RevisionAnnotation: "2",
				DesiredReplicasAnnotation: "4", MaxReplicasAnnotation: "5",
			},
		},
		{
			name:        "rollback keeps history",
			rsAnno:      map[string]string{RevisionAnnotation: "1"},
			newRevision: 3,
			exists:      true,
			want:        map[string]string{RevisionAnnotation: "3", RevisionHistoryAnnotation: "1"},
		},
		{
			name:        "second rollback appends",
			rsAnno:      map[string]string{RevisionAnnotation: "3", RevisionHistoryAnnotation: "1"},
			newRevision: 5,
			exists:      true,
			want:        map[string]string{RevisionAnnotation: "5", RevisionHistoryAnnotation: "1,3"},
		},
		{
			name:        "higher revision stays",
			rsAnno:      map[string]string{RevisionAnnotation: "9"},
			newRevision: 3,
			exists:      true,
			want:        map[string]string{RevisionAnnotation: "9"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDeployment("web", 4, intstr.FromInt32(1), intstr.FromInt32(1))
			d.Annotations = tc.dAnno
			rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Annotations: tc.rsAnno}}
			setNewReplicaSetAnnotations(d, rs, tc.newRevision, tc.exists)
			if diff := cmp.Diff(tc.want, rs.Annotations); diff != "" {
				t.Errorf("annotations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReplicaSetFractionAndProportion(t *testing.T) {
	// A Deployment scaled from 10 (+3 surge = 13 annotated) to 20
	// (+5 surge = 25) in the middle of a rollout.
	d := newDeployment("web", 20, intstr.FromString("25%"), intstr.FromString("25%"))
	tests := []struct {
		name          string
		rsSize        int32
		toAdd, added  int32
		wantShare     int32
		annotatedSize string
	}{
		{name: "proportional share", rsSize: 6, toAdd: 12, added: 0, annotatedSize: "13", wantShare: 6},
		{name: "capped by what is left", rsSize: 6, toAdd: 12, added: 10, annotatedSize: "13", wantShare: 2},
		{name: "empty replica set gets nothing", rsSize: 0, toAdd: 12, annotatedSize: "13", wantShare: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs := newReplicaSet(d, "web-x", tc.rsSize, 1)
			rs.Annotations[MaxReplicasAnnotation] = tc.annotatedSize
			if got := proportion(rs, d, tc.toAdd, tc.added); got != tc.wantShare {
				t.Errorf("proportion = %d, want %d", got, tc.wantShare)
			}
		})
	}
}
