package job

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/test/framework"
)

const waitTimeout = 60 * time.Second

func startController(t *testing.T) (context.Context, kubernetes.Interface) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts a cluster")
	}
	cluster := framework.StartInProcess(t, framework.Options{})
	client := cluster.Client(t)
	ctx := t.Context()
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory.Core().V1().Pods(), factory.Batch().V1().Jobs(), WithPodFailureBackoff(100*time.Millisecond, time.Second))
	factory.Start(ctx.Done())
	done := make(chan error, 1)
	go func() { done <- c.Start(ctx) }()
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("controller: %v", err)
		}
		factory.Shutdown()
	})
	return ctx, client
}

// apiJob is a Job as a user writes it.
func apiJob(name string, opts ...jobOpt) *batchv1.Job {
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{
			Completions: ptr.To[int32](1),
			Parallelism: ptr.To[int32](1),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
			}},
		},
	}
	for _, o := range opts {
		o(job)
	}
	return job
}

// activePods lists the job's pods that have not finished.
func activePods(ctx context.Context, client kubernetes.Interface, job string) ([]corev1.Pod, error) {
	list, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + job})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, pod := range list.Items {
		if pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed && pod.DeletionTimestamp == nil {
			out = append(out, pod)
		}
	}
	return out, nil
}

// finishPods plays the node agent: it waits for n active pods of job
// and ends them in phase.
func finishPods(ctx context.Context, t *testing.T, client kubernetes.Interface, job string, n int, phase corev1.PodPhase) {
	t.Helper()
	var pods []corev1.Pod
	framework.WaitFor(t, waitTimeout, "active pods of "+job, func() (bool, error) {
		var err error
		pods, err = activePods(ctx, client, job)
		return err == nil && len(pods) >= n, err
	})
	for i := 0; i < n; i++ {
		pod := pods[i]
		pod.Status.Phase = phase
		if _, err := client.CoreV1().Pods("default").UpdateStatus(ctx, &pod, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("finishing %s: %v", pod.Name, err)
		}
	}
}

func waitJob(ctx context.Context, t *testing.T, client kubernetes.Interface, name, what string, cond func(*batchv1.Job) bool) *batchv1.Job {
	t.Helper()
	var job *batchv1.Job
	framework.WaitFor(t, waitTimeout, what, func() (bool, error) {
		var err error
		job, err = client.BatchV1().Jobs("default").Get(ctx, name, metav1.GetOptions{})
		return err == nil && cond(job), err
	})
	return job
}

func hasTrue(job *batchv1.Job, t batchv1.JobConditionType) bool {
	c := findCondition(job, t)
	return c != nil && c.Status == corev1.ConditionTrue
}

func TestIntegrationJobCompletes(t *testing.T) {
	ctx, client := startController(t)
	if _, err := client.BatchV1().Jobs("default").Create(ctx, apiJob("pi", func(j *batchv1.Job) { j.Spec.Completions = ptr.To[int32](2) }), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	finishPods(ctx, t, client, "pi", 1, corev1.PodSucceeded)
	waitJob(ctx, t, client, "pi", "one success counted", func(j *batchv1.Job) bool { return j.Status.Succeeded == 1 })
	finishPods(ctx, t, client, "pi", 1, corev1.PodSucceeded)
	job := waitJob(ctx, t, client, "pi", "job Complete", func(j *batchv1.Job) bool { return hasTrue(j, batchv1.JobComplete) })
	if job.Status.Succeeded != 2 || job.Status.Failed != 0 || job.Status.Active != 0 || job.Status.CompletionTime == nil || job.Status.StartTime == nil {
		t.Errorf("status = %+v", job.Status)
	}
	if !hasTrue(job, batchv1.JobSuccessCriteriaMet) {
		t.Errorf("conditions = %+v, want SuccessCriteriaMet too", job.Status.Conditions)
	}
	pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=pi"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 2 {
		t.Errorf("%d pods, want 2", len(pods.Items))
	}
	for _, pod := range pods.Items {
		if hasTrackingFinalizer(&pod) {
			t.Errorf("pod %s still holds the tracking finalizer", pod.Name)
		}
	}
}

