package cronjob

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

// created is when the test CronJobs were created: 10:00:00 UTC.
var created = time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)

type harness struct {
	c        *Controller
	client   *fake.Clientset
	recorder *record.FakeRecorder
}

func newHarness(t *testing.T, now time.Time, objs ...runtime.Object) *harness {
	t.Helper()
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	jobs := factory.Batch().V1().Jobs()
	cronJobs := factory.Batch().V1().CronJobs()
	c := New(client, jobs, cronJobs, WithClock(clocktesting.NewFakeClock(now)))
	for _, obj := range objs {
		var err error
		switch o := obj.(type) {
		case *batchv1.Job:
			err = jobs.Informer().GetIndexer().Add(o)
		case *batchv1.CronJob:
			err = cronJobs.Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatalf("indexer add: %v", err)
		}
	}
	recorder := record.NewFakeRecorder(100)
	c.recorder = recorder
	client.ClearActions()
	return &harness{c: c, client: client, recorder: recorder}
}

func (h *harness) events() []string {
	var out []string
	for {
		select {
		case e := <-h.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func (h *harness) cronJob(t *testing.T) *batchv1.CronJob {
	t.Helper()
	cj, err := h.client.BatchV1().CronJobs("default").Get(t.Context(), "tick", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get cronjob: %v", err)
	}
	return cj
}

func (h *harness) jobNames(t *testing.T) []string {
	t.Helper()
	list, err := h.client.BatchV1().Jobs("default").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list jobs: %v", err)
	}
	var names []string
	for _, j := range list.Items {
		names = append(names, j.Name)
	}
	return names
}

func newCronJob(opts ...func(*batchv1.CronJob)) *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "tick", Namespace: "default", UID: "cj-uid", CreationTimestamp: metav1.NewTime(created)},
		Spec: batchv1.CronJobSpec{
			Schedule:                   "*/5 * * * *",
			TimeZone:                   ptr.To("UTC"),
			ConcurrencyPolicy:          batchv1.AllowConcurrent,
			SuccessfulJobsHistoryLimit: ptr.To[int32](3),
			FailedJobsHistoryLimit:     ptr.To[int32](1),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "tick"}, Annotations: map[string]string{"note": "x"}},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
				}}},
			},
		},
	}
	for _, o := range opts {
		o(cj)
	}
	return cj
}

// ownedJob is a Job of the test CronJob scheduled at the given minute
// offset from created.
func ownedJob(minute int, opts ...func(*batchv1.Job)) *batchv1.Job {
	scheduled := created.Add(time.Duration(minute) * time.Minute)
	cj := newCronJob()
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: JobName(cj, scheduled), Namespace: "default", UID: types.UID(JobName(cj, scheduled)),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, controllerKind)},
		},
		Status: batchv1.JobStatus{StartTime: &metav1.Time{Time: scheduled}},
	}
	for _, o := range opts {
		o(job)
	}
	return job
}

func finished(kind batchv1.JobConditionType, at time.Time) func(*batchv1.Job) {
	return func(j *batchv1.Job) {
		j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{Type: kind, Status: corev1.ConditionTrue})
		if kind == batchv1.JobComplete {
			j.Status.CompletionTime = &metav1.Time{Time: at}
		}
	}
}

func activeRef(job *batchv1.Job) corev1.ObjectReference {
	return corev1.ObjectReference{Kind: "Job", APIVersion: "batch/v1", Namespace: job.Namespace, Name: job.Name, UID: job.UID}
}

func withActive(jobs ...*batchv1.Job) func(*batchv1.CronJob) {
	return func(cj *batchv1.CronJob) {
		for _, j := range jobs {
			cj.Status.Active = append(cj.Status.Active, activeRef(j))
		}
	}
}

func lastScheduled(minute int) func(*batchv1.CronJob) {
	return func(cj *batchv1.CronJob) {
		cj.Status.LastScheduleTime = &metav1.Time{Time: created.Add(time.Duration(minute) * time.Minute)}
	}
}

