package cronjob

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	// The time zone database, so spec.timeZone validates on any host.
	_ "time/tzdata"

	batchv1 "k8s.io/api/batch/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/registry"
	"github.com/navarch/navarch/internal/registry/job"
	"github.com/navarch/navarch/internal/registry/pod"
)

// maxNameLength leaves room for the 11 characters ("-" and a timestamp)
// the controller appends to name each Job, whose name must stay a DNS
// label of at most 63 characters.
const maxNameLength = validation.DNS1035LabelMaxLength - 11

// Kind returns the registry entry of batch/v1 CronJob, with its status
// subresource. Every strategy method takes *batchv1.CronJob.
func Kind() *registry.Kind {
	return &registry.Kind{
		GroupVersion: batchv1.SchemeGroupVersion,
		Resource:     "cronjobs",
		Singular:     "cronjob",
		Kind:         "CronJob",
		ShortNames:   []string{"cj"},
		Categories:   []string{"all"},
		Namespaced:   true,
		New:          func() runtime.Object { return &batchv1.CronJob{} },
		NewList:      func() runtime.Object { return &batchv1.CronJobList{} },
		Strategy:     strategy{},
		Status:       statusStrategy{},
		Table:        table,
	}
}

// strategy holds the create and update rules of CronJobs.
type strategy struct{}

var _ registry.Strategy = strategy{}

// Default fills what upstream's batch/v1 defaulter fills. As upstream, the
// job template's Job spec is not defaulted (each Job is, when created);
// its pod template is.
func (strategy) Default(obj runtime.Object) {
	cj := obj.(*batchv1.CronJob)
	if cj.Spec.ConcurrencyPolicy == "" {
		cj.Spec.ConcurrencyPolicy = batchv1.AllowConcurrent
	}
	if cj.Spec.Suspend == nil {
		cj.Spec.Suspend = ptr.To(false)
	}
	if cj.Spec.SuccessfulJobsHistoryLimit == nil {
		cj.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](3)
	}
	if cj.Spec.FailedJobsHistoryLimit == nil {
		cj.Spec.FailedJobsHistoryLimit = ptr.To[int32](1)
	}
	pod.DefaultPodSpec(&cj.Spec.JobTemplate.Spec.Template.Spec)
}

// PrepareForCreate clears the status: only the controller writes it.
func (strategy) PrepareForCreate(obj runtime.Object) {
	obj.(*batchv1.CronJob).Status = batchv1.CronJobStatus{}
}

// PrepareForUpdate keeps the stored status.
func (strategy) PrepareForUpdate(obj, old runtime.Object) {
	obj.(*batchv1.CronJob).Status = old.(*batchv1.CronJob).Status
}

// Validate checks a new CronJob; its name may have at most 52 characters.
func (strategy) Validate(obj runtime.Object) field.ErrorList {
	cj := obj.(*batchv1.CronJob)
	errs := apivalidation.ValidateObjectMeta(&cj.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	errs = append(errs, validateSpec(&cj.Spec, nil, field.NewPath("spec"))...)
	if len(cj.Name) > maxNameLength {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), cj.Name, fmt.Sprintf("must be no more than %d characters", maxNameLength)))
	}
	return errs
}

// ValidateUpdate checks an update. The name length is not checked again,
// so CronJobs created before that rule can still be updated and deleted.
func (strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	cj, oldCJ := obj.(*batchv1.CronJob), old.(*batchv1.CronJob)
	errs := apivalidation.ValidateObjectMetaUpdate(&cj.ObjectMeta, &oldCJ.ObjectMeta, field.NewPath("metadata"))
	return append(errs, validateSpec(&cj.Spec, &oldCJ.Spec, field.NewPath("spec"))...)
}

// validateSpec checks a CronJob spec; oldSpec is nil on create. A stored
// schedule that already uses TZ= may keep it, and an unchanged time zone
// is not checked again.
func validateSpec(spec, oldSpec *batchv1.CronJobSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	schedulePath := fldPath.Child("schedule")
	if spec.Schedule == "" {
		errs = append(errs, field.Required(schedulePath, ""))
	} else {
		allowTZ := oldSpec != nil && strings.Contains(oldSpec.Schedule, "TZ")
		errs = append(errs, validateSchedule(spec.Schedule, allowTZ, spec.TimeZone, schedulePath)...)
	}
	if spec.StartingDeadlineSeconds != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(*spec.StartingDeadlineSeconds, fldPath.Child("startingDeadlineSeconds"))...)
	}
	if oldSpec == nil || !apiequality.Semantic.DeepEqual(oldSpec.TimeZone, spec.TimeZone) {
		errs = append(errs, validateTimeZone(spec.TimeZone, fldPath.Child("timeZone"))...)
	}
	switch policyPath := fldPath.Child("concurrencyPolicy"); spec.ConcurrencyPolicy {
	case batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent:
	case "":
		errs = append(errs, field.Required(policyPath, ""))
	default:
		errs = append(errs, field.NotSupported(policyPath, spec.ConcurrencyPolicy, []string{
			string(batchv1.AllowConcurrent), string(batchv1.ForbidConcurrent), string(batchv1.ReplaceConcurrent)}))
	}
	errs = append(errs, job.ValidateJobTemplateSpec(&spec.JobTemplate, fldPath.Child("jobTemplate"))...)
	if spec.SuccessfulJobsHistoryLimit != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*spec.SuccessfulJobsHistoryLimit), fldPath.Child("successfulJobsHistoryLimit"))...)
	}
	if spec.FailedJobsHistoryLimit != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*spec.FailedJobsHistoryLimit), fldPath.Child("failedJobsHistoryLimit"))...)
	}
	return errs
}

