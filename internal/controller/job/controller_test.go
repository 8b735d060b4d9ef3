package job

import (
	"fmt"
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

	"github.com/navarch/navarch/internal/controller/controllertest"
)

var now = time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)

type harness struct {
	c          *Controller
	client     *fake.Clientset
	podControl *controllertest.FakePodControl
	recorder   *record.FakeRecorder
}

func newHarness(t testing.TB, job *batchv1.Job, pods ...*corev1.Pod) *harness {
	t.Helper()
	objs := []runtime.Object{job}
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	podInformer := factory.Core().V1().Pods()
	jobInformer := factory.Batch().V1().Jobs()
	c := New(client, podInformer, jobInformer, WithClock(clocktesting.NewFakeClock(now)))
	if err := jobInformer.Informer().GetIndexer().Add(job); err != nil {
		t.Fatal(err)
	}
	for _, pod := range pods {
		if err := podInformer.Informer().GetIndexer().Add(pod); err != nil {
			t.Fatal(err)
		}
	}
	h := &harness{c: c, client: client, podControl: &controllertest.FakePodControl{}, recorder: record.NewFakeRecorder(100)}
	c.podControl, c.recorder = h.podControl, h.recorder
	return h
}

func (h *harness) sync(t *testing.T) *batchv1.Job {
	t.Helper()
	if err := h.c.syncJob(t.Context(), "default/work"); err != nil {
		t.Fatalf("syncJob: %v", err)
	}
	job, err := h.client.BatchV1().Jobs("default").Get(t.Context(), "work", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get job: %v", err)
	}
	return job
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

type jobOpt func(*batchv1.Job)

func newJob(opts ...jobOpt) *batchv1.Job {
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "work", Namespace: "default", UID: "job-uid", ResourceVersion: "1"},
		Spec: batchv1.JobSpec{
			Completions:    ptr.To[int32](3),
			Parallelism:    ptr.To[int32](2),
			BackoffLimit:   ptr.To[int32](6),
			CompletionMode: ptr.To(batchv1.NonIndexedCompletion),
			Suspend:        ptr.To(false),
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: "job-uid"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{batchv1.ControllerUidLabel: "job-uid", batchv1.JobNameLabel: "work"}},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
				},
			},
		},
	}
	for _, o := range opts {
		o(job)
	}
	return job
}

func started(ago time.Duration) jobOpt {
	return func(j *batchv1.Job) { j.Status.StartTime = &metav1.Time{Time: now.Add(-ago)} }
}

type podOpt func(*corev1.Pod)

var podSeq int

func newPod(phase corev1.PodPhase, opts ...podOpt) *corev1.Pod {
	podSeq++
	job := newJob()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("work-%d", podSeq), Namespace: "default", UID: types.UID(fmt.Sprintf("pod-%d", podSeq)),
			Labels:            job.Spec.Template.Labels,
			OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(job, controllerKind)},
			Finalizers:        []string{batchv1.JobTrackingFinalizer},
			CreationTimestamp: metav1.NewTime(now.Add(-time.Hour)),
		},
		Status: corev1.PodStatus{Phase: phase},
	}
	for _, o := range opts {
		o(pod)
	}
	return pod
}

func ready(p *corev1.Pod) {
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
}

func noFinalizer(p *corev1.Pod) { p.Finalizers = nil }

func failedAt(at time.Time) podOpt {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, FinishedAt: metav1.NewTime(at)}}}}
	}
}

func withIndex(ix int) podOpt {
	return func(p *corev1.Pod) {
		p.Annotations = map[string]string{batchv1.JobCompletionIndexAnnotation: fmt.Sprint(ix)}
	}
}

func condition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	return findCondition(job, t)
}