func hasEvent(events []string, prefix string) bool {
	for _, e := range events {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}

func TestSyncCronJob(t *testing.T) {
	running := ownedJob(0)
	// Job names are the scheduled time in Unix minutes.
	at5 := JobName(newCronJob(), created.Add(5*time.Minute))
	at10 := JobName(newCronJob(), created.Add(10*time.Minute))
	tests := []struct {
		name         string
		cronJob      *batchv1.CronJob
		jobs         []*batchv1.Job
		now          time.Time
		wantJobs     []string // jobs existing afterwards
		wantActive   []string
		wantLast     *time.Time
		wantRequeue  time.Duration
		wantEvent    string
		wantNoUpdate bool
	}{
		{
			name: "not due yet", cronJob: newCronJob(), now: created.Add(2 * time.Minute),
			wantRequeue: 3*time.Minute + nextScheduleDelta, wantNoUpdate: true,
		},
		{
			name: "due: creates the job", cronJob: newCronJob(), now: created.Add(5*time.Minute + 10*time.Second),
			wantJobs: []string{at5}, wantActive: []string{at5}, wantLast: ptr.To(created.Add(5 * time.Minute)),
			wantRequeue: 4*time.Minute + 50*time.Second + nextScheduleDelta,
			wantEvent:   "Normal SuccessfulCreate Created job " + at5,
		},
		{
			name: "several missed: only the most recent runs", cronJob: newCronJob(), now: created.Add(12 * time.Minute),
			wantJobs: []string{at10}, wantActive: []string{at10}, wantLast: ptr.To(created.Add(10 * time.Minute)),
			wantRequeue: 3*time.Minute + nextScheduleDelta,
		},
		{
			name: "already processed", cronJob: newCronJob(lastScheduled(5)), now: created.Add(6 * time.Minute),
			wantRequeue: 4*time.Minute + nextScheduleDelta, wantNoUpdate: true, wantLast: ptr.To(created.Add(5 * time.Minute)),
		},
		{
			name: "suspended", cronJob: newCronJob(func(cj *batchv1.CronJob) { cj.Spec.Suspend = ptr.To(true) }),
			now: created.Add(6 * time.Minute), wantNoUpdate: true,
		},
		{
			name: "forbid with a running job", now: created.Add(6 * time.Minute),
			cronJob: newCronJob(withActive(running), func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent }),
			jobs:    []*batchv1.Job{running}, wantJobs: []string{running.Name}, wantActive: []string{running.Name},
			wantRequeue: 4*time.Minute + nextScheduleDelta, wantNoUpdate: true,
			wantEvent: "Normal JobAlreadyActive Not starting job because prior execution is running and concurrency policy is Forbid",
		},
		{
			name: "allow with a running job", now: created.Add(6 * time.Minute),
			cronJob: newCronJob(withActive(running)), jobs: []*batchv1.Job{running},
			wantJobs: []string{running.Name, at5}, wantActive: []string{running.Name, at5}, wantLast: ptr.To(created.Add(5 * time.Minute)),
			wantRequeue: 4*time.Minute + nextScheduleDelta,
		},
		{
			name: "replace deletes the running job", now: created.Add(6 * time.Minute),
			cronJob: newCronJob(withActive(running), func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = batchv1.ReplaceConcurrent }),
			jobs:    []*batchv1.Job{running}, wantJobs: []string{at5}, wantActive: []string{at5}, wantLast: ptr.To(created.Add(5 * time.Minute)),
			wantRequeue: 4*time.Minute + nextScheduleDelta,
			wantEvent:   "Normal SuccessfulDelete Deleted job " + running.Name,
		},
		{
			name: "starting deadline missed", now: created.Add(8 * time.Minute),
			cronJob:     newCronJob(func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = ptr.To[int64](60) }),
			wantRequeue: 2*time.Minute + nextScheduleDelta, wantNoUpdate: true,
		},
		{
			name: "starting deadline met", now: created.Add(5*time.Minute + 30*time.Second),
			cronJob:  newCronJob(func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = ptr.To[int64](60) }),
			wantJobs: []string{at5}, wantActive: []string{at5}, wantLast: ptr.To(created.Add(5 * time.Minute)),
			wantRequeue: 4*time.Minute + 30*time.Second + nextScheduleDelta,
		},
		{
			name: "finished job leaves the active list", now: created.Add(2 * time.Minute),
			cronJob:     newCronJob(withActive(running), lastScheduled(0)),
			jobs:        []*batchv1.Job{ownedJob(0, finished(batchv1.JobComplete, created.Add(time.Minute)))},
			wantJobs:    []string{running.Name},
			wantRequeue: 3*time.Minute + nextScheduleDelta, wantLast: ptr.To(created),
			wantEvent: "Normal SawCompletedJob Saw completed job: " + running.Name + ", status: Complete",
		},
		{
			name: "vanished active job is dropped", now: created.Add(2 * time.Minute),
			cronJob: newCronJob(withActive(running), lastScheduled(0)), wantLast: ptr.To(created),
			wantRequeue: 3*time.Minute + nextScheduleDelta,
			wantEvent:   "Normal MissingJob Active job went missing: " + running.Name,
		},
		{
			name: "unknown time zone", now: created.Add(6 * time.Minute),
			cronJob:   newCronJob(func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Mars/Olympus") }),
			wantEvent: `Warning UnknownTimeZone invalid timeZone: "Mars/Olympus"`, wantNoUpdate: true,
		},
		{
			name: "unparseable schedule", now: created.Add(6 * time.Minute),
			cronJob:   newCronJob(func(cj *batchv1.CronJob) { cj.Spec.Schedule = "every tuesday" }),
			wantEvent: `Warning UnparseableSchedule unparseable schedule: "every tuesday"`, wantNoUpdate: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs := []runtime.Object{tc.cronJob}
			for _, j := range tc.jobs {
				objs = append(objs, j)
			}
			h := newHarness(t, tc.now, objs...)
			requeue, updated, err := h.c.syncCronJob(t.Context(), tc.cronJob.DeepCopy(), tc.jobs)
			if err != nil {
				t.Fatalf("syncCronJob: %v", err)
			}
			if updated == tc.wantNoUpdate {
				t.Errorf("status update = %v, want %v", updated, !tc.wantNoUpdate)
			}
			var gotRequeue time.Duration
			if requeue != nil {
				gotRequeue = *requeue
			}
			if gotRequeue != tc.wantRequeue {
				t.Errorf("requeue after %v, want %v", gotRequeue, tc.wantRequeue)
			}
			// Run the whole sync to check what is stored.
			h2 := newHarness(t, tc.now, objs...)
			if err := h2.c.sync(t.Context(), "default/tick"); err != nil {
				t.Fatalf("sync: %v", err)
			}
			if diff := cmp.Diff(tc.wantJobs, h2.jobNames(t)); diff != "" {
				t.Errorf("jobs (-want +got):\n%s", diff)
			}
			cj := h2.cronJob(t)
			var active []string
			for _, ref := range cj.Status.Active {
				active = append(active, ref.Name)
			}
			if diff := cmp.Diff(tc.wantActive, active); diff != "" {
				t.Errorf("status.active (-want +got):\n%s", diff)
			}
			var last *time.Time
			if cj.Status.LastScheduleTime != nil {
				last = ptr.To(cj.Status.LastScheduleTime.Time)
			} else if tc.cronJob.Status.LastScheduleTime != nil {
				last = ptr.To(tc.cronJob.Status.LastScheduleTime.Time)
			}
			if !ptr.Equal(last, tc.wantLast) && (last == nil || tc.wantLast == nil || !last.Equal(*tc.wantLast)) {
				t.Errorf("lastScheduleTime = %v, want %v", last, tc.wantLast)
			}
			if tc.wantEvent != "" {
				if events := h2.events(); !hasEvent(events, tc.wantEvent) {
					t.Errorf("events = %q, want one starting %q", events, tc.wantEvent)
				}
			}
		})
	}
}