func validateSchedule(schedule string, allowTZ bool, timeZone *string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if err := parseSchedule(schedule); err != nil {
		errs = append(errs, field.Invalid(fldPath, schedule, err.Error()))
	}
	switch {
	case allowTZ && strings.Contains(schedule, "TZ") && timeZone != nil:
		errs = append(errs, field.Invalid(fldPath, schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule"))
	case !allowTZ && strings.Contains(schedule, "TZ"):
		errs = append(errs, field.Invalid(fldPath, schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
	}
	return errs
}

// timeZoneComponent is what an IANA zone name component may look like
// (https://data.iana.org/time-zones/theory.html#naming), with the digits
// and '+' of legacy names tolerated.
var timeZoneComponent = regexp.MustCompile(`^[A-Za-z\.\-_0-9+]{1,14}$`)

func validateTimeZone(timeZone *string, fldPath *field.Path) field.ErrorList {
	if timeZone == nil {
		return nil
	}
	if *timeZone == "" {
		return field.ErrorList{field.Invalid(fldPath, timeZone, "timeZone must be nil or non-empty string")}
	}
	for _, part := range strings.Split(*timeZone, "/") {
		if part == "." || part == ".." || strings.HasPrefix(part, "-") || !timeZoneComponent.MatchString(part) {
			return field.ErrorList{field.Invalid(fldPath, timeZone, fmt.Sprintf("unknown time zone %s", *timeZone))}
		}
	}
	var errs field.ErrorList
	if strings.EqualFold(*timeZone, "Local") {
		errs = append(errs, field.Invalid(fldPath, timeZone, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"))
	}
	if _, err := time.LoadLocation(*timeZone); err != nil {
		errs = append(errs, field.Invalid(fldPath, timeZone, err.Error()))
	}
	return errs
}

// statusStrategy holds the rules of the status subresource.
type statusStrategy struct{}

var _ registry.StatusStrategy = statusStrategy{}

// PrepareForStatusUpdate keeps the stored spec.
func (statusStrategy) PrepareForStatusUpdate(obj, old runtime.Object) {
	obj.(*batchv1.CronJob).Spec = old.(*batchv1.CronJob).Spec
}

// ValidateStatusUpdate checks the metadata only, as upstream: the status
// holds references and times with no rule between them.
func (statusStrategy) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	cj, oldCJ := obj.(*batchv1.CronJob), old.(*batchv1.CronJob)
	return apivalidation.ValidateObjectMetaUpdate(&cj.ObjectMeta, &oldCJ.ObjectMeta, field.NewPath("metadata"))
}

var table = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "Schedule", Type: "string", Description: batchv1.CronJobSpec{}.SwaggerDoc()["schedule"]},
		{Name: "Timezone", Type: "string", Description: batchv1.CronJobSpec{}.SwaggerDoc()["timeZone"]},
		{Name: "Suspend", Type: "boolean", Description: batchv1.CronJobSpec{}.SwaggerDoc()["suspend"]},
		{Name: "Active", Type: "integer", Description: batchv1.CronJobStatus{}.SwaggerDoc()["active"]},
		{Name: "Last Schedule", Type: "string", Description: batchv1.CronJobStatus{}.SwaggerDoc()["lastScheduleTime"]},
		registry.AgeColumn,
		{Name: "Containers", Type: "string", Priority: 1, Description: "Names of each container in the template."},
		{Name: "Images", Type: "string", Priority: 1, Description: "Images referenced by each container in the template."},
		{Name: "Selector", Type: "string", Priority: 1, Description: batchv1.JobSpec{}.SwaggerDoc()["selector"]},
	},
	Row: func(obj runtime.Object) []interface{} {
		cj := obj.(*batchv1.CronJob)
		lastSchedule := "<none>"
		if cj.Status.LastScheduleTime != nil {
			lastSchedule = registry.Age(*cj.Status.LastScheduleTime)
		}
		names, images := job.ContainerCells(cj.Spec.JobTemplate.Spec.Template.Spec.Containers)
		return []interface{}{
			cj.Name, cj.Spec.Schedule, ptr.Deref(cj.Spec.TimeZone, "<none>"), boolCell(cj.Spec.Suspend),
			int64(len(cj.Status.Active)), lastSchedule, registry.Age(cj.CreationTimestamp),
			names, images, metav1.FormatLabelSelector(cj.Spec.JobTemplate.Spec.Selector),
		}
	},
}

// boolCell renders an optional bool as kubectl prints it.
func boolCell(value *bool) string {
	switch {
	case value == nil:
		return "<unset>"
	case *value:
		return "True"
	default:
		return "False"
	}
}
