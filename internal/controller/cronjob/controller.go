package cronjob

import (
	"context"
	"fmt"
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	batchinformers "k8s.io/client-go/informers/batch/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/tools/reference"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/controller"
)

// eventSource is the component name on this controller's events.
const eventSource = "cronjob-controller"

// nextScheduleDelta is added to the wait for the next scheduled time, so
// the sync surely runs at or after it.
const nextScheduleDelta = 100 * time.Millisecond

// maxMissedSchedules is how many missed times are tolerated before a
// TooManyMissedTimes warning.
const maxMissedSchedules = 100

var controllerKind = batchv1.SchemeGroupVersion.WithKind("CronJob")

// Controller runs CronJobs. Create it with New and run it with Start.
type Controller struct {
	client   kubernetes.Interface
	jobs     batchlisters.JobLister
	cronJobs batchlisters.CronJobLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	clock    clock.WithTicker

	// recorder is set by Start (or by tests).
	recorder record.EventRecorder
}

// Option changes how New builds the controller.
type Option func(*Controller)

// WithClock makes the controller read the time from clk and run its
// queue's delays on it (tests pass a fake clock).
func WithClock(clk clock.WithTicker) Option {
	return func(c *Controller) { c.clock = clk }
}

// New returns a controller fed by the Job and CronJob informers of one
// shared factory. It registers its event handlers now.
func New(client kubernetes.Interface, jobInformer batchinformers.JobInformer, cronJobInformer batchinformers.CronJobInformer, opts ...Option) *Controller {
	c := &Controller{
		client:   client,
		jobs:     jobInformer.Lister(),
		cronJobs: cronJobInformer.Lister(),
		synced:   []cache.InformerSynced{jobInformer.Informer().HasSynced, cronJobInformer.Informer().HasSynced},
		clock:    clock.RealClock{},
	}
	for _, o := range opts {
		o(c)
	}
	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "cronjob", Clock: c.clock})
	_, _ = cronJobInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj interface{}) { c.enqueue(obj) },
	})
	_, _ = jobInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.jobChanged,
		UpdateFunc: func(_, obj interface{}) { c.jobChanged(obj) },
		DeleteFunc: c.jobChanged,
	})
	return c
}

// Start waits for the caches, then runs CronJobs until ctx ends. It
// returns nil when ctx ends, or an error if the caches never synced.
func (c *Controller) Start(ctx context.Context) error {
	if c.recorder == nil {
		recorder, stop := controller.NewEventRecorder(c.client, eventSource)
		defer stop()
		c.recorder = recorder
	}
	if err := controller.WaitForCaches(ctx, "cronjob", c.synced...); err != nil {
		c.queue.ShutDown()
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	controller.RunWorkers(ctx, c.queue, 2, c.sync)
	return nil
}

func (c *Controller) enqueue(obj interface{}) {
	key, err := controller.KeyFunc(obj)
	if err != nil {
		return
	}
	c.queue.Add(key)
}

// jobChanged requeues the CronJob that controls a Job.
func (c *Controller) jobChanged(obj interface{}) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return
	}
	ref := metav1.GetControllerOfNoCopy(job)
	if ref == nil || ref.Kind != controllerKind.Kind || ref.APIVersion != batchv1.SchemeGroupVersion.String() {
		return
	}
	c.queue.Add(job.Namespace + "/" + ref.Name)
}

// sync runs one CronJob (key "namespace/name").
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := controller.SplitKey(key)
	if err != nil {
		return nil
	}
	shared, err := c.cronJobs.CronJobs(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cronjob: reading %s: %w", key, err)
	}
	jobs, err := c.ownedJobs(shared)
	if err != nil {
		return err
	}
	cj := shared.DeepCopy()
	requeueAfter, updateStatus, syncErr := c.syncCronJob(ctx, cj, jobs)
	if c.cleanupFinishedJobs(ctx, cj, jobs) {
		updateStatus = true
	}
	if updateStatus {
		if _, err := c.client.BatchV1().CronJobs(namespace).UpdateStatus(ctx, cj, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("cronjob: updating status of %s: %w", key, err)
		}
	}
	if requeueAfter != nil {
		klog.FromContext(ctx).V(4).Info("cronjob requeued", "cronjob", klog.KObj(cj), "after", *requeueAfter)
		c.queue.AddAfter(key, *requeueAfter)
	}
	return syncErr
}