func TestCreatedJob(t *testing.T) {
	cj := newCronJob(func(cj *batchv1.CronJob) {
		cj.Spec.TimeZone = ptr.To("Asia/Tokyo")
		cj.Spec.Schedule = "0 19 * * *"
		cj.CreationTimestamp = metav1.NewTime(created.Add(-time.Hour))
	})
	now := time.Date(2024, 3, 1, 10, 0, 30, 0, time.UTC) // 19:00:30 in Tokyo
	h := newHarness(t, now, cj)
	if err := h.c.sync(t.Context(), "default/tick"); err != nil {
		t.Fatalf("sync: %v", err)
	}
	name := JobName(cj, time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC))
	job, err := h.client.BatchV1().Jobs("default").Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get job %s: %v", name, err)
	}
	if got, want := name, "tick-28488120"; got != want {
		t.Errorf("job name = %s, want %s", got, want)
	}
	wantAnnotations := map[string]string{"note": "x", batchv1.CronJobScheduledTimestampAnnotation: "2024-03-01T19:00:00+09:00"}
	if diff := cmp.Diff(wantAnnotations, job.Annotations); diff != "" {
		t.Errorf("annotations (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"app": "tick"}, job.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if !metav1.IsControlledBy(job, cj) {
		t.Errorf("owner references = %+v, want controlled by the cronjob", job.OwnerReferences)
	}
	if diff := cmp.Diff(cj.Spec.JobTemplate.Spec, job.Spec); diff != "" {
		t.Errorf("spec (-want +got):\n%s", diff)
	}
}

