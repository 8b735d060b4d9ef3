package event

import (
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestValidate(t *testing.T) {
	now := metav1.NewMicroTime(time.Now())
	tests := []struct {
		name   string
		mutate func(*corev1.Event)
		want   []string
	}{
		{name: "old style", mutate: func(*corev1.Event) {}},
		{
			name:   "namespace differs from object's",
			mutate: func(e *corev1.Event) { e.InvolvedObject.Namespace = "other" },
			want:   []string{"FieldValueInvalid involvedObject.namespace"},
		},
		{
			name: "cluster-scoped object in default",
			mutate: func(e *corev1.Event) {
				e.Namespace, e.InvolvedObject = "default", corev1.ObjectReference{Kind: "Node", Name: "n1"}
			},
		},
		{
			name: "new style complete",
			mutate: func(e *corev1.Event) {
				e.EventTime, e.ReportingController, e.ReportingInstance, e.Action = now, "navarch.io/agent", "n1", "Pulling"
			},
		},
		{
			name:   "new style without reporter",
			mutate: func(e *corev1.Event) { e.EventTime, e.Action = now, "Pulling" },
			// An empty name fails both parts of the qualified-name check.
			want: []string{
				"FieldValueInvalid reportingComponent", "FieldValueInvalid reportingComponent",
				"FieldValueRequired reportingComponent", "FieldValueRequired reportingInstance",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := &corev1.Event{
				ObjectMeta:     metav1.ObjectMeta{Name: "web.17a8", Namespace: "shop"},
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: "web"},
				Reason:         "Pulled",
			}
			tt.mutate(ev)
			got := []string{}
			for _, e := range (strategy{}).Validate(ev) {
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

func TestTable(t *testing.T) {
	first := metav1.NewTime(time.Now().Add(-10 * time.Minute))
	last := metav1.NewTime(time.Now().Add(-2 * time.Minute))
	tests := []struct {
		name string
		ev   corev1.Event
		want []interface{}
	}{
		{
			name: "old style",
			ev: corev1.Event{
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web", FieldPath: "spec.containers{app}"},
				Type:           "Normal", Reason: "Pulled", Message: "Pulled image \"nginx\"\n",
				Source: corev1.EventSource{Component: "kubelet", Host: "n1"}, FirstTimestamp: first, LastTimestamp: last, Count: 4,
			},
			want: []interface{}{"2m", "Normal", "Pulled", "pod/web", "spec.containers{app}", "kubelet, n1", "Pulled image \"nginx\"", "10m", int64(4), "web.1"},
		},
		{
			name: "new style single",
			ev: corev1.Event{
				InvolvedObject: corev1.ObjectReference{Kind: "Node"},
				Type:           "Warning", Reason: "Rebooted", ReportingController: "navarch.io/agent",
				EventTime: metav1.NewMicroTime(time.Now().Add(-30 * time.Second)),
			},
			want: []interface{}{"30s", "Warning", "Rebooted", "node", "", "navarch.io/agent", "", "30s", int64(1), "web.1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := tt.ev
			ev.Name = "web.1"
			if d := cmp.Diff(tt.want, table.Row(&ev)); d != "" {
				t.Errorf("row (-want +got):\n%s", d)
			}
		})
	}
}

func TestFields(t *testing.T) {
	ev := &corev1.Event{
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: "web", UID: "u1", APIVersion: "v1"},
		Reason:         "Pulled", Type: "Normal", ReportingController: "navarch.io/agent",
	}
	want := map[string]string{
		"involvedObject.kind": "Pod", "involvedObject.namespace": "shop", "involvedObject.name": "web",
		"involvedObject.uid": "u1", "involvedObject.apiVersion": "v1", "involvedObject.resourceVersion": "",
		"involvedObject.fieldPath": "", "reason": "Pulled", "reportingComponent": "navarch.io/agent",
		"source": "navarch.io/agent", "type": "Normal",
	}
	if d := cmp.Diff(want, map[string]string(fields(ev))); d != "" {
		t.Errorf("fields (-want +got):\n%s", d)
	}
	if k := Kind(); k.ShortNames[0] != "ev" || k.Resource != "events" {
		t.Errorf("Kind() = %+v", k)
	}
}
