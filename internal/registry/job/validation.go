package job

import (
	"fmt"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/registry/pod"
)

// Upstream's limits on Job specs.
const (
	maxParallelismForIndexedJob         = 100_000
	maxFailedIndexesForIndexedJob       = 100_000
	completionsSoftLimit                = 100_000
	parallelismLimitForHighCompletions  = 10_000
	maxFailedIndexesForHighCompletions  = 10_000
	maxPodFailurePolicyRules            = 20
	maxPodFailurePolicyOnExitCodeValues = 255
	maxPodFailurePolicyOnPodConditions  = 20
	maxManagedByLength                  = 63
	maxSuccessPolicyRules               = 20
	maxSucceededIndexesLength           = 64 * 1024
)

var (
	supportedPodFailurePolicyActions = []string{
		string(batchv1.PodFailurePolicyActionCount), string(batchv1.PodFailurePolicyActionFailIndex),
		string(batchv1.PodFailurePolicyActionFailJob), string(batchv1.PodFailurePolicyActionIgnore),
	}
	supportedOnExitCodesOperators = []string{string(batchv1.PodFailurePolicyOnExitCodesOpIn), string(batchv1.PodFailurePolicyOnExitCodesOpNotIn)}
	supportedConditionStatuses    = []string{string(corev1.ConditionFalse), string(corev1.ConditionTrue), string(corev1.ConditionUnknown)}
	supportedReplacementPolicies  = []string{string(batchv1.Failed), string(batchv1.TerminatingOrFailed)}
)

// validateJob checks a whole Job. requirePrefixedLabels makes a generated
// selector also require the batch.kubernetes.io/ pod labels.
func validateJob(job *batchv1.Job, requirePrefixedLabels bool) field.ErrorList {
	errs := apivalidation.ValidateObjectMeta(&job.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	errs = append(errs, validateGeneratedSelector(job, requirePrefixedLabels)...)
	errs = append(errs, validateJobSpec(&job.Spec, field.NewPath("spec"))...)
	if ptr.Deref(job.Spec.CompletionMode, "") == batchv1.IndexedCompletion && ptr.Deref(job.Spec.Completions, 0) > 0 {
		// Pods of an Indexed Job are named and hostnamed
		// <job>-<index>; the highest index must still make a DNS label.
		hostname := fmt.Sprintf("%s-%d", job.Name, *job.Spec.Completions-1)
		if len(validation.IsDNS1123Label(hostname)) > 0 {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), job.Name, fmt.Sprintf("will not able to create pod with invalid DNS label: %s", hostname)))
		}
	}
	return errs
}

// validateGeneratedSelector checks, unless the selector is manual, that
// the pod template carries the generated labels and that the selector
// selects them.
func validateGeneratedSelector(job *batchv1.Job, requirePrefixedLabels bool) field.ErrorList {
	if ptr.Deref(job.Spec.ManualSelector, false) || job.Spec.Selector == nil {
		return nil
	}
	var errs field.ErrorList
	if job.UID == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "uid"), ""))
	}
	templateMeta := field.NewPath("spec", "template", "metadata")
	expected := map[string]string{
		legacyControllerUIDLabel: string(job.UID),
		legacyJobNameLabel:       job.Name,
	}
	errs = append(errs, validateHasLabel(job.Spec.Template.Labels, templateMeta, legacyControllerUIDLabel, string(job.UID))...)
	errs = append(errs, validateHasLabel(job.Spec.Template.Labels, templateMeta, legacyJobNameLabel, job.Name)...)
	if requirePrefixedLabels {
		errs = append(errs, validateHasLabel(job.Spec.Template.Labels, templateMeta, batchv1.ControllerUidLabel, string(job.UID))...)
		errs = append(errs, validateHasLabel(job.Spec.Template.Labels, templateMeta, batchv1.JobNameLabel, job.Name)...)
		expected[batchv1.ControllerUidLabel] = string(job.UID)
		expected[batchv1.JobNameLabel] = job.Name
	}
	if selector, err := metav1.LabelSelectorAsSelector(job.Spec.Selector); err == nil && !selector.Matches(labels.Set(expected)) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "selector"), job.Spec.Selector, "`selector` not auto-generated"))
	}
	return errs
}

