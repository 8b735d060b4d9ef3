package cronjob

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// newCronJob returns a small valid CronJob, defaulted as the API server
// would before validating it.
func newCronJob() *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "backup", Namespace: "default", ResourceVersion: "1"},
		Spec: batchv1.CronJobSpec{
			Schedule: "*/5 * * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyOnFailure,
				Containers:    []corev1.Container{{Name: "backup", Image: "busybox:1.36"}},
			}}}},
		},
	}
	strategy{}.Default(cj)
	return cj
}

func summary(errs field.ErrorList) []string {
	out := []string{}
	for _, e := range errs {
		out = append(out, e.Field+" "+string(e.Type))
	}
	sort.Strings(out)
	return out
}

func TestParseSchedule(t *testing.T) {
	tests := []struct {
		schedule string
		wantErr  string // a substring; empty for a valid schedule
	}{
		{schedule: "0 * * * *"},
		{schedule: "*/15 9-17 * * mon-fri"},
		{schedule: "0 0 1,15 JAN,jul ?"},
		{schedule: "5/10 * * * *"},
		{schedule: "@hourly"},
		{schedule: "@every 90m"},
		{schedule: "TZ=Europe/Paris 0 6 * * *"},
		{schedule: "", wantErr: "empty spec string"},
		{schedule: "* * * *", wantErr: "expected exactly 5 fields, found 4: [* * * *]"},
		{schedule: "0 0 * * * *", wantErr: "expected exactly 5 fields, found 6"},
		{schedule: "60 * * * *", wantErr: "end of range (60) above maximum (59): 60"},
		{schedule: "* * 0 * *", wantErr: "beginning of range (0) below minimum (1): 0"},
		{schedule: "* 5-2 * * *", wantErr: "beginning of range (5) beyond end of range (2): 5-2"},
		{schedule: "*/0 * * * *", wantErr: "step of range should be a positive number: */0"},
		{schedule: "x * * * *", wantErr: "failed to parse int from x"},
		{schedule: "1-2-3 * * * *", wantErr: "too many hyphens: 1-2-3"},
		{schedule: "* * * * 1/2/3", wantErr: "too many slashes: 1/2/3"},
		{schedule: "* * * * sunday", wantErr: "failed to parse int from sunday"},
		{schedule: "@fortnightly", wantErr: "unrecognized descriptor: @fortnightly"},
		{schedule: "@every soon", wantErr: "failed to parse duration @every soon"},
		{schedule: "TZ=Mars/Olympus 0 * * * *", wantErr: "provided bad location Mars/Olympus"},
	}
	for _, tt := range tests {
		t.Run(tt.schedule, func(t *testing.T) {
			err := parseSchedule(tt.schedule)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("got error %q, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDefault(t *testing.T) {
	cj := newCronJob()
	want := batchv1.CronJobSpec{
		Schedule: "*/5 * * * *", ConcurrencyPolicy: batchv1.AllowConcurrent, Suspend: ptr.To(false),
		SuccessfulJobsHistoryLimit: ptr.To[int32](3), FailedJobsHistoryLimit: ptr.To[int32](1),
	}
	got := cj.Spec
	if got.JobTemplate.Spec.Template.Spec.DNSPolicy != corev1.DNSClusterFirst {
		t.Errorf("job template pod spec was not defaulted: dnsPolicy %q", got.JobTemplate.Spec.Template.Spec.DNSPolicy)
	}
	if got.JobTemplate.Spec.BackoffLimit != nil || got.JobTemplate.Spec.Completions != nil {
		t.Errorf("job template Job spec was defaulted; upstream leaves it to each Job")
	}
	got.JobTemplate = batchv1.JobTemplateSpec{}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("spec (-want +got):\n%s", diff)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*batchv1.CronJob)
		want   []string
	}{
		{name: "valid", mutate: func(*batchv1.CronJob) {}, want: []string{}},
		{name: "valid time zone", mutate: func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("America/New_York") }, want: []string{}},
		{name: "no schedule", mutate: func(cj *batchv1.CronJob) { cj.Spec.Schedule = "" }, want: []string{"spec.schedule FieldValueRequired"}},
		{name: "bad schedule", mutate: func(cj *batchv1.CronJob) { cj.Spec.Schedule = "every minute" }, want: []string{"spec.schedule FieldValueInvalid"}},
		{name: "TZ in schedule", mutate: func(cj *batchv1.CronJob) { cj.Spec.Schedule = "TZ=UTC 0 * * * *" }, want: []string{"spec.schedule FieldValueInvalid"}},
		{name: "unknown time zone", mutate: func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Mars/Olympus") }, want: []string{"spec.timeZone FieldValueInvalid"}},
		{name: "Local time zone", mutate: func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Local") }, want: []string{"spec.timeZone FieldValueInvalid"}},
		{name: "empty time zone", mutate: func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("") }, want: []string{"spec.timeZone FieldValueInvalid"}},
		{name: "bad concurrency policy", mutate: func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = "Queue" },
			want: []string{"spec.concurrencyPolicy FieldValueNotSupported"}},
		{name: "negative deadline", mutate: func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = ptr.To[int64](-1) },
			want: []string{"spec.startingDeadlineSeconds FieldValueInvalid"}},
		{name: "negative history", mutate: func(cj *batchv1.CronJob) { cj.Spec.FailedJobsHistoryLimit = ptr.To[int32](-1) },
			want: []string{"spec.failedJobsHistoryLimit FieldValueInvalid"}},
		{name: "template restarts always", mutate: func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		}, want: []string{"spec.jobTemplate.spec.template.spec.restartPolicy FieldValueRequired"}},
		{name: "template with selector", mutate: func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
		}, want: []string{"spec.jobTemplate.spec.selector FieldValueInvalid"}},
		{name: "template with manual selector", mutate: func(cj *batchv1.CronJob) { cj.Spec.JobTemplate.Spec.ManualSelector = ptr.To(true) },
			want: []string{"spec.jobTemplate.spec.manualSelector FieldValueNotSupported"}},
		{name: "name longer than 52", mutate: func(cj *batchv1.CronJob) { cj.Name = strings.Repeat("a", 53) },
			want: []string{"metadata.name FieldValueInvalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cj := newCronJob()
			tt.mutate(cj)
			if diff := cmp.Diff(tt.want, summary(strategy{}.Validate(cj))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	tests := []struct {
		name        string
		oldSchedule string
		oldName     string
		mutate      func(*batchv1.CronJob)
		want        []string
	}{
		{name: "change schedule", mutate: func(cj *batchv1.CronJob) { cj.Spec.Schedule = "@daily" }, want: []string{}},
		{name: "stored TZ schedule may stay", oldSchedule: "TZ=UTC 0 * * * *", mutate: func(*batchv1.CronJob) {}, want: []string{}},
		{name: "stored TZ schedule with time zone", oldSchedule: "TZ=UTC 0 * * * *", mutate: func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("UTC") },
			want: []string{"spec.schedule FieldValueInvalid"}},
		{name: "adding TZ is refused", mutate: func(cj *batchv1.CronJob) { cj.Spec.Schedule = "TZ=UTC 0 * * * *" },
			want: []string{"spec.schedule FieldValueInvalid"}},
		{name: "long stored name stays updatable", oldName: strings.Repeat("b", 60), mutate: func(cj *batchv1.CronJob) { cj.Spec.Suspend = ptr.To(true) },
			want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newCronJob()
			if tt.oldSchedule != "" {
				old.Spec.Schedule = tt.oldSchedule
			}
			if tt.oldName != "" {
				old.Name = tt.oldName
			}
			cj := old.DeepCopy()
			tt.mutate(cj)
			if diff := cmp.Diff(tt.want, summary(strategy{}.ValidateUpdate(cj, old))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatusSplit(t *testing.T) {
	last := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	old := newCronJob()
	old.Status.LastScheduleTime = &last

	updated := old.DeepCopy()
	updated.Status.LastScheduleTime = nil
	updated.Spec.Schedule = "@daily"
	strategy{}.PrepareForUpdate(updated, old)
	if updated.Status.LastScheduleTime == nil || updated.Spec.Schedule != "@daily" {
		t.Errorf("update: got status %v schedule %q, want the stored status and the new schedule", updated.Status, updated.Spec.Schedule)
	}

	statusUpdate := old.DeepCopy()
	statusUpdate.Spec.Schedule = "@daily"
	statusUpdate.Status.Active = []corev1.ObjectReference{{Name: "backup-1"}}
	statusStrategy{}.PrepareForStatusUpdate(statusUpdate, old)
	if statusUpdate.Spec.Schedule != "*/5 * * * *" || len(statusUpdate.Status.Active) != 1 {
		t.Errorf("status update: got schedule %q active %v, want the stored schedule and the new status", statusUpdate.Spec.Schedule, statusUpdate.Status.Active)
	}
}

func TestTableRow(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*batchv1.CronJob)
		want   []interface{}
	}{
		{name: "never scheduled", mutate: func(*batchv1.CronJob) {},
			want: []interface{}{"backup", "*/5 * * * *", "<none>", "False", int64(0), "<none>", "<unknown>", "backup", "busybox:1.36", "<none>"}},
		{name: "suspended with time zone and active job", mutate: func(cj *batchv1.CronJob) {
			cj.Spec.Suspend = ptr.To(true)
			cj.Spec.TimeZone = ptr.To("UTC")
			cj.Status.Active = []corev1.ObjectReference{{Name: "backup-1"}}
		}, want: []interface{}{"backup", "*/5 * * * *", "UTC", "True", int64(1), "<none>", "<unknown>", "backup", "busybox:1.36", "<none>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cj := newCronJob()
			tt.mutate(cj)
			if diff := cmp.Diff(tt.want, Kind().Table.Row(cj)); diff != "" {
				t.Errorf("row (-want +got):\n%s", diff)
			}
		})
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
	}{"batch/v1", "cronjobs", "cronjob", "CronJob", []string{"cj"}, []string{"all"}, true, true, false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kind (-want +got):\n%s", diff)
	}
	if _, ok := k.New().(*batchv1.CronJob); !ok {
		t.Errorf("New: got %T, want *batchv1.CronJob", k.New())
	}
	if _, ok := k.NewList().(*batchv1.CronJobList); !ok {
		t.Errorf("NewList: got %T, want *batchv1.CronJobList", k.NewList())
	}
}