// ownedJobs lists the Jobs cj controls.
func (c *Controller) ownedJobs(cj *batchv1.CronJob) ([]*batchv1.Job, error) {
	all, err := c.jobs.Jobs(cj.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("cronjob: listing jobs in %s: %w", cj.Namespace, err)
	}
	var owned []*batchv1.Job
	for _, job := range all {
		if ref := metav1.GetControllerOfNoCopy(job); ref != nil && ref.UID == cj.UID {
			owned = append(owned, job)
		}
	}
	return owned, nil
}

// syncCronJob updates cj's status in place from its jobs and starts the
// Job that is due. It returns when to look again (nil: only on a change),
// whether the status changed, and an error worth a rate-limited retry.
func (c *Controller) syncCronJob(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) (*time.Duration, bool, error) {
	logger := klog.FromContext(ctx)
	now := c.clock.Now()
	updateStatus := false

	children := map[types.UID]bool{}
	for _, job := range jobs {
		children[job.UID] = true
		active := inActiveList(cj, job.UID)
		finished, finishedType := jobFinished(job)
		switch {
		case !active && !finished:
			c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnexpectedJob", "Saw a job that the controller did not create or forgot: %s", job.Name)
		case active && finished:
			deleteFromActiveList(cj, job.UID)
			c.recorder.Eventf(cj, corev1.EventTypeNormal, "SawCompletedJob", "Saw completed job: %s, status: %v", job.Name, finishedType)
			updateStatus = true
		}
		if finished && finishedType == batchv1.JobComplete && job.Status.CompletionTime != nil {
			if last := cj.Status.LastSuccessfulTime; last == nil || job.Status.CompletionTime.After(last.Time) {
				cj.Status.LastSuccessfulTime = job.Status.CompletionTime.DeepCopy()
				updateStatus = true
			}
		}
	}
	// Active Jobs missing from the cache: ask the API server before
	// dropping them, the cache may be behind.
	for _, ref := range append([]corev1.ObjectReference(nil), cj.Status.Active...) {
		if children[ref.UID] {
			continue
		}
		_, err := c.client.BatchV1().Jobs(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			c.recorder.Eventf(cj, corev1.EventTypeNormal, "MissingJob", "Active job went missing: %v", ref.Name)
			deleteFromActiveList(cj, ref.UID)
			updateStatus = true
		case err != nil:
			return nil, updateStatus, fmt.Errorf("cronjob: reading job %s/%s: %w", ref.Namespace, ref.Name, err)
		}
	}

	if cj.DeletionTimestamp != nil {
		return nil, updateStatus, nil
	}
	loc := time.Local
	if tz := cj.Spec.TimeZone; tz != nil {
		var err error
		if loc, err = time.LoadLocation(*tz); err != nil {
			c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnknownTimeZone", "invalid timeZone: %q: %s", *tz, err)
			return nil, updateStatus, nil
		}
	}
	if ptr.Deref(cj.Spec.Suspend, false) {
		logger.V(4).Info("not starting job: cronjob suspended", "cronjob", klog.KObj(cj))
		return nil, updateStatus, nil
	}
	sched, err := ParseSchedule(cj.Spec.Schedule)
	if err != nil {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnparseableSchedule", "unparseable schedule: %q : %s", cj.Spec.Schedule, err)
		return nil, updateStatus, nil
	}
	// Without a TZ= prefix the schedule runs in the CronJob's zone.
	now = now.In(loc)

	scheduled, missed := mostRecentScheduleTime(cj, now, sched)
	if missed > maxMissedSchedules {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "TooManyMissedTimes",
			"too many missed start times: %d. Set or decrease .spec.startingDeadlineSeconds or check clock skew", missed)
	}
	next := nextScheduleDuration(now, sched)
	if scheduled.IsZero() {
		return next, updateStatus, nil
	}
	if sds := cj.Spec.StartingDeadlineSeconds; sds != nil && scheduled.Add(time.Duration(*sds)*time.Second).Before(now) {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "MissSchedule", "Missed scheduled time to start a job: %s", scheduled.UTC().Format(time.RFC1123Z))
		return next, updateStatus, nil
	}
	jobName := JobName(cj, scheduled)
	if inActiveListByName(cj, jobName) || (cj.Status.LastScheduleTime != nil && cj.Status.LastScheduleTime.Time.Equal(scheduled)) {
		return next, updateStatus, nil
	}
	if cj.Spec.ConcurrencyPolicy == batchv1.ForbidConcurrent && len(cj.Status.Active) > 0 {
		c.recorder.Event(cj, corev1.EventTypeNormal, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid")
		return next, updateStatus, nil
	}
	if cj.Spec.ConcurrencyPolicy == batchv1.ReplaceConcurrent {
		for _, ref := range append([]corev1.ObjectReference(nil), cj.Status.Active...) {
			logger.V(4).Info("deleting job still running at the next scheduled time", "job", klog.KRef(ref.Namespace, ref.Name))
			if err := c.deleteJob(ctx, cj, ref.Name, ref.UID); err != nil {
				return nil, updateStatus, err
			}
			updateStatus = true
		}
	}

	created, err := c.client.BatchV1().Jobs(cj.Namespace).Create(ctx, jobFromTemplate(cj, scheduled, loc), metav1.CreateOptions{})
	switch {
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return nil, updateStatus, fmt.Errorf("cronjob: creating job %s/%s: %w", cj.Namespace, jobName, err)
	case apierrors.IsAlreadyExists(err):
		// Created by an earlier sync that did not get to record it,
		// or by someone else.
		existing, getErr := c.client.BatchV1().Jobs(cj.Namespace).Get(ctx, jobName, metav1.GetOptions{})
		if getErr != nil {
			return nil, updateStatus, fmt.Errorf("cronjob: reading job %s/%s: %w", cj.Namespace, jobName, getErr)
		}
		if !metav1.IsControlledBy(existing, cj) || inActiveList(cj, existing.UID) {
			return next, updateStatus, nil
		}
		logger.Info("job already exists", "cronjob", klog.KObj(cj), "job", jobName)
		created = existing
	case err != nil:
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedCreate", "Error creating job: %v", err)
		return nil, updateStatus, fmt.Errorf("cronjob: creating job %s/%s: %w", cj.Namespace, jobName, err)
	default:
		logger.V(2).Info("created job", "cronjob", klog.KObj(cj), "job", jobName, "scheduled", scheduled)
		c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulCreate", "Created job %v", created.Name)
	}
	ref, err := reference.GetReference(scheme.Scheme, created)
	if err != nil {
		return nil, updateStatus, fmt.Errorf("cronjob: reference to job %s: %w", created.Name, err)
	}
	cj.Status.Active = append(cj.Status.Active, *ref)
	cj.Status.LastScheduleTime = &metav1.Time{Time: scheduled}
	return next, true, nil
}