func validateHasLabel(podLabels map[string]string, metaPath *field.Path, key, expected string) field.ErrorList {
	value, found := podLabels[key]
	if !found {
		return field.ErrorList{field.Required(metaPath.Child("labels").Key(key), fmt.Sprintf("must be '%s'", expected))}
	}
	if value != expected {
		return field.ErrorList{field.Invalid(metaPath.Child("labels").Key(key), value, fmt.Sprintf("must be '%s'", expected))}
	}
	return nil
}

// validateJobSpec checks a Job's spec: the selector is required and must
// match the template's labels.
func validateJobSpec(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	errs := validateJobSpecFields(spec, fldPath)
	if spec.Selector == nil {
		errs = append(errs, field.Required(fldPath.Child("selector"), ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(spec.Selector, metav1validation.LabelSelectorValidationOptions{}, fldPath.Child("selector"))...)
	}
	if selector, err := metav1.LabelSelectorAsSelector(spec.Selector); err == nil && !selector.Matches(labels.Set(spec.Template.Labels)) {
		errs = append(errs, field.Invalid(fldPath.Child("template", "metadata", "labels"), spec.Template.Labels, "`selector` does not match template `labels`"))
	}
	return errs
}

// ValidateJobTemplateSpec checks the job template of a CronJob at fldPath:
// a Job spec without a selector (one is generated for every Job created)
// and without manualSelector.
func ValidateJobTemplateSpec(template *batchv1.JobTemplateSpec, fldPath *field.Path) field.ErrorList {
	specPath := fldPath.Child("spec")
	errs := validateJobSpecFields(&template.Spec, specPath)
	if template.Spec.Selector != nil {
		errs = append(errs, field.Invalid(specPath.Child("selector"), template.Spec.Selector, "`selector` will be auto-generated"))
	}
	if ptr.Deref(template.Spec.ManualSelector, false) {
		errs = append(errs, field.NotSupported(specPath.Child("manualSelector"), template.Spec.ManualSelector, []string{"nil", "false"}))
	}
	return errs
}

// validateJobSpecFields checks what Jobs and job templates share.
func validateJobSpecFields(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, counter := range []struct {
		name  string
		value *int32
	}{
		{"parallelism", spec.Parallelism},
		{"completions", spec.Completions},
		{"backoffLimit", spec.BackoffLimit},
		{"ttlSecondsAfterFinished", spec.TTLSecondsAfterFinished},
		{"backoffLimitPerIndex", spec.BackoffLimitPerIndex},
		{"maxFailedIndexes", spec.MaxFailedIndexes},
	} {
		if counter.value != nil {
			errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*counter.value), fldPath.Child(counter.name))...)
		}
	}
	if spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(*spec.ActiveDeadlineSeconds, fldPath.Child("activeDeadlineSeconds"))...)
	}
	if spec.MaxFailedIndexes != nil && spec.BackoffLimitPerIndex == nil {
		errs = append(errs, field.Required(fldPath.Child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"))
	}
	if spec.ManagedBy != nil {
		errs = append(errs, validation.IsDomainPrefixedPath(fldPath.Child("managedBy"), *spec.ManagedBy)...)
		if len(*spec.ManagedBy) > maxManagedByLength {
			errs = append(errs, field.TooLong(fldPath.Child("managedBy"), "", maxManagedByLength))
		}
	}
	errs = append(errs, validateCompletionMode(spec, fldPath)...)
	if spec.PodFailurePolicy != nil {
		errs = append(errs, validatePodFailurePolicy(spec, fldPath.Child("podFailurePolicy"))...)
	}
	if spec.SuccessPolicy != nil {
		if ptr.Deref(spec.CompletionMode, batchv1.NonIndexedCompletion) != batchv1.IndexedCompletion {
			errs = append(errs, field.Invalid(fldPath.Child("successPolicy"), *spec.SuccessPolicy, "requires indexed completion mode"))
		} else {
			errs = append(errs, validateSuccessPolicy(spec, fldPath.Child("successPolicy"))...)
		}
	}
	if policy := spec.PodReplacementPolicy; policy != nil {
		policyPath := fldPath.Child("podReplacementPolicy")
		if spec.PodFailurePolicy != nil {
			if *policy != batchv1.Failed {
				errs = append(errs, field.NotSupported(policyPath, *policy, []string{string(batchv1.Failed)}))
			}
		} else if !sets.New(supportedReplacementPolicies...).Has(string(*policy)) {
			errs = append(errs, field.NotSupported(policyPath, *policy, supportedReplacementPolicies))
		}
	}

	errs = append(errs, pod.ValidatePodTemplateSpec(&spec.Template, fldPath.Child("template"))...)
	restartPath := fldPath.Child("template", "spec", "restartPolicy")
	switch restart := spec.Template.Spec.RestartPolicy; {
	case restart == corev1.RestartPolicyAlways || restart == "":
		// The pod defaults turn an unset restartPolicy into Always, so
		// both mean the user did not choose one of the valid values.
		errs = append(errs, field.Required(restartPath, fmt.Sprintf("valid values: %q, %q", corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever)))
	case restart != corev1.RestartPolicyOnFailure && restart != corev1.RestartPolicyNever:
		errs = append(errs, field.NotSupported(restartPath, restart, []string{string(corev1.RestartPolicyOnFailure), string(corev1.RestartPolicyNever)}))
	case spec.PodFailurePolicy != nil && restart != corev1.RestartPolicyNever:
		errs = append(errs, field.Invalid(restartPath, restart, fmt.Sprintf("only %q is supported when podFailurePolicy is specified", corev1.RestartPolicyNever)))
	}
	return errs
}

func validateCompletionMode(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	mode := ptr.Deref(spec.CompletionMode, batchv1.NonIndexedCompletion)
	switch mode {
	case batchv1.NonIndexedCompletion:
		if spec.BackoffLimitPerIndex != nil {
			errs = append(errs, field.Invalid(fldPath.Child("backoffLimitPerIndex"), *spec.BackoffLimitPerIndex, "requires indexed completion mode"))
		}
		if spec.MaxFailedIndexes != nil {
			errs = append(errs, field.Invalid(fldPath.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, "requires indexed completion mode"))
		}
	case batchv1.IndexedCompletion:
		if spec.Completions == nil {
			errs = append(errs, field.Required(fldPath.Child("completions"), fmt.Sprintf("when completion mode is %s", batchv1.IndexedCompletion)))
		}
		if p := ptr.Deref(spec.Parallelism, 0); p > maxParallelismForIndexedJob {
			errs = append(errs, field.Invalid(fldPath.Child("parallelism"), p, fmt.Sprintf("must be less than or equal to %d when completion mode is %s", maxParallelismForIndexedJob, batchv1.IndexedCompletion)))
		}
		if spec.Completions != nil && spec.MaxFailedIndexes != nil && *spec.MaxFailedIndexes > *spec.Completions {
			errs = append(errs, field.Invalid(fldPath.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, "must be less than or equal to completions"))
		}
		if m := ptr.Deref(spec.MaxFailedIndexes, 0); m > maxFailedIndexesForIndexedJob {
			errs = append(errs, field.Invalid(fldPath.Child("maxFailedIndexes"), m, fmt.Sprintf("must be less than or equal to %d", maxFailedIndexesForIndexedJob)))
		}
		if ptr.Deref(spec.Completions, 0) > completionsSoftLimit && spec.BackoffLimitPerIndex != nil {
			const suffix = "when completions are above %d and used with backoff limit per index"
			if spec.MaxFailedIndexes == nil {
				errs = append(errs, field.Required(fldPath.Child("maxFailedIndexes"), fmt.Sprintf("must be specified when completions is above %d", completionsSoftLimit)))
			}
			if p := ptr.Deref(spec.Parallelism, 0); p > parallelismLimitForHighCompletions {
				errs = append(errs, field.Invalid(fldPath.Child("parallelism"), p, fmt.Sprintf("must be less than or equal to %d "+suffix, parallelismLimitForHighCompletions, completionsSoftLimit)))
			}
			if m := ptr.Deref(spec.MaxFailedIndexes, 0); m > maxFailedIndexesForHighCompletions {
				errs = append(errs, field.Invalid(fldPath.Child("maxFailedIndexes"), m, fmt.Sprintf("must be less than or equal to %d "+suffix, maxFailedIndexesForHighCompletions, completionsSoftLimit)))
			}
		}
	default:
		errs = append(errs, field.NotSupported(fldPath.Child("completionMode"), mode, []string{string(batchv1.NonIndexedCompletion), string(batchv1.IndexedCompletion)}))
	}
	return errs
}

func validatePodFailurePolicy(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	rulesPath := fldPath.Child("rules")
	if len(spec.PodFailurePolicy.Rules) > maxPodFailurePolicyRules {
		errs = append(errs, field.TooMany(rulesPath, len(spec.PodFailurePolicy.Rules), maxPodFailurePolicyRules))
	}
	containerNames := sets.New[string]()
	for _, c := range spec.Template.Spec.Containers {
		containerNames.Insert(c.Name)
	}
	for _, c := range spec.Template.Spec.InitContainers {
		containerNames.Insert(c.Name)
	}
	for i := range spec.PodFailurePolicy.Rules {
		errs = append(errs, validatePodFailurePolicyRule(spec, &spec.PodFailurePolicy.Rules[i], rulesPath.Index(i), containerNames)...)
	}
	return errs
}

func validatePodFailurePolicyRule(spec *batchv1.JobSpec, rule *batchv1.PodFailurePolicyRule, rulePath *field.Path, containerNames sets.Set[string]) field.ErrorList {
	var errs field.ErrorList
	actionPath := rulePath.Child("action")
	switch {
	case rule.Action == "":
		errs = append(errs, field.Required(actionPath, fmt.Sprintf("valid values: %q", supportedPodFailurePolicyActions)))
	case rule.Action == batchv1.PodFailurePolicyActionFailIndex:
		if spec.BackoffLimitPerIndex == nil {
			errs = append(errs, field.Invalid(actionPath, rule.Action, "requires the backoffLimitPerIndex to be set"))
		}
	case !sets.New(supportedPodFailurePolicyActions...).Has(string(rule.Action)):
		errs = append(errs, field.NotSupported(actionPath, rule.Action, supportedPodFailurePolicyActions))
	}
	if rule.OnExitCodes != nil {
		errs = append(errs, validateOnExitCodes(rule.OnExitCodes, rulePath.Child("onExitCodes"), containerNames)...)
	}
	if len(rule.OnPodConditions) > 0 {
		errs = append(errs, validateOnPodConditions(rule.OnPodConditions, rulePath.Child("onPodConditions"))...)
	}
	switch {
	case rule.OnExitCodes != nil && len(rule.OnPodConditions) > 0:
		errs = append(errs, field.Invalid(rulePath, field.OmitValueType{}, "specifying both OnExitCodes and OnPodConditions is not supported"))
	case rule.OnExitCodes == nil && len(rule.OnPodConditions) == 0:
		errs = append(errs, field.Invalid(rulePath, field.OmitValueType{}, "specifying one of OnExitCodes and OnPodConditions is required"))
	}
	return errs
}

func validateOnExitCodes(req *batchv1.PodFailurePolicyOnExitCodesRequirement, fldPath *field.Path, containerNames sets.Set[string]) field.ErrorList {
	var errs field.ErrorList
	operatorPath := fldPath.Child("operator")
	if req.Operator == "" {
		errs = append(errs, field.Required(operatorPath, fmt.Sprintf("valid values: %q", supportedOnExitCodesOperators)))
	} else if !sets.New(supportedOnExitCodesOperators...).Has(string(req.Operator)) {
		errs = append(errs, field.NotSupported(operatorPath, req.Operator, supportedOnExitCodesOperators))
	}
	if req.ContainerName != nil && !containerNames.Has(*req.ContainerName) {
		errs = append(errs, field.Invalid(fldPath.Child("containerName"), *req.ContainerName, "must be one of the container or initContainer names in the pod template"))
	}
	valuesPath := fldPath.Child("values")
	if len(req.Values) == 0 {
		errs = append(errs, field.Invalid(valuesPath, req.Values, "at least one value is required"))
	} else if len(req.Values) > maxPodFailurePolicyOnExitCodeValues {
		errs = append(errs, field.TooMany(valuesPath, len(req.Values), maxPodFailurePolicyOnExitCodeValues))
	}
	ordered := true
	seen := sets.New[int32]()
	for i, value := range req.Values {
		if req.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn && value == 0 {
			errs = append(errs, field.Invalid(valuesPath.Index(i), value, "must not be 0 for the In operator"))
		}
		if seen.Has(value) {
			errs = append(errs, field.Duplicate(valuesPath.Index(i), value))
		}
		seen.Insert(value)
		if i > 0 && req.Values[i-1] > value {
			ordered = false
		}
	}
	if !ordered {
		errs = append(errs, field.Invalid(valuesPath, req.Values, "must be ordered"))
	}
	return errs
}

func validateOnPodConditions(patterns []batchv1.PodFailurePolicyOnPodConditionsPattern, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(patterns) > maxPodFailurePolicyOnPodConditions {
		errs = append(errs, field.TooMany(fldPath, len(patterns), maxPodFailurePolicyOnPodConditions))
	}
	for i, pattern := range patterns {
		patternPath := fldPath.Index(i)
		for _, msg := range content.IsLabelKey(string(pattern.Type)) {
			errs = append(errs, field.Invalid(patternPath.Child("type"), pattern.Type, msg))
		}
		statusPath := patternPath.Child("status")
		if pattern.Status == "" {
			errs = append(errs, field.Required(statusPath, fmt.Sprintf("valid values: %q", supportedConditionStatuses)))
		} else if !sets.New(supportedConditionStatuses...).Has(string(pattern.Status)) {
			errs = append(errs, field.NotSupported(statusPath, pattern.Status, supportedConditionStatuses))
		}
	}
	return errs
}

func validateSuccessPolicy(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	rulesPath := fldPath.Child("rules")
	rules := spec.SuccessPolicy.Rules
	if len(rules) == 0 {
		errs = append(errs, field.Required(rulesPath, "at least one rules must be specified when the successPolicy is specified"))
	}
	if len(rules) > maxSuccessPolicyRules {
		errs = append(errs, field.TooMany(rulesPath, len(rules), maxSuccessPolicyRules))
	}
	completions := ptr.Deref(spec.Completions, 0)
	for i, rule := range rules {
		rulePath := rulesPath.Index(i)
		if rule.SucceededCount == nil && rule.SucceededIndexes == nil {
			errs = append(errs, field.Required(rulePath, "at least one of succeededCount or succeededIndexes must be specified"))
		}
		var indexes int32
		if rule.SucceededIndexes != nil {
			indexesPath := rulePath.Child("succeededIndexes")
			if len(*rule.SucceededIndexes) > maxSucceededIndexesLength {
				errs = append(errs, field.TooLong(indexesPath, "", maxSucceededIndexesLength))
			}
			var err error
			if indexes, err = countIndexes(*rule.SucceededIndexes, completions); err != nil {
				errs = append(errs, field.Invalid(indexesPath, *rule.SucceededIndexes, fmt.Sprintf("error parsing succeededIndexes: %s", err)))
			}
		}
		if rule.SucceededCount != nil {
			countPath := rulePath.Child("succeededCount")
			errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*rule.SucceededCount), countPath)...)
			if *rule.SucceededCount > completions {
				errs = append(errs, field.Invalid(countPath, *rule.SucceededCount, fmt.Sprintf("must be less than or equal to %d (the number of specified completions)", completions)))
			}
			if rule.SucceededIndexes != nil && *rule.SucceededCount > indexes {
				errs = append(errs, field.Invalid(countPath, *rule.SucceededCount, fmt.Sprintf("must be less than or equal to %d (the number of indexes in the specified succeededIndexes field)", indexes)))
			}
		}
	}
	return errs
}

