package eventsv1

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	eventTime = metav1.NewMicroTime(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	seenTime  = metav1.NewTime(time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC))
)

// newEvent returns a valid new-style event, as a controller would post it
// to events.k8s.io/v1.
func newEvent() *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "web-1.17f2", Namespace: "default", ResourceVersion: "1"},
		EventTime:           eventTime,
		ReportingController: "navarch.dev/scheduler",
		ReportingInstance:   "scheduler-node-a",
		Action:              "Binding",
		Reason:              "Scheduled",
		Regarding:           corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-1", UID: "u1", APIVersion: "v1", ResourceVersion: "7", FieldPath: "spec"},
		Note:                "Successfully assigned default/web-1 to node-a",
		Type:                corev1.EventTypeNormal,
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

func TestToStoredMapsFields(t *testing.T) {
	in := newEvent()
	in.Related = &corev1.ObjectReference{Kind: "Node", Name: "node-a"}
	in.Series = &eventsv1.EventSeries{Count: 3, LastObservedTime: eventTime}
	in.DeprecatedSource = corev1.EventSource{Component: "scheduler", Host: "node-a"}
	in.DeprecatedFirstTimestamp, in.DeprecatedLastTimestamp, in.DeprecatedCount = seenTime, seenTime, 4
	stored, err := ToStored(in)
	if err != nil {
		t.Fatalf("ToStored: %v", err)
	}
	want := &corev1.Event{
		ObjectMeta:          in.ObjectMeta,
		InvolvedObject:      in.Regarding,
		Reason:              "Scheduled",
		Message:             in.Note,
		Source:              corev1.EventSource{Component: "scheduler", Host: "node-a"},
		FirstTimestamp:      seenTime,
		LastTimestamp:       seenTime,
		Count:               4,
		Type:                corev1.EventTypeNormal,
		EventTime:           eventTime,
		Series:              &corev1.EventSeries{Count: 3, LastObservedTime: eventTime},
		Action:              "Binding",
		Related:             &corev1.ObjectReference{Kind: "Node", Name: "node-a"},
		ReportingController: "navarch.dev/scheduler",
		ReportingInstance:   "scheduler-node-a",
	}
	if diff := cmp.Diff(want, stored); diff != "" {
		t.Errorf("stored (-want +got):\n%s", diff)
	}
	stored.(*corev1.Event).InvolvedObject.Name = "changed"
	if in.Regarding.Name != "web-1" {
		t.Errorf("the stored event shares memory with the input")
	}
}

