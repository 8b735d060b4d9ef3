package cronjob

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/test/framework"
)

const waitTimeout = 30 * time.Second

// startController runs a cluster and this controller on a fake clock
// that starts at the real time.
func startController(t *testing.T) (context.Context, kubernetes.Interface, *clocktesting.FakeClock) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts a cluster")
	}
	cluster := framework.StartInProcess(t, framework.Options{})
	client := cluster.Client(t)
	ctx := t.Context()
	clock := clocktesting.NewFakeClock(time.Now())
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory.Batch().V1().Jobs(), factory.Batch().V1().CronJobs(), WithClock(clock))
	factory.Start(ctx.Done())
	done := make(chan error, 1)
	go func() { done <- c.Start(ctx) }()
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("controller: %v", err)
		}
		factory.Shutdown()
	})
	return ctx, client, clock
}

func apiCronJob(name string, policy batchv1.ConcurrencyPolicy) *batchv1.CronJob {
	cj := newCronJob()
	cj.ObjectMeta = metav1.ObjectMeta{Name: name}
	cj.Spec.Schedule = "* * * * *"
	cj.Spec.ConcurrencyPolicy = policy
	return cj
}

// jobsOf lists the Jobs a CronJob created.
func jobsOf(ctx context.Context, client kubernetes.Interface, cj *batchv1.CronJob) ([]batchv1.Job, error) {
	list, err := client.BatchV1().Jobs("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []batchv1.Job
	for _, j := range list.Items {
		if metav1.IsControlledBy(&j, cj) {
			out = append(out, j)
		}
	}
	return out, nil
}

// nextMinute steps clock just past the next whole minute after from.
func nextMinute(clock *clocktesting.FakeClock, from time.Time) time.Time {
	next := from.Truncate(time.Minute).Add(time.Minute)
	clock.SetTime(next.Add(time.Second))
	return next
}

func TestIntegrationCronJob(t *testing.T) {
	ctx, client, clock := startController(t)
	cronJobs := client.BatchV1().CronJobs("default")
	cj, err := cronJobs.Create(ctx, apiCronJob("tick", batchv1.ForbidConcurrent), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first := nextMinute(clock, cj.CreationTimestamp.Time)
	var jobs []batchv1.Job
	framework.WaitFor(t, waitTimeout, "the first job", func() (bool, error) {
		jobs, err = jobsOf(ctx, client, cj)
		return err == nil && len(jobs) == 1, err
	})
	if want := JobName(cj, first); jobs[0].Name != want {
		t.Errorf("job %s, want %s", jobs[0].Name, want)
	}
	framework.WaitFor(t, waitTimeout, "active and lastScheduleTime", func() (bool, error) {
		got, err := cronJobs.Get(ctx, "tick", metav1.GetOptions{})
		return err == nil && len(got.Status.Active) == 1 && got.Status.LastScheduleTime != nil && got.Status.LastScheduleTime.Time.Equal(first), err
	})

	// Forbid: the next minute starts nothing while the job runs.
	second := nextMinute(clock, first)
	framework.WaitFor(t, waitTimeout, "a JobAlreadyActive event", func() (bool, error) {
		events, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=tick"})
		if err != nil {
			return false, err
		}
		for _, e := range events.Items {
			if e.Reason == "JobAlreadyActive" {
				return true, nil
			}
		}
		return false, nil
	})
	if jobs, _ := jobsOf(ctx, client, cj); len(jobs) != 1 {
		t.Fatalf("%d jobs, want 1 while the first runs", len(jobs))
	}

	// The job completes: it leaves the active list.
	job := jobs[0]
	done := metav1.NewTime(second)
	job.Status = batchv1.JobStatus{
		StartTime: &metav1.Time{Time: first}, CompletionTime: &done, Succeeded: 1,
		Conditions: []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: done},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: done},
		},
	}
	if _, err := client.BatchV1().Jobs("default").UpdateStatus(ctx, &job, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("completing the job: %v", err)
	}
	// The first job leaves the active list, and the minute Forbid held
	// back runs now (no startingDeadlineSeconds bounds it).
	framework.WaitFor(t, waitTimeout, "lastSuccessfulTime and the held-back run", func() (bool, error) {
		got, err := cronJobs.Get(ctx, "tick", metav1.GetOptions{})
		return err == nil && got.Status.LastSuccessfulTime != nil && got.Status.LastSuccessfulTime.Time.Equal(second) &&
			len(got.Status.Active) == 1 && got.Status.Active[0].Name == JobName(cj, second), err
	})

	// Suspended over the next minute; resuming runs the minute missed.
	if _, err := cronJobs.Patch(ctx, "tick", "application/merge-patch+json", []byte(`{"spec":{"suspend":true,"concurrencyPolicy":"Allow"}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.WaitFor(t, waitTimeout, "suspend seen", func() (bool, error) {
		got, err := cronJobs.Get(ctx, "tick", metav1.GetOptions{})
		return err == nil && ptr.Deref(got.Spec.Suspend, false), err
	})
	// No startingDeadlineSeconds: the missed minute is still due.
	third := nextMinute(clock, second)
	if _, err := cronJobs.Patch(ctx, "tick", "application/merge-patch+json", []byte(`{"spec":{"suspend":false}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.WaitFor(t, waitTimeout, "the job of the third minute", func() (bool, error) {
		jobs, err := jobsOf(ctx, client, cj)
		if err != nil {
			return false, err
		}
		for _, j := range jobs {
			if j.Name == JobName(cj, third) {
				return true, nil
			}
		}
		return false, nil
	})
}