// countIndexes parses an index list such as "1,3-5,7" (ordered,
// non-overlapping, each index below completions) and returns how many
// indexes it names.
func countIndexes(list string, completions int32) (int32, error) {
	if list == "" {
		return 0, nil
	}
	var total int32
	last := int64(-1)
	for _, interval := range strings.Split(list, ",") {
		first, end, isRange := strings.Cut(interval, "-")
		low, err := strconv.ParseInt(first, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("cannot convert string to integer for index: %q", first)
		}
		high := low
		if isRange {
			if high, err = strconv.ParseInt(end, 10, 32); err != nil {
				return 0, fmt.Errorf("cannot convert string to integer for index: %q", end)
			}
		}
		switch {
		case high >= int64(completions):
			return 0, fmt.Errorf("too large index: %q", interval)
		case low > high:
			return 0, fmt.Errorf("non-increasing order, previous: %d, current: %d", low, high)
		case low <= last:
			return 0, fmt.Errorf("overlapping indexes interval, previous: %d, current: %d", last, low)
		}
		total += int32(high - low + 1)
		last = high
	}
	return total, nil
}

// validateJobUpdate checks what may change between old and new.
func validateJobUpdate(job, oldJob *batchv1.Job) field.ErrorList {
	specPath := field.NewPath("spec")
	spec, oldSpec := &job.Spec, &oldJob.Spec
	errs := apivalidation.ValidateObjectMetaUpdate(&job.ObjectMeta, &oldJob.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, validateCompletionsUpdate(spec, oldSpec, specPath.Child("completions"))...)
	errs = append(errs, apivalidation.ValidateImmutableField(spec.Selector, oldSpec.Selector, specPath.Child("selector"))...)
	errs = append(errs, validateTemplateUpdate(oldJob, spec, specPath.Child("template"))...)
	errs = append(errs, apivalidation.ValidateImmutableField(spec.CompletionMode, oldSpec.CompletionMode, specPath.Child("completionMode"))...)
	errs = append(errs, apivalidation.ValidateImmutableField(spec.PodFailurePolicy, oldSpec.PodFailurePolicy, specPath.Child("podFailurePolicy"))...)
	errs = append(errs, apivalidation.ValidateImmutableField(spec.BackoffLimitPerIndex, oldSpec.BackoffLimitPerIndex, specPath.Child("backoffLimitPerIndex"))...)
	errs = append(errs, apivalidation.ValidateImmutableField(spec.ManagedBy, oldSpec.ManagedBy, specPath.Child("managedBy"))...)
	return append(errs, apivalidation.ValidateImmutableField(spec.SuccessPolicy, oldSpec.SuccessPolicy, specPath.Child("successPolicy"))...)
}

