package event

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	fieldsel "k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/navarch/navarch/internal/registry"
)

// Length limits of new-style events' fields.
const (
	reportingInstanceLengthLimit = 128
	actionLengthLimit            = 128
	reasonLengthLimit            = 128
	noteLengthLimit              = 1024
)

// Kind returns the registry entry of core/v1 events.
func Kind() *registry.Kind {
	return &registry.Kind{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "events",
		Singular:     "event",
		Kind:         "Event",
		ShortNames:   []string{"ev"},
		Namespaced:   true,
		New:          func() runtime.Object { return &corev1.Event{} },
		NewList:      func() runtime.Object { return &corev1.EventList{} },
		Strategy:     strategy{},
		Table:        table,
		Fields:       fields,
	}
}

type strategy struct{}

var _ registry.Strategy = strategy{}

// Default does nothing: core/v1 events have no defaults.
func (strategy) Default(runtime.Object) {}

// PrepareForCreate does nothing: an event has no status.
func (strategy) PrepareForCreate(runtime.Object) {}

// PrepareForUpdate does nothing: an event has no status.
func (strategy) PrepareForUpdate(_, _ runtime.Object) {}

// Validate checks a new event.
func (strategy) Validate(obj runtime.Object) field.ErrorList {
	ev := obj.(*corev1.Event)
	errs := apivalidation.ValidateObjectMeta(&ev.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, validateEvent(ev)...)
}

// ValidateUpdate checks an update, such as a recorder bumping count and
// lastTimestamp.
func (strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	ev, oldEv := obj.(*corev1.Event), old.(*corev1.Event)
	errs := apivalidation.ValidateObjectMetaUpdate(&ev.ObjectMeta, &oldEv.ObjectMeta, field.NewPath("metadata"))
	return append(errs, validateEvent(ev)...)
}

// validateEvent applies upstream's rules for events written through
// core/v1: an old-style event (no eventTime) lives in its object's
// namespace (or default, for cluster-scoped objects); a new-style one
// also names who reported it and what happened.
func validateEvent(ev *corev1.Event) field.ErrorList {
	var errs field.ErrorList
	nsPath := field.NewPath("involvedObject", "namespace")
	involvedNS := ev.InvolvedObject.Namespace
	if ev.EventTime.IsZero() {
		if involvedNS == "" {
			if ev.Namespace != metav1.NamespaceNone && ev.Namespace != metav1.NamespaceDefault {
				errs = append(errs, field.Invalid(nsPath, involvedNS, "does not match event.namespace"))
			}
		} else if ev.Namespace != involvedNS {
			errs = append(errs, field.Invalid(nsPath, involvedNS, "does not match event.namespace"))
		}
	} else {
		if involvedNS == "" && ev.Namespace != metav1.NamespaceDefault && ev.Namespace != metav1.NamespaceSystem {
			errs = append(errs, field.Invalid(nsPath, involvedNS, "does not match event.namespace"))
		}
		// core/v1 calls reportingController reportingComponent.
		controllerPath := field.NewPath("reportingComponent")
		if ev.ReportingController == "" {
			errs = append(errs, field.Required(controllerPath, ""))
		}
		for _, msg := range validation.IsQualifiedName(ev.ReportingController) {
			errs = append(errs, field.Invalid(controllerPath, ev.ReportingController, msg))
		}
		errs = append(errs, requiredWithLimit(ev.ReportingInstance, reportingInstanceLengthLimit, field.NewPath("reportingInstance"))...)
		errs = append(errs, requiredWithLimit(ev.Action, actionLengthLimit, field.NewPath("action"))...)
		errs = append(errs, requiredWithLimit(ev.Reason, reasonLengthLimit, field.NewPath("reason"))...)
		if len(ev.Message) > noteLengthLimit {
			errs = append(errs, field.Invalid(field.NewPath("message"), "", fmt.Sprintf("can have at most %v characters", noteLengthLimit)))
		}
	}
	for _, msg := range validation.IsDNS1123Subdomain(ev.Namespace) {
		errs = append(errs, field.Invalid(field.NewPath("namespace"), ev.Namespace, msg))
	}
	return errs
}

func requiredWithLimit(value string, limit int, fldPath *field.Path) field.ErrorList {
	if value == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	if len(value) > limit {
		return field.ErrorList{field.Invalid(fldPath, "", fmt.Sprintf("can have at most %v characters", limit))}
	}
	return nil
}

