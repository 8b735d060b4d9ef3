package job

import (
	"fmt"
	"math"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/registry"
	"github.com/navarch/navarch/internal/registry/pod"
)

// The labels a generated selector uses. The prefixed ones are current; the
// legacy ones are still set because older clients select pods by them.
const (
	legacyJobNameLabel       = "job-name"
	legacyControllerUIDLabel = "controller-uid"
)

// Kind returns the registry entry of batch/v1 Job, with its status
// subresource. Every strategy method takes *batchv1.Job.
func Kind() *registry.Kind {
	return &registry.Kind{
		GroupVersion: batchv1.SchemeGroupVersion,
		Resource:     "jobs",
		Singular:     "job",
		Kind:         "Job",
		Categories:   []string{"all"},
		Namespaced:   true,
		New:          func() runtime.Object { return &batchv1.Job{} },
		NewList:      func() runtime.Object { return &batchv1.JobList{} },
		Strategy:     strategy{},
		Status:       statusStrategy{},
		Table:        table,
		Fields:       selectableFields,
	}
}

// strategy holds the create and update rules of Jobs.
type strategy struct{}

var _ registry.Strategy = strategy{}

// Default fills what upstream's batch/v1 defaulter fills.
func (strategy) Default(obj runtime.Object) {
	job := obj.(*batchv1.Job)
	spec := &job.Spec
	if spec.Completions == nil && spec.Parallelism == nil {
		spec.Completions = ptr.To[int32](1)
		spec.Parallelism = ptr.To[int32](1)
	}
	if spec.Parallelism == nil {
		spec.Parallelism = ptr.To[int32](1)
	}
	if spec.BackoffLimit == nil {
		if spec.BackoffLimitPerIndex != nil {
			// Failures are then counted per index; the job-wide limit
			// must not cut in first.
			spec.BackoffLimit = ptr.To[int32](math.MaxInt32)
		} else {
			spec.BackoffLimit = ptr.To[int32](6)
		}
	}
	defaultLabelsFromTemplate(job)
	if spec.CompletionMode == nil {
		spec.CompletionMode = ptr.To(batchv1.NonIndexedCompletion)
	}
	if spec.Suspend == nil {
		spec.Suspend = ptr.To(false)
	}
	if spec.PodFailurePolicy != nil {
		for i := range spec.PodFailurePolicy.Rules {
			for j := range spec.PodFailurePolicy.Rules[i].OnPodConditions {
				if pattern := &spec.PodFailurePolicy.Rules[i].OnPodConditions[j]; pattern.Status == "" {
					pattern.Status = corev1.ConditionTrue
				}
			}
		}
	}
	if spec.PodReplacementPolicy == nil {
		if spec.PodFailurePolicy != nil {
			spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
		} else {
			spec.PodReplacementPolicy = ptr.To(batchv1.TerminatingOrFailed)
		}
	}
	if spec.ManualSelector == nil {
		spec.ManualSelector = ptr.To(false)
	}
	pod.DefaultPodSpec(&spec.Template.Spec)
}

// defaultLabelsFromTemplate gives a Job without labels a copy of the
// labels of its pod template, as upstream's defaulter does.
func defaultLabelsFromTemplate(job *batchv1.Job) {
	if len(job.Labels) != 0 || job.Spec.Template.Labels == nil {
		return
	}
	job.Labels = make(map[string]string, len(job.Spec.Template.Labels))
	for k, v := range job.Spec.Template.Labels {
		job.Labels[k] = v
	}
}

// PrepareForCreate clears the status and, unless spec.manualSelector is
// true, generates the selector and pod labels from the Job's uid and name
// (which the API server has set by then). Labels a user already set are
// kept; validation rejects them if they conflict. A Job whose labels came
// from its template (see Default) gets the generated ones too, as
// upstream's Jobs do.
func (strategy) PrepareForCreate(obj runtime.Object) {
	job := obj.(*batchv1.Job)
	job.Status = batchv1.JobStatus{}
	labelsFromTemplate := len(job.Labels) == 0 || apiequality.Semantic.DeepEqual(job.Labels, job.Spec.Template.Labels)
	if !ptr.Deref(job.Spec.ManualSelector, false) {
		generateSelector(job)
	}
	if labelsFromTemplate {
		job.Labels = nil
		defaultLabelsFromTemplate(job)
	}
}

func generateSelector(job *batchv1.Job) {
	template := &job.Spec.Template
	if template.Labels == nil {
		template.Labels = map[string]string{}
	}
	for key, value := range map[string]string{
		legacyJobNameLabel:         job.Name,
		batchv1.JobNameLabel:       job.Name,
		legacyControllerUIDLabel:   string(job.UID),
		batchv1.ControllerUidLabel: string(job.UID),
	} {
		if _, found := template.Labels[key]; !found {
			template.Labels[key] = value
		}
	}
	if job.Spec.Selector == nil {
		job.Spec.Selector = &metav1.LabelSelector{}
	}
	if job.Spec.Selector.MatchLabels == nil {
		job.Spec.Selector.MatchLabels = map[string]string{}
	}
	if _, found := job.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel]; !found {
		job.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel] = string(job.UID)
	}
}