func TestIntegrationJobFails(t *testing.T) {
	ctx, client := startController(t)
	if _, err := client.BatchV1().Jobs("default").Create(ctx, apiJob("flaky", func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr.To[int32](1) }), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	finishPods(ctx, t, client, "flaky", 1, corev1.PodFailed)
	waitJob(ctx, t, client, "flaky", "one failure counted", func(j *batchv1.Job) bool { return j.Status.Failed == 1 })
	// Replaced after the back-off; failing again exceeds the limit.
	finishPods(ctx, t, client, "flaky", 1, corev1.PodFailed)
	job := waitJob(ctx, t, client, "flaky", "job Failed", func(j *batchv1.Job) bool { return hasTrue(j, batchv1.JobFailed) })
	if c := findCondition(job, batchv1.JobFailed); c.Reason != batchv1.JobReasonBackoffLimitExceeded || job.Status.Failed != 2 {
		t.Errorf("Failed condition %+v with %d failures, want BackoffLimitExceeded and 2", c, job.Status.Failed)
	}
	framework.WaitFor(t, waitTimeout, "a BackoffLimitExceeded event", func() (bool, error) {
		events, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=flaky"})
		if err != nil {
			return false, err
		}
		for _, e := range events.Items {
			if e.Reason == batchv1.JobReasonBackoffLimitExceeded && e.Type == corev1.EventTypeWarning {
				return true, nil
			}
		}
		return false, nil
	})
}

func TestIntegrationJobDeadline(t *testing.T) {
	ctx, client := startController(t)
	if _, err := client.BatchV1().Jobs("default").Create(ctx, apiJob("slow", func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptr.To[int64](1) }), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	job := waitJob(ctx, t, client, "slow", "job Failed", func(j *batchv1.Job) bool { return hasTrue(j, batchv1.JobFailed) })
	if c := findCondition(job, batchv1.JobFailed); c.Reason != batchv1.JobReasonDeadlineExceeded {
		t.Errorf("Failed condition %+v, want DeadlineExceeded", c)
	}
	framework.WaitFor(t, waitTimeout, "its pod gone", func() (bool, error) {
		pods, err := activePods(ctx, client, "slow")
		return err == nil && len(pods) == 0, err
	})
}

func TestIntegrationIndexedSuspendAndTTL(t *testing.T) {
	ctx, client := startController(t)
	job := apiJob("idx", func(j *batchv1.Job) {
		j.Spec.Completions, j.Spec.Parallelism = ptr.To[int32](3), ptr.To[int32](3)
		j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
		j.Spec.Suspend = ptr.To(true)
		j.Spec.TTLSecondsAfterFinished = ptr.To[int32](0)
	})
	if _, err := client.BatchV1().Jobs("default").Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitJob(ctx, t, client, "idx", "Suspended", func(j *batchv1.Job) bool { return hasTrue(j, batchv1.JobSuspended) })
	if pods, _ := activePods(ctx, client, "idx"); len(pods) != 0 {
		t.Fatalf("%d pods of a suspended job", len(pods))
	}
	if _, err := client.BatchV1().Jobs("default").Patch(ctx, "idx", types.MergePatchType, []byte(`{"spec":{"suspend":false}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.WaitFor(t, waitTimeout, "three indexed pods", func() (bool, error) {
		pods, err := activePods(ctx, client, "idx")
		if err != nil || len(pods) != 3 {
			return false, err
		}
		seen := map[string]bool{}
		for _, pod := range pods {
			seen[pod.Annotations[batchv1.JobCompletionIndexAnnotation]+"/"+pod.Spec.Hostname] = true
		}
		return seen["0/idx-0"] && seen["1/idx-1"] && seen["2/idx-2"], nil
	})
	finishPods(ctx, t, client, "idx", 3, corev1.PodSucceeded)
	// TTL 0: deleted as soon as it finished. The foreground deletion
	// waits for the garbage collector, which this test does not run.
	framework.WaitFor(t, waitTimeout, "the finished job deleted", func() (bool, error) {
		got, err := client.BatchV1().Jobs("default").Get(ctx, "idx", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		if got.DeletionTimestamp != nil {
			if got.Status.CompletedIndexes != "0-2" || !hasTrue(got, batchv1.JobComplete) {
				t.Fatalf("deleted job status %+v, want Complete with 0-2", got.Status)
			}
			return true, nil
		}
		return false, nil
	})
}