// JobName is the name of the Job a CronJob starts for scheduled: the
// CronJob's name and the time in minutes since the Unix epoch.
func JobName(cj *batchv1.CronJob, scheduled time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, scheduled.Unix()/60)
}

// jobFromTemplate builds the Job of cj for scheduled.
func jobFromTemplate(cj *batchv1.CronJob, scheduled time.Time, loc *time.Location) *batchv1.Job {
	labels := map[string]string{}
	for k, v := range cj.Spec.JobTemplate.Labels {
		labels[k] = v
	}
	annotations := map[string]string{}
	for k, v := range cj.Spec.JobTemplate.Annotations {
		annotations[k] = v
	}
	annotations[batchv1.CronJobScheduledTimestampAnnotation] = scheduled.In(loc).Format(time.RFC3339)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:            JobName(cj, scheduled),
			Namespace:       cj.Namespace,
			Labels:          labels,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, controllerKind)},
		},
	}
	cj.Spec.JobTemplate.Spec.DeepCopyInto(&job.Spec)
	return job
}

// mostRecentScheduleTime returns the latest scheduled time not after now
// and not yet considered (after lastScheduleTime, or the creation time;
// and within startingDeadlineSeconds when set), and how many such times
// there are (counted up to maxMissedSchedules+1). It returns the zero
// time when none is due.
func mostRecentScheduleTime(cj *batchv1.CronJob, now time.Time, sched Schedule) (time.Time, int) {
	earliest := cj.CreationTimestamp.Time
	if last := cj.Status.LastScheduleTime; last != nil {
		earliest = last.Time
	}
	if sds := cj.Spec.StartingDeadlineSeconds; sds != nil {
		if window := now.Add(-time.Duration(*sds) * time.Second); window.After(earliest) {
			earliest = window
		}
	}
	// The schedule reads wall clocks in now's zone.
	t := sched.Next(earliest.In(now.Location()))
	if t.IsZero() || t.After(now) {
		return time.Time{}, 0
	}
	missed := 1
	for missed <= maxMissedSchedules {
		n := sched.Next(t)
		if n.IsZero() || n.After(now) {
			return t, missed
		}
		t, missed = n, missed+1
	}
	// Too many to walk: look back from now over windows that double
	// until one holds a scheduled time, then walk that window.
	for window := time.Minute; ; window *= 2 {
		start := now.Add(-window)
		if !start.After(t) {
			start = t
		}
		found := sched.Next(start)
		if !found.IsZero() && !found.After(now) {
			for {
				n := sched.Next(found)
				if n.IsZero() || n.After(now) {
					return found, missed
				}
				found = n
			}
		}
		if start.Equal(t) {
			return t, missed
		}
	}
}

