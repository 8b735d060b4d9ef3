package eventsv1

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/navarch/navarch/internal/registry"
)

// Upstream's limits on the strings of new-style events.
const (
	reportingInstanceLengthLimit = 128
	actionLengthLimit            = 128
	reasonLengthLimit            = 128
	noteLengthLimit              = 1024
)

// Kind returns the registry entry of events.k8s.io/v1 Event, stored as
// core/v1 events. Every strategy method takes *eventsv1.Event; Table and
// Fields also accept the stored *corev1.Event.
func Kind() *registry.Kind {
	return &registry.Kind{
		GroupVersion: eventsv1.SchemeGroupVersion,
		Resource:     "events",
		Singular:     "event",
		Kind:         "Event",
		ShortNames:   []string{"ev"},
		Namespaced:   true,
		New:          func() runtime.Object { return &eventsv1.Event{} },
		NewList:      func() runtime.Object { return &eventsv1.EventList{} },
		Strategy:     strategy{},
		Table:        table,
		Fields:       selectableFields,
		StoredAs: &registry.StoredAs{
			GroupVersion: corev1.SchemeGroupVersion,
			Resource:     "events",
			New:          func() runtime.Object { return &corev1.Event{} },
			NewList:      func() runtime.Object { return &corev1.EventList{} },
			ToStored:     ToStored,
			FromStored:   FromStored,
		},
	}
}

// strategy holds the create and update rules of events written through
// events.k8s.io/v1. Events have no defaults and no status.
type strategy struct{}

var _ registry.Strategy = strategy{}

// Default does nothing: upstream has no defaults for events.k8s.io Events.
func (strategy) Default(runtime.Object) {}

// PrepareForCreate does nothing: an Event has no status.
func (strategy) PrepareForCreate(runtime.Object) {}

// PrepareForUpdate does nothing: an Event has no status.
func (strategy) PrepareForUpdate(obj, old runtime.Object) {}

// Validate checks a new event with upstream's events.k8s.io rules: those
// of every event, plus a DNS subdomain name, eventTime, a Normal or
// Warning type, a series of at least two, and none of the deprecated
// fields. As upstream, field paths name the stored (core/v1) fields.
func (strategy) Validate(obj runtime.Object) field.ErrorList {
	e := toCore(obj)
	errs := validateEvent(e)
	errs = append(errs, apivalidation.ValidateObjectMeta(&e.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))...)
	errs = append(errs, validateSeries(e)...)
	if e.EventTime.IsZero() {
		errs = append(errs, field.Required(field.NewPath("eventTime"), ""))
	}
	if e.Type != corev1.EventTypeNormal && e.Type != corev1.EventTypeWarning {
		errs = append(errs, field.Invalid(field.NewPath("type"), "", fmt.Sprintf("has invalid value: %v", e.Type)))
	}
	if !e.FirstTimestamp.IsZero() {
		errs = append(errs, field.Invalid(field.NewPath("deprecatedFirstTimestamp"), "", "needs to be unset"))
	}
	if !e.LastTimestamp.IsZero() {
		errs = append(errs, field.Invalid(field.NewPath("deprecatedLastTimestamp"), "", "needs to be unset"))
	}
	if e.Count != 0 {
		errs = append(errs, field.Invalid(field.NewPath("deprecatedCount"), "", "needs to be unset"))
	}
	if e.Source.Component != "" || e.Source.Host != "" {
		errs = append(errs, field.Invalid(field.NewPath("deprecatedSource"), "", "needs to be unset"))
	}
	return errs
}

// ValidateUpdate checks an update: only the series (and metadata) of an
// event may change.
func (strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	e, oldE := toCore(obj), toCore(old)
	errs := validateEvent(e)
	errs = append(errs, apivalidation.ValidateObjectMetaUpdate(&e.ObjectMeta, &oldE.ObjectMeta, field.NewPath("metadata"))...)
	if !apiequality.Semantic.DeepEqual(e.Series, oldE.Series) {
		errs = append(errs, validateSeries(e)...)
	}
	for _, f := range []struct {
		name             string
		newValue, oldVal interface{}
	}{
		{"involvedObject", e.InvolvedObject, oldE.InvolvedObject},
		{"reason", e.Reason, oldE.Reason},
		{"message", e.Message, oldE.Message},
		{"source", e.Source, oldE.Source},
		{"firstTimestamp", e.FirstTimestamp, oldE.FirstTimestamp},
		{"lastTimestamp", e.LastTimestamp, oldE.LastTimestamp},
		{"count", e.Count, oldE.Count},
		{"type", e.Type, oldE.Type},
		{"eventTime", e.EventTime, oldE.EventTime},
		{"action", e.Action, oldE.Action},
		{"related", e.Related, oldE.Related},
		{"reportingController", e.ReportingController, oldE.ReportingController},
		{"reportingInstance", e.ReportingInstance, oldE.ReportingInstance},
	} {
		errs = append(errs, apivalidation.ValidateImmutableField(f.newValue, f.oldVal, field.NewPath(f.name))...)
	}
	return errs
}