func hasEvent(events []string, prefix string) bool {
	for _, e := range events {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}

func TestSyncJobCounts(t *testing.T) {
	tests := []struct {
		name          string
		job           *batchv1.Job
		pods          []*corev1.Pod
		wantCreates   int
		wantDeletes   int
		wantPatches   int
		wantActive    int32
		wantReady     int32
		wantSucceeded int32
		wantFailed    int32
		wantCondition batchv1.JobConditionType
		wantReason    string
		wantEvent     string
	}{
		{
			name: "new job starts parallelism pods", job: newJob(),
			wantCreates: 2, wantActive: 2,
		},
		{
			name: "a success is counted once and its finalizer removed", job: newJob(started(time.Minute)),
			pods:        []*corev1.Pod{newPod(corev1.PodSucceeded), newPod(corev1.PodRunning, ready), newPod(corev1.PodRunning)},
			wantPatches: 1, wantActive: 2, wantReady: 1, wantSucceeded: 1,
		},
		{
			name: "a pod already counted is not counted again", job: newJob(started(time.Minute), func(j *batchv1.Job) { j.Status.Succeeded = 1 }),
			pods:          []*corev1.Pod{newPod(corev1.PodSucceeded, noFinalizer), newPod(corev1.PodRunning), newPod(corev1.PodRunning)},
			wantActive:    2,
			wantSucceeded: 1,
		},
		{
			name: "enough successes complete the job", job: newJob(started(time.Minute), func(j *batchv1.Job) { j.Status.Succeeded = 1 }),
			pods:        []*corev1.Pod{newPod(corev1.PodSucceeded), newPod(corev1.PodSucceeded)},
			wantPatches: 2, wantSucceeded: 3, wantCondition: batchv1.JobComplete, wantReason: batchv1.JobReasonCompletionsReached,
			wantEvent: "Normal Completed Job completed",
		},
		{
			name: "without completions one success ends the job once the rest stop", job: newJob(started(time.Minute), func(j *batchv1.Job) { j.Spec.Completions = nil }),
			pods:        []*corev1.Pod{newPod(corev1.PodSucceeded), newPod(corev1.PodRunning)},
			wantPatches: 1, wantActive: 1, wantSucceeded: 1,
		},
		{
			name: "failures beyond backoffLimit fail the job", job: newJob(started(time.Minute), func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr.To[int32](1) }),
			pods:        []*corev1.Pod{newPod(corev1.PodFailed), newPod(corev1.PodFailed)},
			wantPatches: 2, wantFailed: 2, wantCondition: batchv1.JobFailed, wantReason: batchv1.JobReasonBackoffLimitExceeded,
			wantEvent: "Warning BackoffLimitExceeded Job has reached the specified backoff limit",
		},
		{
			name: "active deadline deletes the pods and waits for them", job: newJob(started(time.Minute), func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptr.To[int64](30) }),
			pods:        []*corev1.Pod{newPod(corev1.PodRunning), newPod(corev1.PodRunning)},
			wantDeletes: 2, wantPatches: 2, wantFailed: 2, wantCondition: batchv1.JobFailureTarget, wantReason: batchv1.JobReasonDeadlineExceeded,
		},
		{
			name: "a recent failure delays its replacement", job: newJob(started(time.Minute)),
			pods:        []*corev1.Pod{newPod(corev1.PodFailed, failedAt(now.Add(-time.Second))), newPod(corev1.PodRunning)},
			wantPatches: 1, wantActive: 1, wantFailed: 1,
		},
		{
			name: "an old failure is replaced", job: newJob(started(time.Hour)),
			pods:        []*corev1.Pod{newPod(corev1.PodFailed, failedAt(now.Add(-time.Minute))), newPod(corev1.PodRunning)},
			wantCreates: 1, wantPatches: 1, wantActive: 2, wantFailed: 1,
		},
		{
			name: "lower parallelism deletes pods, not-ready first", job: newJob(started(time.Minute), func(j *batchv1.Job) { j.Spec.Parallelism = ptr.To[int32](1) }),
			pods:        []*corev1.Pod{newPod(corev1.PodRunning, ready), newPod(corev1.PodPending)},
			wantDeletes: 1, wantPatches: 1, wantActive: 1, wantReady: 1,
		},
		{
			name: "suspend deletes the active pods", job: newJob(started(time.Minute), func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) }),
			pods:        []*corev1.Pod{newPod(corev1.PodRunning), newPod(corev1.PodRunning)},
			wantDeletes: 2, wantPatches: 2, wantCondition: batchv1.JobSuspended, wantReason: "JobSuspended",
			wantEvent: "Normal Suspended Job suspended",
		},
		{
			name: "uncounted pods that are gone are counted",
			job: newJob(started(time.Minute), func(j *batchv1.Job) {
				j.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Succeeded: []types.UID{"gone-1"}, Failed: []types.UID{"gone-2"}}
			}),
			pods:          []*corev1.Pod{newPod(corev1.PodRunning), newPod(corev1.PodRunning)},
			wantActive:    2,
			wantSucceeded: 1, wantFailed: 1,
		},
		{
			name: "a pod deleted before it finished counts as failed", job: newJob(started(time.Hour)),
			pods: []*corev1.Pod{newPod(corev1.PodRunning, func(p *corev1.Pod) {
				p.DeletionTimestamp = &metav1.Time{Time: now.Add(-time.Minute)}
			}), newPod(corev1.PodRunning)},
			wantPatches: 1, wantCreates: 1, wantActive: 2, wantFailed: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.job, tc.pods...)
			job := h.sync(t)
			if got := len(h.podControl.Pods); got != tc.wantCreates {
				t.Errorf("pods created = %d, want %d", got, tc.wantCreates)
			}
			if got := len(h.podControl.DeletePodNames); got != tc.wantDeletes {
				t.Errorf("pods deleted = %d (%v), want %d", got, h.podControl.DeletePodNames, tc.wantDeletes)
			}
			if got := len(h.podControl.Patches); got != tc.wantPatches {
				t.Errorf("pods patched = %d, want %d", got, tc.wantPatches)
			}
			got := []int32{job.Status.Active, ptr.Deref(job.Status.Ready, -1), job.Status.Succeeded, job.Status.Failed}
			want := []int32{tc.wantActive, tc.wantReady, tc.wantSucceeded, tc.wantFailed}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("active, ready, succeeded, failed (-want +got):\n%s", diff)
			}
			if u := job.Status.UncountedTerminatedPods; u != nil && len(u.Succeeded)+len(u.Failed) > 0 && tc.wantPatches > 0 {
				t.Errorf("uncounted pods left after their finalizers were removed: %+v", u)
			}
			if job.Status.StartTime == nil {
				t.Errorf("startTime not set")
			}
			if tc.wantCondition != "" {
				cond := condition(job, tc.wantCondition)
				if cond == nil || cond.Status != corev1.ConditionTrue || cond.Reason != tc.wantReason {
					t.Errorf("condition %s = %+v, want True with reason %s", tc.wantCondition, cond, tc.wantReason)
				}
			} else if jobFinished(job) {
				t.Errorf("job finished with %+v, want it running", job.Status.Conditions)
			}
			if tc.wantCondition == batchv1.JobComplete {
				if job.Status.CompletionTime == nil || condition(job, batchv1.JobSuccessCriteriaMet) == nil {
					t.Errorf("complete job lacks completionTime or SuccessCriteriaMet: %+v", job.Status)
				}
			}
			if tc.wantEvent != "" {
				if events := h.events(); !hasEvent(events, tc.wantEvent) {
					t.Errorf("events = %q, want %q", events, tc.wantEvent)
				}
			}
		})
	}
}