func TestRoundTrip(t *testing.T) {
	full := newEvent()
	full.Related = &corev1.ObjectReference{Kind: "Node", Name: "node-a"}
	full.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: eventTime}
	full.DeprecatedSource = corev1.EventSource{Component: "kubelet", Host: "node-a"}
	full.DeprecatedFirstTimestamp, full.DeprecatedLastTimestamp, full.DeprecatedCount = seenTime, seenTime, 2
	full.Labels = map[string]string{"a": "b"}
	typed := newEvent()
	typed.TypeMeta = metav1.TypeMeta{APIVersion: "events.k8s.io/v1", Kind: "Event"}

	tests := []struct {
		name string
		in   *eventsv1.Event
	}{
		{name: "minimal", in: &eventsv1.Event{}},
		{name: "new style", in: newEvent()},
		{name: "every field", in: full},
		{name: "with type meta", in: typed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stored, err := ToStored(tt.in)
			if err != nil {
				t.Fatalf("ToStored: %v", err)
			}
			back, err := FromStored(stored)
			if err != nil {
				t.Fatalf("FromStored: %v", err)
			}
			if diff := cmp.Diff(tt.in, back); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFromStoredRoundTrip(t *testing.T) {
	// An old-style event as a kubelet writes it through core/v1.
	core := &corev1.Event{
		TypeMeta:       metav1.TypeMeta{APIVersion: "v1", Kind: "Event"},
		ObjectMeta:     metav1.ObjectMeta{Name: "web-1.1", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-1"},
		Reason:         "Pulled", Message: "Container image pulled",
		Source:         corev1.EventSource{Component: "kubelet", Host: "node-a"},
		FirstTimestamp: seenTime, LastTimestamp: seenTime, Count: 3, Type: corev1.EventTypeNormal,
	}
	served, err := FromStored(core)
	if err != nil {
		t.Fatalf("FromStored: %v", err)
	}
	e := served.(*eventsv1.Event)
	if e.Note != "Container image pulled" || e.DeprecatedCount != 3 || e.DeprecatedSource.Component != "kubelet" || e.APIVersion != "events.k8s.io/v1" {
		t.Errorf("served event: got %+v", e)
	}
	back, err := ToStored(served)
	if err != nil {
		t.Fatalf("ToStored: %v", err)
	}
	if diff := cmp.Diff(core, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestConversionRejectsOtherTypes(t *testing.T) {
	if _, err := ToStored(&corev1.Event{}); err == nil {
		t.Errorf("ToStored of a core event: got no error")
	}
	if _, err := FromStored(&eventsv1.Event{}); err == nil {
		t.Errorf("FromStored of an events.k8s.io event: got no error")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*eventsv1.Event)
		want   []string
	}{
		{name: "valid", mutate: func(*eventsv1.Event) {}, want: []string{}},
		{name: "valid series", mutate: func(e *eventsv1.Event) { e.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: eventTime} }, want: []string{}},
		{name: "no event time", mutate: func(e *eventsv1.Event) { e.EventTime = metav1.MicroTime{} },
			want: []string{"eventTime FieldValueRequired"}},
		{name: "bad type", mutate: func(e *eventsv1.Event) { e.Type = "Info" }, want: []string{"type FieldValueInvalid"}},
		{name: "no reporting controller", mutate: func(e *eventsv1.Event) { e.ReportingController = "" },
			// As upstream: required, and not a qualified name (two reasons).
			want: []string{"reportingController FieldValueInvalid", "reportingController FieldValueInvalid", "reportingController FieldValueRequired"}},
		{name: "no action and reason", mutate: func(e *eventsv1.Event) { e.Action, e.Reason = "", "" },
			want: []string{"action FieldValueRequired", "reason FieldValueRequired"}},
		{name: "note too long", mutate: func(e *eventsv1.Event) { e.Note = strings.Repeat("x", 1025) },
			want: []string{"message FieldValueInvalid"}},
		{name: "regarding another namespace", mutate: func(e *eventsv1.Event) { e.Namespace = "prod"; e.Regarding.Namespace = "" },
			want: []string{"involvedObject.namespace FieldValueInvalid"}},
		{name: "short series", mutate: func(e *eventsv1.Event) { e.Series = &eventsv1.EventSeries{Count: 1} },
			want: []string{"series.count FieldValueInvalid", "series.lastObservedTime FieldValueRequired"}},
		{name: "deprecated fields set", mutate: func(e *eventsv1.Event) {
			e.DeprecatedCount = 1
			e.DeprecatedFirstTimestamp = seenTime
			e.DeprecatedLastTimestamp = seenTime
			e.DeprecatedSource = corev1.EventSource{Component: "kubelet"}
		}, want: []string{"deprecatedCount FieldValueInvalid", "deprecatedFirstTimestamp FieldValueInvalid", "deprecatedLastTimestamp FieldValueInvalid", "deprecatedSource FieldValueInvalid"}},
		{name: "bad name", mutate: func(e *eventsv1.Event) { e.Name = "Web_1" }, want: []string{"metadata.name FieldValueInvalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEvent()
			tt.mutate(e)
			if diff := cmp.Diff(tt.want, summary(strategy{}.Validate(e))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*eventsv1.Event)
		want   []string
	}{
		{name: "series grows", mutate: func(e *eventsv1.Event) { e.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: eventTime} }, want: []string{}},
		{name: "bad series", mutate: func(e *eventsv1.Event) { e.Series = &eventsv1.EventSeries{Count: 1, LastObservedTime: eventTime} },
			want: []string{"series.count FieldValueInvalid"}},
		{name: "note changes", mutate: func(e *eventsv1.Event) { e.Note = "other" }, want: []string{"message FieldValueInvalid"}},
		{name: "regarding changes", mutate: func(e *eventsv1.Event) { e.Regarding.Name = "web-2" }, want: []string{"involvedObject FieldValueInvalid"}},
		{name: "reporter changes", mutate: func(e *eventsv1.Event) { e.ReportingInstance = "other" }, want: []string{"reportingInstance FieldValueInvalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newEvent()
			e := old.DeepCopy()
			tt.mutate(e)
			if diff := cmp.Diff(tt.want, summary(strategy{}.ValidateUpdate(e, old))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFields(t *testing.T) {
	want := fields.Set{
		"reason": "Scheduled", "type": "Normal", "reportingController": "navarch.dev/scheduler",
		"regarding.kind": "Pod", "regarding.namespace": "default", "regarding.name": "web-1", "regarding.uid": "u1",
		"regarding.apiVersion": "v1", "regarding.resourceVersion": "7", "regarding.fieldPath": "spec",
	}
	e := newEvent()
	if diff := cmp.Diff(want, Kind().Fields(e)); diff != "" {
		t.Errorf("fields of the served event (-want +got):\n%s", diff)
	}
	stored, err := ToStored(e)
	if err != nil {
		t.Fatalf("ToStored: %v", err)
	}
	if diff := cmp.Diff(want, Kind().Fields(stored)); diff != "" {
		t.Errorf("fields of the stored event (-want +got):\n%s", diff)
	}
	if got := Kind().Fields(&eventsv1.Event{}); len(got) != len(want) {
		t.Errorf("fields of an empty event: got %d names, want %d", len(got), len(want))
	}
}

func TestTableRow(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*eventsv1.Event)
		want   []interface{}
	}{
		{name: "new style singleton", mutate: func(e *eventsv1.Event) {
			e.EventTime = metav1.MicroTime{}
		}, want: []interface{}{"<unknown>", "Normal", "Scheduled", "pod/web-1", "spec", "navarch.dev/scheduler, scheduler-node-a",
			"Successfully assigned default/web-1 to node-a", "<unknown>", int64(1), "web-1.17f2"}},
		{name: "old style with source and count", mutate: func(e *eventsv1.Event) {
			e.EventTime = metav1.MicroTime{}
			e.ReportingController, e.ReportingInstance = "", ""
			e.DeprecatedSource = corev1.EventSource{Component: "kubelet"}
			e.DeprecatedCount = 5
			e.Regarding = corev1.ObjectReference{Kind: "Node"}
			e.Note = "  rebooted \n"
		}, want: []interface{}{"<unknown>", "Normal", "Scheduled", "node", "", "kubelet", "rebooted", "<unknown>", int64(5), "web-1.17f2"}},
		{name: "series count", mutate: func(e *eventsv1.Event) {
			e.EventTime = metav1.MicroTime{}
			e.Series = &eventsv1.EventSeries{Count: 7}
		}, want: []interface{}{"<unknown>", "Normal", "Scheduled", "pod/web-1", "spec", "navarch.dev/scheduler, scheduler-node-a",
			"Successfully assigned default/web-1 to node-a", "<unknown>", int64(7), "web-1.17f2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEvent()
			tt.mutate(e)
			table := Kind().Table
			got := table.Row(e)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("row (-want +got):\n%s", diff)
			}
			if len(got) != len(table.Columns) {
				t.Errorf("got %d cells for %d columns", len(got), len(table.Columns))
			}
		})
	}
}

func TestKindIsStoredAsCoreEvents(t *testing.T) {
	k := Kind()
	if k.StoredAs == nil || k.StoredAs.GroupVersion != corev1.SchemeGroupVersion || k.StoredAs.Resource != "events" {
		t.Fatalf("StoredAs: got %+v, want core/v1 events", k.StoredAs)
	}
	if _, ok := k.StoredAs.New().(*corev1.Event); !ok {
		t.Errorf("StoredAs.New: got %T, want *corev1.Event", k.StoredAs.New())
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
	}{"events.k8s.io/v1", "events", "event", "Event", []string{"ev"}, nil, true, false, false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kind (-want +got):\n%s", diff)
	}
	if _, ok := k.New().(*eventsv1.Event); !ok {
		t.Errorf("New: got %T, want *eventsv1.Event", k.New())
	}
	if _, ok := k.NewList().(*eventsv1.EventList); !ok {
		t.Errorf("NewList: got %T, want *eventsv1.EventList", k.NewList())
	}
}