// validateEvent holds the rules every event meets whichever API wrote it:
// the namespace agrees with the regarding object's, and an event with an
// eventTime names its reporter, action and reason within their limits.
func validateEvent(e *corev1.Event) field.ErrorList {
	var errs field.ErrorList
	namespacePath := field.NewPath("involvedObject", "namespace")
	if e.EventTime.IsZero() {
		switch {
		case e.InvolvedObject.Namespace == "" && e.Namespace != metav1.NamespaceNone && e.Namespace != metav1.NamespaceDefault,
			e.InvolvedObject.Namespace != "" && e.Namespace != e.InvolvedObject.Namespace:
			errs = append(errs, field.Invalid(namespacePath, e.InvolvedObject.Namespace, "does not match event.namespace"))
		}
	} else {
		if e.InvolvedObject.Namespace == "" && e.Namespace != metav1.NamespaceDefault && e.Namespace != metav1.NamespaceSystem {
			errs = append(errs, field.Invalid(namespacePath, e.InvolvedObject.Namespace, "does not match event.namespace"))
		}
		controllerPath := field.NewPath("reportingController")
		if e.ReportingController == "" {
			errs = append(errs, field.Required(controllerPath, ""))
		}
		for _, msg := range content.IsLabelKey(e.ReportingController) {
			errs = append(errs, field.Invalid(controllerPath, e.ReportingController, msg))
		}
		errs = append(errs, validateLimitedString(e.ReportingInstance, reportingInstanceLengthLimit, true, field.NewPath("reportingInstance"))...)
		errs = append(errs, validateLimitedString(e.Action, actionLengthLimit, true, field.NewPath("action"))...)
		errs = append(errs, validateLimitedString(e.Reason, reasonLengthLimit, true, field.NewPath("reason"))...)
		errs = append(errs, validateLimitedString(e.Message, noteLengthLimit, false, field.NewPath("message"))...)
	}
	for _, msg := range validation.IsDNS1123Subdomain(e.Namespace) {
		errs = append(errs, field.Invalid(field.NewPath("namespace"), e.Namespace, msg))
	}
	return errs
}

func validateLimitedString(value string, limit int, required bool, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if required && value == "" {
		errs = append(errs, field.Required(fldPath, ""))
	}
	if len(value) > limit {
		errs = append(errs, field.Invalid(fldPath, "", fmt.Sprintf("can have at most %v characters", limit)))
	}
	return errs
}

func validateSeries(e *corev1.Event) field.ErrorList {
	if e.Series == nil {
		return nil
	}
	var errs field.ErrorList
	if e.Series.Count < 2 {
		errs = append(errs, field.Invalid(field.NewPath("series", "count"), "", "should be at least 2"))
	}
	if e.Series.LastObservedTime.IsZero() {
		errs = append(errs, field.Required(field.NewPath("series", "lastObservedTime"), ""))
	}
	return errs
}

// selectableFields are the fields upstream lets a field selector name
// for events.k8s.io/v1 Events (the core/v1 ones under their new names).
func selectableFields(obj runtime.Object) fields.Set {
	e := toCore(obj)
	return fields.Set{
		"reason":                    e.Reason,
		"type":                      e.Type,
		"reportingController":       e.ReportingController,
		"regarding.kind":            e.InvolvedObject.Kind,
		"regarding.namespace":       e.InvolvedObject.Namespace,
		"regarding.name":            e.InvolvedObject.Name,
		"regarding.uid":             string(e.InvolvedObject.UID),
		"regarding.apiVersion":      e.InvolvedObject.APIVersion,
		"regarding.resourceVersion": e.InvolvedObject.ResourceVersion,
		"regarding.fieldPath":       e.InvolvedObject.FieldPath,
	}
}

// table has the columns of core/v1 Events, as upstream prints both
// versions with the same printer.
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
		{Name: "Name", Type: "string", Priority: 1, Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	},
	Row: func(obj runtime.Object) []interface{} {
		e := toCore(obj)
		firstSeen := registry.Age(e.FirstTimestamp)
		if e.FirstTimestamp.IsZero() {
			firstSeen = registry.Age(metav1.Time{Time: e.EventTime.Time})
		}
		lastSeen := registry.Age(e.LastTimestamp)
		if e.LastTimestamp.IsZero() {
			lastSeen = firstSeen
		}
		count := e.Count
		if e.Series != nil {
			lastSeen = registry.Age(metav1.Time{Time: e.Series.LastObservedTime.Time})
			count = e.Series.Count
		} else if count == 0 {
			// A singleton event of the new API has no count.
			count = 1
		}
		object := strings.ToLower(e.InvolvedObject.Kind)
		if e.InvolvedObject.Name != "" {
			object += "/" + e.InvolvedObject.Name
		}
		return []interface{}{
			lastSeen, e.Type, e.Reason, object, e.InvolvedObject.FieldPath,
			sourceCell(e), strings.TrimSpace(e.Message), firstSeen, int64(count), e.Name,
		}
	},
}

// sourceCell renders "component, host", falling back to the reporting
// controller and instance of new-style events.
func sourceCell(e *corev1.Event) string {
	component, instance := e.Source.Component, e.Source.Host
	if component == "" {
		component = e.ReportingController
	}
	if instance == "" {
		instance = e.ReportingInstance
	}
	if instance == "" {
		return component
	}
	return component + ", " + instance
}