// nextScheduleDuration is how long until just after the next scheduled
// time.
func nextScheduleDuration(now time.Time, sched Schedule) *time.Duration {
	next := sched.Next(now)
	if next.IsZero() {
		return nil
	}
	d := next.Sub(now) + nextScheduleDelta
	return &d
}

// cleanupFinishedJobs deletes the oldest finished Jobs beyond the history
// limits; it reports whether the status changed.
func (c *Controller) cleanupFinishedJobs(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) bool {
	if cj.Spec.SuccessfulJobsHistoryLimit == nil && cj.Spec.FailedJobsHistoryLimit == nil {
		return false
	}
	var succeeded, failed []*batchv1.Job
	for _, job := range jobs {
		if job.DeletionTimestamp != nil {
			continue
		}
		switch finished, kind := jobFinished(job); {
		case finished && kind == batchv1.JobComplete:
			succeeded = append(succeeded, job)
		case finished && kind == batchv1.JobFailed:
			failed = append(failed, job)
		}
	}
	changed := false
	if limit := cj.Spec.SuccessfulJobsHistoryLimit; limit != nil && c.removeOldestJobs(ctx, cj, succeeded, int(*limit)) {
		changed = true
	}
	if limit := cj.Spec.FailedJobsHistoryLimit; limit != nil && c.removeOldestJobs(ctx, cj, failed, int(*limit)) {
		changed = true
	}
	return changed
}

// removeOldestJobs deletes the jobs beyond keep, oldest start first.
func (c *Controller) removeOldestJobs(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job, keep int) bool {
	surplus := len(jobs) - keep
	if surplus <= 0 {
		return false
	}
	sort.SliceStable(jobs, func(i, j int) bool { return jobStartedBefore(jobs[i], jobs[j]) })
	changed := false
	for _, job := range jobs[:surplus] {
		if err := c.deleteJob(ctx, cj, job.Name, job.UID); err != nil {
			klog.FromContext(ctx).Error(err, "deleting old job", "cronjob", klog.KObj(cj), "job", job.Name)
			continue
		}
		changed = true
	}
	return changed
}

// jobStartedBefore orders jobs by start time (unstarted last), then name.
func jobStartedBefore(a, b *batchv1.Job) bool {
	switch {
	case a.Status.StartTime == nil && b.Status.StartTime == nil:
		return a.Name < b.Name
	case a.Status.StartTime == nil:
		return false
	case b.Status.StartTime == nil:
		return true
	case a.Status.StartTime.Equal(b.Status.StartTime):
		return a.Name < b.Name
	}
	return a.Status.StartTime.Before(b.Status.StartTime)
}

// deleteJob deletes a Job and its pods (background propagation) and
// drops it from the active list.
func (c *Controller) deleteJob(ctx context.Context, cj *batchv1.CronJob, name string, uid types.UID) error {
	background := metav1.DeletePropagationBackground
	err := c.client.BatchV1().Jobs(cj.Namespace).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &background})
	if err != nil && !apierrors.IsNotFound(err) {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedDelete", "Deleted job: %v", err)
		return fmt.Errorf("cronjob: deleting job %s/%s: %w", cj.Namespace, name, err)
	}
	deleteFromActiveList(cj, uid)
	c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job %v", name)
	return nil
}

// jobFinished reports whether a Job has a true Complete or Failed
// condition, and which.
func jobFinished(job *batchv1.Job) (bool, batchv1.JobConditionType) {
	for _, cond := range job.Status.Conditions {
		if (cond.Type == batchv1.JobComplete || cond.Type == batchv1.JobFailed) && cond.Status == corev1.ConditionTrue {
			return true, cond.Type
		}
	}
	return false, ""
}

func inActiveList(cj *batchv1.CronJob, uid types.UID) bool {
	for _, ref := range cj.Status.Active {
		if ref.UID == uid {
			return true
		}
	}
	return false
}

func inActiveListByName(cj *batchv1.CronJob, name string) bool {
	for _, ref := range cj.Status.Active {
		if ref.Name == name && ref.Namespace == cj.Namespace {
			return true
		}
	}
	return false
}

func deleteFromActiveList(cj *batchv1.CronJob, uid types.UID) {
	var keep []corev1.ObjectReference
	for _, ref := range cj.Status.Active {
		if ref.UID != uid {
			keep = append(keep, ref)
		}
	}
	cj.Status.Active = keep
}
