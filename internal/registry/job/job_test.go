package job

import (
	"math"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

const uid = types.UID("0f3c-uid")

// newJob returns a small Job as a client sends it, then defaulted and
// prepared as the API server does before validating it.
func newJob() *batchv1.Job {
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: uid, ResourceVersion: "1"},
		Spec: batchv1.JobSpec{
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "pi", Image: "perl:5.34"}},
			}},
		},
	}
	strategy{}.Default(job)
	strategy{}.PrepareForCreate(job)
	return job
}

func summary(errs field.ErrorList) []string {
	out := []string{}
	for _, e := range errs {
		out = append(out, e.Field+" "+string(e.Type))
	}
	sort.Strings(out)
	return out
}

func TestDefault(t *testing.T) {
	tests := []struct {
		name string
		in   batchv1.JobSpec
		want batchv1.JobSpec
	}{
		{
			name: "nothing set",
			want: batchv1.JobSpec{
				Parallelism: ptr.To[int32](1), Completions: ptr.To[int32](1), BackoffLimit: ptr.To[int32](6),
				CompletionMode: ptr.To(batchv1.NonIndexedCompletion), Suspend: ptr.To(false),
				PodReplacementPolicy: ptr.To(batchv1.TerminatingOrFailed), ManualSelector: ptr.To(false),
			},
		},
		{
			name: "work queue keeps completions unset",
			in:   batchv1.JobSpec{Parallelism: ptr.To[int32](4)},
			want: batchv1.JobSpec{
				Parallelism: ptr.To[int32](4), BackoffLimit: ptr.To[int32](6),
				CompletionMode: ptr.To(batchv1.NonIndexedCompletion), Suspend: ptr.To(false),
				PodReplacementPolicy: ptr.To(batchv1.TerminatingOrFailed), ManualSelector: ptr.To(false),
			},
		},
		{
			name: "backoff per index and failure policy",
			in: batchv1.JobSpec{Completions: ptr.To[int32](3), BackoffLimitPerIndex: ptr.To[int32](1),
				PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
					Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}}}}}},
			want: batchv1.JobSpec{
				Completions: ptr.To[int32](3), Parallelism: ptr.To[int32](1), BackoffLimitPerIndex: ptr.To[int32](1), BackoffLimit: ptr.To[int32](math.MaxInt32),
				PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
					Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}}}},
				CompletionMode: ptr.To(batchv1.NonIndexedCompletion), Suspend: ptr.To(false),
				PodReplacementPolicy: ptr.To(batchv1.Failed), ManualSelector: ptr.To(false),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job := &batchv1.Job{Spec: tt.in}
			strategy{}.Default(job)
			job.Spec.Template = corev1.PodTemplateSpec{} // pod defaults are the pod package's
			if diff := cmp.Diff(tt.want, job.Spec); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGeneratedSelector(t *testing.T) {
	job := newJob()
	wantPodLabels := map[string]string{
		"batch.kubernetes.io/controller-uid": string(uid), "controller-uid": string(uid),
		"batch.kubernetes.io/job-name": "pi", "job-name": "pi",
	}
	if diff := cmp.Diff(wantPodLabels, job.Spec.Template.Labels); diff != "" {
		t.Errorf("template labels (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantPodLabels, job.Labels); diff != "" {
		t.Errorf("job labels (-want +got):\n%s", diff)
	}
	wantSelector := &metav1.LabelSelector{MatchLabels: map[string]string{"batch.kubernetes.io/controller-uid": string(uid)}}
	if diff := cmp.Diff(wantSelector, job.Spec.Selector); diff != "" {
		t.Errorf("selector (-want +got):\n%s", diff)
	}
	job.Labels["extra"] = "x"
	if _, shared := job.Spec.Template.Labels["extra"]; shared {
		t.Errorf("job labels and template labels share one map")
	}

	t.Run("template labels with generated ones", func(t *testing.T) {
		job := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "pi", UID: uid},
			Spec:       batchv1.JobSpec{Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "pi"}}}},
		}
		strategy{}.Default(job)
		strategy{}.PrepareForCreate(job)
		want := map[string]string{"app": "pi"}
		for k, v := range wantPodLabels {
			want[k] = v
		}
		if diff := cmp.Diff(want, job.Labels); diff != "" {
			t.Errorf("job labels (-want +got):\n%s", diff)
		}
	})

	t.Run("own labels are kept", func(t *testing.T) {
		job := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "pi", UID: uid, Labels: map[string]string{"team": "a"}},
			Spec:       batchv1.JobSpec{Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "pi"}}}},
		}
		strategy{}.Default(job)
		strategy{}.PrepareForCreate(job)
		if diff := cmp.Diff(map[string]string{"team": "a"}, job.Labels); diff != "" {
			t.Errorf("job labels (-want +got):\n%s", diff)
		}
	})

	t.Run("manual selector is kept", func(t *testing.T) {
		job := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "pi", UID: uid, Labels: map[string]string{"team": "a"}},
			Spec: batchv1.JobSpec{ManualSelector: ptr.To(true), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pi"}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "pi"}}}},
		}
		strategy{}.PrepareForCreate(job)
		if diff := cmp.Diff(map[string]string{"app": "pi"}, job.Spec.Template.Labels); diff != "" {
			t.Errorf("template labels (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(map[string]string{"team": "a"}, job.Labels); diff != "" {
			t.Errorf("job labels (-want +got):\n%s", diff)
		}
	})
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*batchv1.Job)
		want   []string
	}{
		{name: "valid", mutate: func(*batchv1.Job) {}, want: []string{}},
		{name: "valid manual selector", mutate: func(j *batchv1.Job) {
			j.Spec.ManualSelector = ptr.To(true)
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pi"}}
			j.Spec.Template.Labels = map[string]string{"app": "pi"}
		}, want: []string{}},
		{name: "restarts always", mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways },
			want: []string{"spec.template.spec.restartPolicy FieldValueRequired"}},
		{name: "foreign selector", mutate: func(j *batchv1.Job) {
			j.Spec.Selector.MatchLabels["batch.kubernetes.io/controller-uid"] = "other"
		}, want: []string{"spec.selector FieldValueInvalid", "spec.template.metadata.labels FieldValueInvalid"}},
		{name: "generated label overwritten", mutate: func(j *batchv1.Job) { j.Spec.Template.Labels["job-name"] = "other" },
			want: []string{"spec.template.metadata.labels[job-name] FieldValueInvalid"}},
		{name: "manual selector not matching", mutate: func(j *batchv1.Job) {
			j.Spec.ManualSelector = ptr.To(true)
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pi"}}
		}, want: []string{"spec.template.metadata.labels FieldValueInvalid"}},
		{name: "negative parallelism", mutate: func(j *batchv1.Job) { j.Spec.Parallelism = ptr.To[int32](-1) },
			want: []string{"spec.parallelism FieldValueInvalid"}},
		{name: "indexed without completions", mutate: func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Completions = nil
		}, want: []string{"spec.completions FieldValueRequired"}},
		{name: "unknown completion mode", mutate: func(j *batchv1.Job) { j.Spec.CompletionMode = ptr.To(batchv1.CompletionMode("Ordered")) },
			want: []string{"spec.completionMode FieldValueNotSupported"}},
		{name: "backoff per index needs indexed", mutate: func(j *batchv1.Job) { j.Spec.BackoffLimitPerIndex = ptr.To[int32](1) },
			want: []string{"spec.backoffLimitPerIndex FieldValueInvalid"}},
		{name: "failure policy needs restart never", mutate: func(j *batchv1.Job) {
			j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action:      batchv1.PodFailurePolicyActionFailJob,
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{1, 2}}}}}
			j.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
		}, want: []string{"spec.template.spec.restartPolicy FieldValueInvalid"}},
		{name: "failure policy rule without requirement", mutate: func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{Action: batchv1.PodFailurePolicyActionIgnore}}}
			j.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
		}, want: []string{"spec.podFailurePolicy.rules[0] FieldValueInvalid"}},
		{name: "exit codes unordered and zero for In", mutate: func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action:      batchv1.PodFailurePolicyActionFailJob,
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{3, 0}}}}}
			j.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
		}, want: []string{"spec.podFailurePolicy.rules[0].onExitCodes.values FieldValueInvalid", "spec.podFailurePolicy.rules[0].onExitCodes.values[1] FieldValueInvalid"}},
		{name: "replacement policy with failure policy", mutate: func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action: batchv1.PodFailurePolicyActionCount, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}}}}
		}, want: []string{"spec.podReplacementPolicy FieldValueNotSupported"}},
		{name: "success policy on non-indexed job", mutate: func(j *batchv1.Job) {
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededCount: ptr.To[int32](1)}}}
		}, want: []string{"spec.successPolicy FieldValueInvalid"}},
		{name: "indexed name too long for pod hostnames", mutate: func(j *batchv1.Job) {
			j.Name = "a-name-that-is-exactly-sixty-one-characters-long-for-this-test"
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Completions = ptr.To[int32](100)
			for _, key := range []string{"job-name", "batch.kubernetes.io/job-name"} {
				j.Spec.Template.Labels[key] = j.Name
			}
		}, want: []string{"metadata.name FieldValueInvalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := newJob()
			tt.mutate(j)
			if diff := cmp.Diff(tt.want, summary(strategy{}.Validate(j))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateSuccessPolicy(t *testing.T) {
	tests := []struct {
		name    string
		indexes string
		count   *int32
		want    []string
	}{
		{name: "valid", indexes: "0,2-3", count: ptr.To[int32](2), want: []string{}},
		{name: "index beyond completions", indexes: "0-4", want: []string{"spec.successPolicy.rules[0].succeededIndexes FieldValueInvalid"}},
		{name: "overlapping", indexes: "0-2,1", want: []string{"spec.successPolicy.rules[0].succeededIndexes FieldValueInvalid"}},
		{name: "count above named indexes", indexes: "1", count: ptr.To[int32](2), want: []string{"spec.successPolicy.rules[0].succeededCount FieldValueInvalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := newJob()
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Completions = ptr.To[int32](4)
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededIndexes: &tt.indexes, SucceededCount: tt.count}}}
			if diff := cmp.Diff(tt.want, summary(strategy{}.Validate(j))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	tests := []struct {
		name      string
		suspended bool
		mutate    func(*batchv1.Job)
		want      []string
	}{
		{name: "unsuspend and change deadline", mutate: func(j *batchv1.Job) {
			j.Spec.Suspend = ptr.To(true)
			j.Spec.ActiveDeadlineSeconds = ptr.To[int64](60)
		}, want: []string{}},
		{name: "template image changes", mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Image = "perl:5.40" },
			want: []string{"spec.template FieldValueInvalid"}},
		{name: "suspended job moves to other nodes", suspended: true, mutate: func(j *batchv1.Job) {
			j.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "b"}
			j.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpExists}}
		}, want: []string{}},
		{name: "running job moves to other nodes", mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "b"} },
			want: []string{"spec.template FieldValueInvalid"}},
		{name: "completions change", mutate: func(j *batchv1.Job) { j.Spec.Completions = ptr.To[int32](3) },
			want: []string{"spec.completions FieldValueInvalid"}},
		// Immutable, no longer the generated one, and not matching the pods.
		{name: "selector change", mutate: func(j *batchv1.Job) { j.Spec.Selector.MatchLabels["x"] = "y" },
			want: []string{"spec.selector FieldValueInvalid", "spec.selector FieldValueInvalid", "spec.template.metadata.labels FieldValueInvalid"}},
		{name: "completion mode change", mutate: func(j *batchv1.Job) { j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion) },
			want: []string{"spec.completionMode FieldValueInvalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newJob()
			old.Spec.Suspend = ptr.To(tt.suspended)
			j := old.DeepCopy()
			tt.mutate(j)
			if diff := cmp.Diff(tt.want, summary(strategy{}.ValidateUpdate(j, old))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("elastic indexed job", func(t *testing.T) {
		old := newJob()
		old.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
		old.Spec.Completions, old.Spec.Parallelism = ptr.To[int32](2), ptr.To[int32](2)
		tandem := old.DeepCopy()
		tandem.Spec.Completions, tandem.Spec.Parallelism = ptr.To[int32](4), ptr.To[int32](4)
		if errs := (strategy{}).ValidateUpdate(tandem, old); len(errs) != 0 {
			t.Errorf("completions with parallelism: got %v, want no errors", errs)
		}
		alone := old.DeepCopy()
		alone.Spec.Completions = ptr.To[int32](4)
		if diff := cmp.Diff([]string{"spec.completions FieldValueInvalid"}, summary(strategy{}.ValidateUpdate(alone, old))); diff != "" {
			t.Errorf("completions alone (-want +got):\n%s", diff)
		}
	})
}

func TestStatus(t *testing.T) {
	old := newJob()
	old.Status.Active = 1
	j := old.DeepCopy()
	j.Spec.Parallelism = ptr.To[int32](5)
	j.Status.Succeeded = 1
	statusStrategy{}.PrepareForStatusUpdate(j, old)
	if *j.Spec.Parallelism != 1 || j.Status.Succeeded != 1 {
		t.Errorf("got parallelism %d succeeded %d, want 1 and 1", *j.Spec.Parallelism, j.Status.Succeeded)
	}

	tests := []struct {
		name   string
		status batchv1.JobStatus
		want   []string
	}{
		{name: "valid", status: batchv1.JobStatus{Active: 1, Ready: ptr.To[int32](1)}, want: []string{}},
		{name: "negative failed", status: batchv1.JobStatus{Failed: -1}, want: []string{"status.failed FieldValueInvalid"}},
		{name: "more ready than active", status: batchv1.JobStatus{Active: 1, Ready: ptr.To[int32](2)}, want: []string{"status.ready FieldValueInvalid"}},
		{name: "duplicate uncounted pod", status: batchv1.JobStatus{UncountedTerminatedPods: &batchv1.UncountedTerminatedPods{
			Succeeded: []types.UID{"a"}, Failed: []types.UID{"a", ""}}},
			want: []string{"status.uncountedTerminatedPods.failed[0] FieldValueDuplicate", "status.uncountedTerminatedPods.failed[1] FieldValueInvalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := old.DeepCopy()
			j.Status = tt.status
			if diff := cmp.Diff(tt.want, summary(statusStrategy{}.ValidateStatusUpdate(j, old))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTableRow(t *testing.T) {
	start := metav1.NewTime(time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC))
	end := metav1.NewTime(start.Add(5 * time.Minute))
	condition := func(t batchv1.JobConditionType) []batchv1.JobCondition {
		return []batchv1.JobCondition{{Type: t, Status: corev1.ConditionTrue}}
	}
	tests := []struct {
		name           string
		mutate         func(*batchv1.Job)
		wantStatus     string
		wantCompletion string
		wantDuration   string
	}{
		{name: "not started", mutate: func(*batchv1.Job) {}, wantStatus: "Running", wantCompletion: "0/1"},
		{name: "complete", mutate: func(j *batchv1.Job) {
			j.Status = batchv1.JobStatus{Succeeded: 1, StartTime: &start, CompletionTime: &end, Conditions: condition(batchv1.JobComplete)}
		}, wantStatus: "Complete", wantCompletion: "1/1", wantDuration: "5m"},
		{name: "failed", mutate: func(j *batchv1.Job) { j.Status.Conditions = condition(batchv1.JobFailed) }, wantStatus: "Failed", wantCompletion: "0/1"},
		{name: "suspended", mutate: func(j *batchv1.Job) { j.Status.Conditions = condition(batchv1.JobSuspended) }, wantStatus: "Suspended", wantCompletion: "0/1"},
		{name: "terminating", mutate: func(j *batchv1.Job) { j.DeletionTimestamp = &end }, wantStatus: "Terminating", wantCompletion: "0/1"},
		{name: "work queue", mutate: func(j *batchv1.Job) {
			j.Spec.Completions = nil
			j.Spec.Parallelism = ptr.To[int32](3)
		}, wantStatus: "Running", wantCompletion: "0/1 of 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := newJob()
			tt.mutate(j)
			want := []interface{}{"pi", tt.wantStatus, tt.wantCompletion, tt.wantDuration, "<unknown>", "pi", "perl:5.34", "batch.kubernetes.io/controller-uid=" + string(uid)}
			if diff := cmp.Diff(want, Kind().Table.Row(j)); diff != "" {
				t.Errorf("row (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFields(t *testing.T) {
	j := newJob()
	j.Status.Succeeded = 2
	if diff := cmp.Diff(fields.Set{"status.successful": "2"}, Kind().Fields(j)); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
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
	}{"batch/v1", "jobs", "job", "Job", nil, []string{"all"}, true, true, false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kind (-want +got):\n%s", diff)
	}
	if _, ok := k.New().(*batchv1.Job); !ok {
		t.Errorf("New: got %T, want *batchv1.Job", k.New())
	}
	if _, ok := k.NewList().(*batchv1.JobList); !ok {
		t.Errorf("NewList: got %T, want *batchv1.JobList", k.NewList())
	}
}