func TestCreatedPods(t *testing.T) {
	h := newHarness(t, newJob(func(j *batchv1.Job) { j.Spec.Parallelism = ptr.To[int32](1) }))
	h.sync(t)
	if len(h.podControl.Pods) != 1 {
		t.Fatalf("created %d pods, want 1", len(h.podControl.Pods))
	}
	pod := h.podControl.Pods[0]
	if diff := cmp.Diff([]string{batchv1.JobTrackingFinalizer}, pod.Finalizers); diff != "" {
		t.Errorf("finalizers (-want +got):\n%s", diff)
	}
	if pod.GenerateName != "work-" {
		t.Errorf("generateName = %q, want work-", pod.GenerateName)
	}
	if ref := h.podControl.ControllerRefs[0]; ref.UID != "job-uid" || ref.Kind != "Job" || !*ref.Controller {
		t.Errorf("controller ref = %+v", ref)
	}
}

func TestIndexedJob(t *testing.T) {
	indexed := func(j *batchv1.Job) { j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion) }
	t.Run("creates the lowest indexes", func(t *testing.T) {
		h := newHarness(t, newJob(indexed))
		h.sync(t)
		var got []string
		for _, pod := range h.podControl.Pods {
			got = append(got, pod.GenerateName+" "+pod.Spec.Hostname+" "+pod.Annotations[batchv1.JobCompletionIndexAnnotation]+" "+pod.Labels[batchv1.JobCompletionIndexAnnotation])
		}
		want := []string{"work-0- work-0 0 0", "work-1- work-1 1 1"}
		if diff := cmp.Diff(want, got, sortStrings); diff != "" {
			t.Errorf("pods (-want +got):\n%s", diff)
		}
		env := h.podControl.Pods[0].Spec.Containers[0].Env
		if len(env) != 1 || env[0].Name != completionIndexEnv || env[0].ValueFrom.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
			t.Errorf("env = %+v, want %s from the index annotation", env, completionIndexEnv)
		}
	})
	t.Run("records completed indexes and fills the gaps", func(t *testing.T) {
		job := newJob(indexed, started(time.Minute), func(j *batchv1.Job) { j.Status.CompletedIndexes = "2"; j.Status.Succeeded = 1 })
		h := newHarness(t, job, newPod(corev1.PodSucceeded, withIndex(1)), newPod(corev1.PodRunning, withIndex(1)))
		got := h.sync(t)
		if got.Status.CompletedIndexes != "1-2" || got.Status.Succeeded != 2 {
			t.Errorf("completedIndexes %q succeeded %d, want 1-2 and 2", got.Status.CompletedIndexes, got.Status.Succeeded)
		}
		// The running pod of a done index is surplus.
		if len(h.podControl.DeletePodNames) != 1 {
			t.Errorf("deleted %v, want the pod of the done index", h.podControl.DeletePodNames)
		}
	})
	t.Run("all indexes done completes", func(t *testing.T) {
		job := newJob(indexed, started(time.Minute), func(j *batchv1.Job) { j.Status.CompletedIndexes = "0,2"; j.Status.Succeeded = 2 })
		h := newHarness(t, job, newPod(corev1.PodSucceeded, withIndex(1)))
		got := h.sync(t)
		if got.Status.CompletedIndexes != "0-2" || !jobFinished(got) || condition(got, batchv1.JobComplete) == nil {
			t.Errorf("status = %+v, want 0-2 and Complete", got.Status)
		}
	})
}