// validateCompletionsUpdate lets an Indexed Job scale by changing
// completions together with parallelism (elastic Indexed Jobs); other
// Jobs keep their completions.
func validateCompletionsUpdate(spec, oldSpec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	if ptr.Deref(spec.CompletionMode, batchv1.NonIndexedCompletion) != batchv1.IndexedCompletion {
		return apivalidation.ValidateImmutableField(spec.Completions, oldSpec.Completions, fldPath)
	}
	if apiequality.Semantic.DeepEqual(spec.Completions, oldSpec.Completions) || spec.Completions == nil {
		// A nil completions is already reported for Indexed Jobs.
		return nil
	}
	if *spec.Completions != ptr.Deref(spec.Parallelism, 0) {
		return field.ErrorList{field.Invalid(fldPath, spec.Completions, fmt.Sprintf("can only be modified in tandem with %s", fldPath.Root().Child("parallelism")))}
	}
	return nil
}

// validateTemplateUpdate keeps the pod template immutable, except that a
// suspended Job that never started may change its scheduling directives
// (node affinity, node selector, tolerations, scheduling gates) and the
// template's labels and annotations, so a queueing controller can place it.
func validateTemplateUpdate(oldJob *batchv1.Job, spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	template := &spec.Template
	oldTemplate := &oldJob.Spec.Template
	if ptr.Deref(oldJob.Spec.Suspend, false) && oldJob.Status.StartTime == nil {
		oldTemplate = oldTemplate.DeepCopy()
		switch {
		case template.Spec.Affinity == nil && oldTemplate.Spec.Affinity != nil:
			oldTemplate.Spec.Affinity.NodeAffinity = nil
			if apiequality.Semantic.DeepEqual(*oldTemplate.Spec.Affinity, corev1.Affinity{}) {
				oldTemplate.Spec.Affinity = nil
			}
		case template.Spec.Affinity != nil && oldTemplate.Spec.Affinity == nil:
			oldTemplate.Spec.Affinity = &corev1.Affinity{NodeAffinity: template.Spec.Affinity.NodeAffinity}
		case template.Spec.Affinity != nil && oldTemplate.Spec.Affinity != nil:
			oldTemplate.Spec.Affinity.NodeAffinity = template.Spec.Affinity.NodeAffinity
		}
		oldTemplate.Spec.NodeSelector = template.Spec.NodeSelector
		oldTemplate.Spec.Tolerations = template.Spec.Tolerations
		oldTemplate.Spec.SchedulingGates = template.Spec.SchedulingGates
		oldTemplate.Labels = template.Labels
		oldTemplate.Annotations = template.Annotations
	}
	return apivalidation.ValidateImmutableField(template, oldTemplate, fldPath)
}