func TestHistoryLimits(t *testing.T) {
	var jobs []runtime.Object
	for i := 0; i < 5; i++ {
		jobs = append(jobs, ownedJob(i*5, finished(batchv1.JobComplete, created.Add(time.Duration(i*5+1)*time.Minute))))
	}
	for i := 5; i < 8; i++ {
		jobs = append(jobs, ownedJob(i*5, finished(batchv1.JobFailed, created)))
	}
	cj := newCronJob(lastScheduled(35), func(cj *batchv1.CronJob) { cj.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](2) })
	h := newHarness(t, created.Add(36*time.Minute), append(jobs, cj)...)
	if err := h.c.sync(t.Context(), "default/tick"); err != nil {
		t.Fatalf("sync: %v", err)
	}
	want := []string{ownedJob(15).Name, ownedJob(20).Name, ownedJob(35).Name}
	if diff := cmp.Diff(want, h.jobNames(t)); diff != "" {
		t.Errorf("jobs kept (-want +got):\n%s", diff)
	}
	got := h.cronJob(t).Status.LastSuccessfulTime
	if want := created.Add(21 * time.Minute); got == nil || !got.Time.Equal(want) {
		t.Errorf("lastSuccessfulTime = %v, want %v", got, want)
	}
	for _, action := range h.client.Actions() {
		if del, ok := action.(interface{ GetDeleteOptions() metav1.DeleteOptions }); ok {
			if p := del.GetDeleteOptions().PropagationPolicy; p == nil || *p != metav1.DeletePropagationBackground {
				t.Errorf("delete propagation = %v, want Background", p)
			}
		}
	}
}

func TestAlreadyCreatedJobIsRecorded(t *testing.T) {
	// A crash after creating the job and before recording it: the next
	// sync finds the job by its name and records it instead of failing.
	cj := newCronJob()
	existing := ownedJob(5)
	h := newHarness(t, created.Add(6*time.Minute), cj)
	// Stored, but not yet in the informer cache.
	if _, err := h.client.BatchV1().Jobs("default").Create(t.Context(), existing, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create job: %v", err)
	}
	if err := h.c.sync(t.Context(), "default/tick"); err != nil {
		t.Fatalf("sync: %v", err)
	}
	got := h.cronJob(t)
	if len(got.Status.Active) != 1 || got.Status.Active[0].UID != existing.UID {
		t.Errorf("active = %+v, want the existing job", got.Status.Active)
	}
	if _, err := h.client.BatchV1().Jobs("default").Get(t.Context(), existing.Name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		t.Errorf("existing job gone")
	}
}

func TestMostRecentScheduleTime(t *testing.T) {
	everyMinute, err := ParseSchedule("* * * * *")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		cronJob    *batchv1.CronJob
		now        time.Time
		want       time.Time
		wantMissed int
	}{
		{name: "none due", cronJob: newCronJob(), now: created.Add(30 * time.Second)},
		{name: "one due", cronJob: newCronJob(), now: created.Add(90 * time.Second), want: created.Add(time.Minute), wantMissed: 1},
		{name: "three due", cronJob: newCronJob(), now: created.Add(3 * time.Minute), want: created.Add(3 * time.Minute), wantMissed: 3},
		{name: "many missed", cronJob: newCronJob(), now: created.Add(1000*time.Hour + 30*time.Second),
			want: created.Add(1000 * time.Hour), wantMissed: maxMissedSchedules + 1},
		{name: "deadline bounds the count", cronJob: newCronJob(func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = ptr.To[int64](200) }),
			now: created.Add(1000 * time.Hour), want: created.Add(1000 * time.Hour), wantMissed: 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, missed := mostRecentScheduleTime(tc.cronJob, tc.now, everyMinute)
			if !got.Equal(tc.want) || missed != tc.wantMissed {
				t.Errorf("got %v (%d missed), want %v (%d missed)", got, missed, tc.want, tc.wantMissed)
			}
		})
	}
}
