package eventsv1

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// ToStored converts an *eventsv1.Event into the *corev1.Event it is
// stored as: note becomes message, regarding involvedObject,
// reportingController reportingComponent, and the deprecated* fields the
// core fields they stand for. The result shares nothing with obj.
// TypeMeta is set for core/v1 only if obj had one.
func ToStored(obj runtime.Object) (runtime.Object, error) {
	in, ok := obj.(*eventsv1.Event)
	if !ok {
		return nil, fmt.Errorf("eventsv1: cannot convert %T to a core/v1 Event", obj)
	}
	e := in.DeepCopy()
	out := &corev1.Event{
		ObjectMeta:          e.ObjectMeta,
		InvolvedObject:      e.Regarding,
		Reason:              e.Reason,
		Message:             e.Note,
		Source:              e.DeprecatedSource,
		FirstTimestamp:      e.DeprecatedFirstTimestamp,
		LastTimestamp:       e.DeprecatedLastTimestamp,
		Count:               e.DeprecatedCount,
		Type:                e.Type,
		EventTime:           e.EventTime,
		Action:              e.Action,
		Related:             e.Related,
		ReportingController: e.ReportingController,
		ReportingInstance:   e.ReportingInstance,
	}
	if e.Series != nil {
		out.Series = &corev1.EventSeries{Count: e.Series.Count, LastObservedTime: e.Series.LastObservedTime}
	}
	if e.TypeMeta != (metav1.TypeMeta{}) {
		out.TypeMeta = metav1.TypeMeta{APIVersion: corev1.SchemeGroupVersion.String(), Kind: "Event"}
	}
	return out, nil
}

// FromStored converts a stored *corev1.Event into the *eventsv1.Event
// clients of events.k8s.io/v1 see; it is the inverse of ToStored. The
// result shares nothing with obj. TypeMeta is set for events.k8s.io/v1
// only if obj had one.
func FromStored(obj runtime.Object) (runtime.Object, error) {
	in, ok := obj.(*corev1.Event)
	if !ok {
		return nil, fmt.Errorf("eventsv1: cannot convert %T to an events.k8s.io/v1 Event", obj)
	}
	e := in.DeepCopy()
	out := &eventsv1.Event{
		ObjectMeta:               e.ObjectMeta,
		EventTime:                e.EventTime,
		ReportingController:      e.ReportingController,
		ReportingInstance:        e.ReportingInstance,
		Action:                   e.Action,
		Reason:                   e.Reason,
		Regarding:                e.InvolvedObject,
		Related:                  e.Related,
		Note:                     e.Message,
		Type:                     e.Type,
		DeprecatedSource:         e.Source,
		DeprecatedFirstTimestamp: e.FirstTimestamp,
		DeprecatedLastTimestamp:  e.LastTimestamp,
		DeprecatedCount:          e.Count,
	}
	if e.Series != nil {
		out.Series = &eventsv1.EventSeries{Count: e.Series.Count, LastObservedTime: e.Series.LastObservedTime}
	}
	if e.TypeMeta != (metav1.TypeMeta{}) {
		out.TypeMeta = metav1.TypeMeta{APIVersion: eventsv1.SchemeGroupVersion.String(), Kind: "Event"}
	}
	return out, nil
}

// toCore converts for validation and printing, where obj is known to be
// an *eventsv1.Event; a stored *corev1.Event is taken as it is.
func toCore(obj runtime.Object) *corev1.Event {
	if e, ok := obj.(*corev1.Event); ok {
		return e
	}
	stored, err := ToStored(obj)
	if err != nil {
		// The API server hands a kind only objects of its own types.
		panic(err)
	}
	return stored.(*corev1.Event)
}