// PrepareForUpdate keeps the stored status.
func (strategy) PrepareForUpdate(obj, old runtime.Object) {
	obj.(*batchv1.Job).Status = old.(*batchv1.Job).Status
}

// Validate checks a new Job.
func (strategy) Validate(obj runtime.Object) field.ErrorList {
	return validateJob(obj.(*batchv1.Job), true)
}

// ValidateUpdate checks an update: the selector, completion mode, failure
// and success policies are immutable, completions may change only for
// Indexed Jobs together with parallelism, and the pod template only in the
// scheduling directives of a suspended Job that never started.
func (strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	job, oldJob := obj.(*batchv1.Job), old.(*batchv1.Job)
	// Jobs created before the prefixed labels existed lack them; they
	// must stay updatable.
	_, hadJobName := oldJob.Spec.Template.Labels[batchv1.JobNameLabel]
	_, hadControllerUID := oldJob.Spec.Template.Labels[batchv1.ControllerUidLabel]
	errs := validateJob(job, hadJobName && hadControllerUID)
	return append(errs, validateJobUpdate(job, oldJob)...)
}

// statusStrategy holds the rules of the status subresource.
type statusStrategy struct{}

var _ registry.StatusStrategy = statusStrategy{}

// PrepareForStatusUpdate keeps the stored spec.
func (statusStrategy) PrepareForStatusUpdate(obj, old runtime.Object) {
	obj.(*batchv1.Job).Spec = old.(*batchv1.Job).Spec
}

// ValidateStatusUpdate checks the new status.
func (statusStrategy) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	return validateStatusUpdate(obj.(*batchv1.Job), old.(*batchv1.Job))
}

// selectableFields adds status.successful, the field upstream lets a
// field selector name for Jobs.
func selectableFields(obj runtime.Object) fields.Set {
	return fields.Set{"status.successful": strconv.Itoa(int(obj.(*batchv1.Job).Status.Succeeded))}
}

// ContainerCells lays out the CONTAINERS and IMAGES cells of a pod
// template as kubectl -o wide shows them: comma-separated, in order.
func ContainerCells(containers []corev1.Container) (names, images string) {
	for i, c := range containers {
		if i > 0 {
			names += ","
			images += ","
		}
		names += c.Name
		images += c.Image
	}
	return names, images
}

var table = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "Status", Type: "string", Description: "Status of the job."},
		{Name: "Completions", Type: "string", Description: batchv1.JobStatus{}.SwaggerDoc()["succeeded"]},
		{Name: "Duration", Type: "string", Description: "Time required to complete the job."},
		registry.AgeColumn,
		{Name: "Containers", Type: "string", Priority: 1, Description: "Names of each container in the template."},
		{Name: "Images", Type: "string", Priority: 1, Description: "Images referenced by each container in the template."},
		{Name: "Selector", Type: "string", Priority: 1, Description: batchv1.JobSpec{}.SwaggerDoc()["selector"]},
	},
	Row: func(obj runtime.Object) []interface{} {
		job := obj.(*batchv1.Job)
		names, images := ContainerCells(job.Spec.Template.Spec.Containers)
		return []interface{}{
			job.Name, statusCell(job), completionsCell(job), durationCell(job),
			registry.Age(job.CreationTimestamp),
			names, images, metav1.FormatLabelSelector(job.Spec.Selector),
		}
	},
}

// statusCell is the STATUS column: the first of Complete, Failed,
// Terminating, Suspended, FailureTarget that applies, else Running.
func statusCell(job *batchv1.Job) string {
	switch {
	case hasCondition(job, batchv1.JobComplete):
		return "Complete"
	case hasCondition(job, batchv1.JobFailed):
		return "Failed"
	case job.DeletionTimestamp != nil:
		return "Terminating"
	case hasCondition(job, batchv1.JobSuspended):
		return "Suspended"
	case hasCondition(job, batchv1.JobFailureTarget):
		return "FailureTarget"
	default:
		return "Running"
	}
}

// hasCondition reports whether the first condition of type t is true.
func hasCondition(job *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range job.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// completionsCell is the COMPLETIONS column: "2/3", or for a work-queue
// Job (no completions) "0/1" or "0/1 of 4" with its parallelism.
func completionsCell(job *batchv1.Job) string {
	if job.Spec.Completions != nil {
		return fmt.Sprintf("%d/%d", job.Status.Succeeded, *job.Spec.Completions)
	}
	if parallelism := ptr.Deref(job.Spec.Parallelism, 0); parallelism > 1 {
		return fmt.Sprintf("%d/1 of %d", job.Status.Succeeded, parallelism)
	}
	return fmt.Sprintf("%d/1", job.Status.Succeeded)
}

// durationCell is the DURATION column: empty before the Job starts, the
// time running so far, or the time it took.
func durationCell(job *batchv1.Job) string {
	switch {
	case job.Status.StartTime == nil:
		return ""
	case job.Status.CompletionTime == nil:
		return duration.HumanDuration(time.Since(job.Status.StartTime.Time))
	default:
		return duration.HumanDuration(job.Status.CompletionTime.Sub(job.Status.StartTime.Time))
	}
}