// fields returns the event fields a field selector may name; kubectl
// describe selects a pod's events by involvedObject.
func fields(obj runtime.Object) fieldsel.Set {
	ev := obj.(*corev1.Event)
	source := ev.Source.Component
	if source == "" {
		source = ev.ReportingController
	}
	return fieldsel.Set{
		"involvedObject.kind":            ev.InvolvedObject.Kind,
		"involvedObject.namespace":       ev.InvolvedObject.Namespace,
		"involvedObject.name":            ev.InvolvedObject.Name,
		"involvedObject.uid":             string(ev.InvolvedObject.UID),
		"involvedObject.apiVersion":      ev.InvolvedObject.APIVersion,
		"involvedObject.resourceVersion": ev.InvolvedObject.ResourceVersion,
		"involvedObject.fieldPath":       ev.InvolvedObject.FieldPath,
		"reason":                         ev.Reason,
		"reportingComponent":             ev.ReportingController,
		"source":                         source,
		"type":                           ev.Type,
	}
}

// table is kubectl get events: LAST SEEN TYPE REASON OBJECT MESSAGE, and
// with -o wide SUBOBJECT SOURCE FIRST SEEN COUNT NAME. As upstream's, its
// first column is LAST SEEN; NAME comes last.
var table = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		{Name: "Last Seen", Type: "string", Description: corev1.Event{}.SwaggerDoc()["lastTimestamp"]},
		{Name: "Type", Type: "string", Description: corev1.Event{}.SwaggerDoc()["type"]},
		{Name: "Reason", Type: "string", Description: corev1.Event{}.SwaggerDoc()["reason"]},
		{Name: "Object", Type: "string", Description: corev1.Event{}.SwaggerDoc()["involvedObject"]},
		{Name: "Subobject", Type: "string", Priority: 1, Description: corev1.ObjectReference{}.SwaggerDoc()["fieldPath"]},
		{Name: "Source", Type: "string", Priority: 1, Description: corev1.Event{}.SwaggerDoc()["source"]},
		{Name: "Message", Type: "string", Description: corev1.Event{}.SwaggerDoc()["message"]},
		{Name: "First Seen", Type: "string", Priority: 1, Description: corev1.Event{}.SwaggerDoc()["firstTimestamp"]},
		{Name: "Count", Type: "string", Priority: 1, Description: corev1.Event{}.SwaggerDoc()["count"]},
		{Name: "Name", Type: "string", Priority: 1, Format: "name", Description: registry.NameColumn.Description},
	},
	Row: func(obj runtime.Object) []interface{} {
		return eventRow(obj.(*corev1.Event))
	},
}

// eventRow renders an event as upstream's printEvent does: times fall
// back to eventTime and to the series of a new-style event.
func eventRow(ev *corev1.Event) []interface{} {
	firstSeen := registry.Age(ev.FirstTimestamp)
	if ev.FirstTimestamp.IsZero() {
		firstSeen = microAge(ev.EventTime)
	}
	lastSeen := registry.Age(ev.LastTimestamp)
	if ev.LastTimestamp.IsZero() {
		lastSeen = firstSeen
	}
	count := ev.Count
	if ev.Series != nil {
		lastSeen = microAge(ev.Series.LastObservedTime)
		count = ev.Series.Count
	} else if count == 0 {
		// A new-style event seen once has no count.
		count = 1
	}
	target := strings.ToLower(ev.InvolvedObject.Kind)
	if ev.InvolvedObject.Name != "" {
		target += "/" + ev.InvolvedObject.Name
	}
	return []interface{}{
		lastSeen, ev.Type, ev.Reason, target, ev.InvolvedObject.FieldPath,
		formatSource(ev), strings.TrimSpace(ev.Message), firstSeen, int64(count), ev.Name,
	}
}

func microAge(t metav1.MicroTime) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(t.Time))
}

// formatSource renders "component, host", falling back to the reporting
// controller and instance of new-style events.
func formatSource(ev *corev1.Event) string {
	component := ev.Source.Component
	if component == "" {
		component = ev.ReportingController
	}
	host := ev.Source.Host
	if host == "" {
		host = ev.ReportingInstance
	}
	if host == "" {
		return component
	}
	return component + ", " + host
}