var sortStrings = cmp.Transformer("sort", func(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
})

func TestResume(t *testing.T) {
	job := newJob(func(j *batchv1.Job) {
		j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobSuspended, Status: corev1.ConditionTrue, Reason: "JobSuspended"}}
	})
	h := newHarness(t, job)
	got := h.sync(t)
	cond := condition(got, batchv1.JobSuspended)
	if cond == nil || cond.Status != corev1.ConditionFalse || cond.Reason != "JobResumed" {
		t.Errorf("Suspended condition = %+v, want False JobResumed", cond)
	}
	if len(h.podControl.Pods) != 2 {
		t.Errorf("created %d pods, want 2", len(h.podControl.Pods))
	}
	if got.Status.StartTime == nil || !got.Status.StartTime.Time.Equal(now) {
		t.Errorf("startTime = %v, want now", got.Status.StartTime)
	}
	if events := h.events(); !hasEvent(events, "Normal Resumed Job resumed") {
		t.Errorf("events = %q, want Resumed", events)
	}
}

func TestTTLAfterFinished(t *testing.T) {
	finished := func(ago time.Duration) jobOpt {
		return func(j *batchv1.Job) {
			j.Spec.TTLSecondsAfterFinished = ptr.To[int32](60)
			j.Status.CompletionTime = &metav1.Time{Time: now.Add(-ago)}
			j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
		}
	}
	tests := []struct {
		name        string
		job         *batchv1.Job
		wantDeleted bool
	}{
		{name: "not yet", job: newJob(finished(30 * time.Second))},
		{name: "expired", job: newJob(finished(2 * time.Minute)), wantDeleted: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.job, newPod(corev1.PodSucceeded))
			if err := h.c.syncJob(t.Context(), "default/work"); err != nil {
				t.Fatalf("syncJob: %v", err)
			}
			_, err := h.client.BatchV1().Jobs("default").Get(t.Context(), "work", metav1.GetOptions{})
			if deleted := apierrors.IsNotFound(err); deleted != tc.wantDeleted {
				t.Errorf("deleted = %v, want %v", deleted, tc.wantDeleted)
			}
			if len(h.podControl.Patches) != 1 {
				t.Errorf("patches = %d, want the leftover finalizer removed", len(h.podControl.Patches))
			}
			for _, a := range h.client.Actions() {
				if d, ok := a.(interface{ GetDeleteOptions() metav1.DeleteOptions }); ok {
					if p := d.GetDeleteOptions().PropagationPolicy; p == nil || *p != metav1.DeletePropagationForeground {
						t.Errorf("propagation = %v, want Foreground", p)
					}
				}
			}
		})
	}
}

func TestExpectedFinalizerRemovalsAreNotRecounted(t *testing.T) {
	job := newJob(started(time.Minute), func(j *batchv1.Job) { j.Status.Succeeded = 1 })
	// The cache still shows the finalizer this controller removed.
	pod := newPod(corev1.PodSucceeded)
	h := newHarness(t, job, pod, newPod(corev1.PodRunning), newPod(corev1.PodRunning))
	h.c.finalizerExpectations.expect("default/work", []string{string(pod.UID)})
	got := h.sync(t)
	if got.Status.Succeeded != 1 {
		t.Errorf("succeeded = %d, want 1", got.Status.Succeeded)
	}
	if len(h.podControl.Patches) != 0 {
		t.Errorf("patched %v, want nothing", h.podControl.PatchedPodNames)
	}
}

func TestIndexSet(t *testing.T) {
	tests := []struct {
		in   string
		add  []int
		want string
	}{
		{in: "", add: []int{3, 1, 2}, want: "1-3"},
		{in: "0,2", add: []int{1}, want: "0-2"},
		{in: "1-3,7,12", add: []int{5, 9}, want: "1-3,5,7,9"},
		{in: "bad,4-x,2", add: nil, want: "2"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got := parseIndexSet(tc.in, 10).with(tc.add)
			if got.String() != tc.want {
				t.Errorf("got %q, want %q", got.String(), tc.want)
			}
		})
	}
}