// validateStatusUpdate checks a Job's new status: counters are not
// negative, uncounted pods are unique, and ready pods are not more than
// active ones.
func validateStatusUpdate(job, oldJob *batchv1.Job) field.ErrorList {
	statusPath := field.NewPath("status")
	status := &job.Status
	errs := apivalidation.ValidateObjectMetaUpdate(&job.ObjectMeta, &oldJob.ObjectMeta, field.NewPath("metadata"))
	for _, counter := range []struct {
		name  string
		value *int32
	}{
		{"active", &status.Active},
		{"succeeded", &status.Succeeded},
		{"failed", &status.Failed},
		{"ready", status.Ready},
		{"terminating", status.Terminating},
	} {
		if counter.value != nil {
			errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*counter.value), statusPath.Child(counter.name))...)
		}
	}
	if uncounted := status.UncountedTerminatedPods; uncounted != nil {
		uncountedPath := statusPath.Child("uncountedTerminatedPods")
		seen := sets.New[types.UID]()
		for _, list := range []struct {
			name string
			uids []types.UID
		}{{"succeeded", uncounted.Succeeded}, {"failed", uncounted.Failed}} {
			for i, uid := range list.uids {
				p := uncountedPath.Child(list.name).Index(i)
				switch {
				case uid == "":
					errs = append(errs, field.Invalid(p, uid, "must not be empty"))
				case seen.Has(uid):
					errs = append(errs, field.Duplicate(p, uid))
				default:
					seen.Insert(uid)
				}
			}
		}
	}
	if status.Ready != nil && *status.Ready > status.Active && !apiequality.Semantic.DeepEqual(status.Ready, oldJob.Status.Ready) {
		errs = append(errs, field.Invalid(statusPath.Child("ready"), *status.Ready, "cannot set more ready pods than active"))
	}
	return errs
}
