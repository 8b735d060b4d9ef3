package job

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/controller"
)

// maxUncountedPods caps how many pods one sync adds to
// status.uncountedTerminatedPods, keeping the status small and the sync
// short; the rest wait for the next sync.
const maxUncountedPods = 500

// maxPodCreateDeletePerSync caps the pods one sync creates or deletes.
const maxPodCreateDeletePerSync = 500

// syncState is what one sync learned about a Job.
type syncState struct {
	job        *batchv1.Job
	key        string
	pods       []*corev1.Pod
	activePods []*corev1.Pod
	ready      int32
	// terminating counts pods being deleted that have not finished.
	terminating int32
	succeeded   int32
	failed      int32
	uncounted   uncountedPods
	// expectedRemovals are pods whose finalizer this controller removed
	// and whose update has not arrived yet.
	expectedRemovals sets.Set[string]
	// finishedCondition is the condition the Job is heading for, nil
	// while it runs.
	finishedCondition *batchv1.JobCondition
	// Indexed Jobs: indexes recorded in the status, and those plus the
	// ones newly succeeded.
	prevSucceededIndexes indexSet
	succeededIndexes     indexSet
}

type uncountedPods struct {
	succeeded, failed sets.Set[string]
}

// syncJob drives one Job (key "namespace/name").
func (c *Controller) syncJob(ctx context.Context, key string) error {
	namespace, name, err := controller.SplitKey(key)
	if err != nil {
		return nil
	}
	shared, err := c.jobs.Jobs(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.DeleteExpectations(key)
		c.finalizerExpectations.forget(key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("job: reading %s: %w", key, err)
	}
	if m := shared.Spec.ManagedBy; m != nil && *m != jobControllerName {
		return nil
	}
	if jobFinished(shared) {
		if err := c.releaseFinishedPods(ctx, shared); err != nil {
			return err
		}
		return c.processTTL(ctx, shared)
	}
	if mode := shared.Spec.CompletionMode; mode != nil && *mode != batchv1.NonIndexedCompletion && *mode != batchv1.IndexedCompletion {
		c.recorder.Event(shared, corev1.EventTypeWarning, "UnknownCompletionMode", "Skipped Job sync because completion mode is unknown")
		return nil
	}

	job := shared.DeepCopy()
	if job.Status.UncountedTerminatedPods == nil {
		job.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	// Read the expectations before the pods, so that a pod created in
	// between is seen by the next sync rather than lost.
	satisfied := c.expectations.SatisfiedExpectations(key)
	pods, err := c.podsForJob(ctx, job)
	if err != nil {
		return err
	}
	now := c.clock.Now()
	st := &syncState{
		job:              job,
		key:              key,
		pods:             pods,
		activePods:       controller.FilterActivePods(pods),
		uncounted:        newUncountedPods(job.Status.UncountedTerminatedPods),
		expectedRemovals: c.finalizerExpectations.get(key),
	}
	st.ready = countReady(st.activePods)
	st.terminating = countTerminating(pods)
	active := int32(len(st.activePods))
	newSucceeded, newFailed := st.newlyFinishedPods()
	st.succeeded = job.Status.Succeeded + int32(len(newSucceeded)) + int32(st.uncounted.succeeded.Len())
	st.failed = job.Status.Failed + int32(len(newFailed)) + int32(st.uncounted.failed.Len())

	if job.Status.StartTime == nil && !suspended(job) {
		job.Status.StartTime = &metav1.Time{Time: now}
	}

	if cond := findCondition(job, batchv1.JobSuccessCriteriaMet); cond != nil && cond.Status == corev1.ConditionTrue {
		st.finishedCondition = cond.DeepCopy()
	} else if cond := findCondition(job, batchv1.JobFailureTarget); cond != nil && cond.Status == corev1.ConditionTrue {
		st.finishedCondition = newCondition(batchv1.JobFailed, cond.Reason, cond.Message, now)
	}
	if st.finishedCondition == nil {
		switch {
		case st.failed > *job.Spec.BackoffLimit || pastBackoffLimitOnFailure(job, pods):
			st.finishedCondition = newCondition(batchv1.JobFailureTarget, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit", now)
		case c.pastActiveDeadline(job):
			st.finishedCondition = newCondition(batchv1.JobFailureTarget, batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline", now)
		case job.Spec.ActiveDeadlineSeconds != nil && !suspended(job) && job.Status.StartTime != nil:
			remaining := time.Duration(*job.Spec.ActiveDeadlineSeconds)*time.Second - now.Sub(job.Status.StartTime.Time)
			c.queue.AddAfter(key, remaining)
		}
	}
	if isIndexed(job) {
		st.prevSucceededIndexes, st.succeededIndexes = succeededIndexes(job, pods)
		st.succeeded = int32(st.succeededIndexes.total())
	}

	var manageErr error
	suspendChanged := false
	if st.finishedCondition != nil {
		deletedReady, deleted, err := c.deleteActivePods(ctx, job, st.activePods)
		if deleted != active || !satisfied {
			// Some pods may remain, or be missing from the cache: finish
			// in a later sync.
			st.finishedCondition = nil
		}
		active -= deleted
		st.terminating += deleted
		st.ready -= deletedReady
		manageErr = err
	} else {
		managed := false
		if satisfied && job.DeletionTimestamp == nil {
			active, manageErr = c.manageJob(ctx, st)
			managed = true
		}
		var complete bool
		if job.Spec.Completions == nil {
			// Any success means the work is done once the rest stops.
			complete = st.succeeded > 0 && active == 0
		} else {
			complete = st.succeeded >= *job.Spec.Completions && active == 0
		}
		switch {
		case complete:
			st.finishedCondition = newCondition(batchv1.JobSuccessCriteriaMet, batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods", now)
		case managed && suspended(job):
			if setCondition(job, batchv1.JobSuspended, corev1.ConditionTrue, "JobSuspended", "Job suspended", now) {
				suspendChanged = true
				c.recorder.Event(job, corev1.EventTypeNormal, "Suspended", "Job suspended")
			}
		case managed:
			if setCondition(job, batchv1.JobSuspended, corev1.ConditionFalse, "JobResumed", "Job resumed", now) {
				suspendChanged = true
				c.recorder.Event(job, corev1.EventTypeNormal, "Resumed", "Job resumed")
				job.Status.StartTime = &metav1.Time{Time: now}
			}
		}
	}

	needsFlush := suspendChanged || active != job.Status.Active ||
		!ptr.Equal(&st.ready, job.Status.Ready) || !ptr.Equal(&st.terminating, job.Status.Terminating) ||
		!ptr.Equal(job.Status.StartTime, shared.Status.StartTime)
	job.Status.Active = active
	job.Status.Ready = ptr.To(st.ready)
	job.Status.Terminating = ptr.To(st.terminating)
	if err := c.trackStatus(ctx, st, needsFlush); err != nil {
		return fmt.Errorf("job: tracking status of %s: %w", key, err)
	}
	return manageErr
}

// podsForJob lists the pods the Job owns, adopting orphans its selector
// matches (and giving them the tracking finalizer) and releasing owned
// pods it no longer matches.
func (c *Controller) podsForJob(ctx context.Context, job *batchv1.Job) ([]*corev1.Pod, error) {
	selector, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("job: selector of %s/%s: %w", job.Namespace, job.Name, err)
	}
	all, err := controller.PodsOwnedOrOrphaned(c.podIndexer, job.Namespace, job.UID)
	if err != nil {
		return nil, fmt.Errorf("job: listing pods: %w", err)
	}
	owned := sets.New[types.UID]()
	for _, pod := range all {
		if ref := metav1.GetControllerOfNoCopy(pod); ref != nil && ref.UID == job.UID {
			owned.Insert(pod.UID)
		}
	}
	canAdopt := controller.RecheckDeletionTimestamp(func(ctx context.Context) (metav1.Object, error) {
		fresh, err := c.client.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		if fresh.UID != job.UID {
			return nil, fmt.Errorf("job: original Job %s/%s is gone: got uid %v, wanted %v", job.Namespace, job.Name, fresh.UID, job.UID)
		}
		return fresh, nil
	})
	refs := controller.NewRefManager(job, controllerKind, selector, canAdopt)
	pods, err := refs.ClaimPods(ctx, all, c.podControl)
	if err != nil {
		return pods, fmt.Errorf("job: claiming pods of %s/%s: %w", job.Namespace, job.Name, err)
	}
	for i, pod := range pods {
		if owned.Has(pod.UID) || hasTrackingFinalizer(pod) || !controller.IsPodActive(pod) {
			continue
		}
		// An adopted pod is counted like the Job's own: it needs the
		// tracking finalizer.
		patch := []byte(`{"metadata":{"finalizers":["` + batchv1.JobTrackingFinalizer + `"]}}`)
		if err := c.podControl.PatchPod(ctx, pod.Namespace, pod.Name, patch); err != nil && !apierrors.IsNotFound(err) {
			return pods, fmt.Errorf("job: adding tracking finalizer to %s: %w", controller.PodKey(pod), err)
		}
		copied := pod.DeepCopy()
		copied.Finalizers = append(copied.Finalizers, batchv1.JobTrackingFinalizer)
		pods[i] = copied
	}
	return pods, nil
}

// newlyFinishedPods returns the finished pods not yet in the status:
// they hold the finalizer and are not in the uncounted lists.
func (st *syncState) newlyFinishedPods() (succeeded, failed []*corev1.Pod) {
	for _, pod := range st.pods {
		uid := string(pod.UID)
		if !hasTrackingFinalizer(pod) || st.expectedRemovals.Has(uid) {
			continue
		}
		if isIndexed(st.job) {
			if ix := completionIndex(pod); ix < 0 || ix >= int(*st.job.Spec.Completions) {
				continue
			}
		}
		switch {
		case pod.Status.Phase == corev1.PodSucceeded && !st.uncounted.succeeded.Has(uid):
			succeeded = append(succeeded, pod)
		case isPodFailed(pod) && !st.uncounted.failed.Has(uid):
			failed = append(failed, pod)
		}
	}
	return succeeded, failed
}

// manageJob creates or deletes pods to reach the wanted number of active
// ones and returns the new active count.
func (c *Controller) manageJob(ctx context.Context, st *syncState) (int32, error) {
	job := st.job
	log := logger(ctx, job)
	active := int32(len(st.activePods))
	if suspended(job) {
		if active == 0 {
			return 0, nil
		}
		log.V(4).Info("deleting the active pods of a suspended job", "active", active)
		deletedReady, deleted, err := c.deleteJobPods(ctx, st, st.activePods)
		st.terminating += deleted
		st.ready -= deletedReady
		return active - deleted, err
	}
	parallelism := ptr.Deref(job.Spec.Parallelism, 1)
	var want int32
	switch {
	case job.Spec.Completions == nil && st.succeeded > 0:
		// Let the running pods finish; start no more.
		want = active
	case job.Spec.Completions == nil:
		want = parallelism
	default:
		want = max(min(*job.Spec.Completions-st.succeeded, parallelism), 0)
	}

	toDelete := activePodsForRemoval(job, st.activePods, st.succeededIndexes, int(max(active-want, 0)))
	if len(toDelete) > maxPodCreateDeletePerSync {
		toDelete = toDelete[:maxPodCreateDeletePerSync]
	}
	if len(toDelete) > 0 {
		log.V(4).Info("too many pods running", "deleting", len(toDelete), "want", want)
		deletedReady, deleted, err := c.deleteJobPods(ctx, st, toDelete)
		st.terminating += deleted
		st.ready -= deletedReady
		// Deleting and creating in one sync could fight over indexes;
		// creation waits for the next sync.
		return active - deleted, err
	}

	var terminating int32
	if ptr.Deref(job.Spec.PodReplacementPolicy, batchv1.TerminatingOrFailed) == batchv1.Failed {
		terminating = st.terminating
	}
	diff := want - terminating - active
	if diff <= 0 {
		return active, nil
	}
	if wait := c.backoffRemaining(st.pods); wait > 0 {
		log.V(4).Info("waiting before replacing failed pods", "wait", wait)
		c.queue.AddAfter(st.key, wait)
		return active, nil
	}
	diff = min(diff, maxPodCreateDeletePerSync)
	var indexes []int
	if isIndexed(job) {
		indexes = firstPendingIndexes(st, int(diff))
		diff = int32(len(indexes))
		if diff == 0 {
			return active, nil
		}
	}

	template := job.Spec.Template.DeepCopy()
	if isIndexed(job) {
		addCompletionIndexEnv(template)
	}
	if !containsString(template.Finalizers, batchv1.JobTrackingFinalizer) {
		template.Finalizers = append(template.Finalizers, batchv1.JobTrackingFinalizer)
	}
	controllerRef := metav1.NewControllerRef(job, controllerKind)
	c.expectations.ExpectCreations(st.key, int(diff))
	next := make(chan int, len(indexes))
	for _, ix := range indexes {
		next <- ix
	}
	close(next)
	created, err := controller.SlowStartBatch(int(diff), controller.SlowStartInitialBatchSize, func() error {
		podTemplate, generateName := template, ""
		if ix, ok := <-next; ok {
			podTemplate = template.DeepCopy()
			setCompletionIndex(podTemplate, ix)
			podTemplate.Spec.Hostname = fmt.Sprintf("%s-%d", job.Name, ix)
			generateName = fmt.Sprintf("%s-%d-", job.Name, ix)
		}
		err := c.podControl.CreatePodsWithGenerateName(ctx, job.Namespace, podTemplate, job, controllerRef, generateName)
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			// Every create fails in a namespace going away; not an error.
			return nil
		}
		return err
	})
	if skipped := int(diff) - created; skipped > 0 {
		// Creates that failed or never ran will not be observed.
		c.expectations.LowerExpectations(st.key, skipped, 0)
	}
	return active + int32(created), err
}

// deleteActivePods deletes pods (their finalizers stay: the tracking step
// counts them and removes the finalizers). It returns how many ready pods
// and how many pods in all it deleted.
func (c *Controller) deleteActivePods(ctx context.Context, job *batchv1.Job, pods []*corev1.Pod) (int32, int32, error) {
	var deletedReady, deleted int32
	var firstErr error
	for _, pod := range pods {
		err := c.podControl.DeletePod(ctx, pod.Namespace, pod.Name, job)
		if err != nil && !apierrors.IsNotFound(err) {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		deleted++
		if controller.IsPodReady(pod) {
			deletedReady++
		}
	}
	return deletedReady, deleted, firstErr
}

// deleteJobPods removes the finalizer of pods and deletes them: pods
// deleted to scale down or suspend are not failures and are not counted.
func (c *Controller) deleteJobPods(ctx context.Context, st *syncState, pods []*corev1.Pod) (int32, int32, error) {
	c.expectations.ExpectDeletions(st.key, controller.PodKeys(pods))
	var deletedReady, deleted int32
	var firstErr error
	for _, pod := range pods {
		err := c.removeTrackingFinalizer(ctx, pod)
		if err == nil {
			err = c.podControl.DeletePod(ctx, pod.Namespace, pod.Name, st.job)
		}
		if err != nil && !apierrors.IsNotFound(err) {
			// Its deletion will not be observed.
			c.expectations.DeletionObserved(st.key, controller.PodKey(pod))
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		deleted++
		if controller.IsPodReady(pod) {
			deletedReady++
		}
	}
	return deletedReady, deleted, firstErr
}

// activePodsForRemoval picks at least rmAtLeast active pods to delete:
// for Indexed Jobs first those with an invalid, duplicated or already
// succeeded index, then the ones upstream prefers (unscheduled, pending,
// not ready, newer).
func activePodsForRemoval(job *batchv1.Job, pods []*corev1.Pod, done indexSet, rmAtLeast int) []*corev1.Pod {
	var rm, left []*corev1.Pod
	if isIndexed(job) {
		seen := map[int]bool{}
		sorted := append([]*corev1.Pod(nil), pods...)
		sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].CreationTimestamp.Before(&sorted[j].CreationTimestamp) })
		for _, pod := range sorted {
			ix := completionIndex(pod)
			if ix < 0 || ix >= int(*job.Spec.Completions) || seen[ix] || done.has(ix) {
				rm = append(rm, pod)
				continue
			}
			seen[ix] = true
			left = append(left, pod)
		}
	} else {
		left = append(left, pods...)
	}
	if len(rm) < rmAtLeast {
		ranked := controller.ActivePodsWithRanks{Pods: left, Rank: make([]int, len(left))}
		sort.Sort(ranked)
		rm = append(rm, left[:min(rmAtLeast-len(rm), len(left))]...)
	}
	return rm
}

// backoffRemaining is how long to wait before creating pods after
// failures: base·2^(n-1) (at most the limit) after the last failure,
// where n counts the failures since the last success.
func (c *Controller) backoffRemaining(pods []*corev1.Pod) time.Duration {
	var lastSuccess, lastFailure time.Time
	for _, pod := range pods {
		if pod.Status.Phase == corev1.PodSucceeded {
			if t := finishTime(pod); t.After(lastSuccess) {
				lastSuccess = t
			}
		}
	}
	failures := 0
	for _, pod := range pods {
		if !isPodFailed(pod) {
			continue
		}
		t := finishTime(pod)
		if !t.After(lastSuccess) {
			continue
		}
		failures++
		if t.After(lastFailure) {
			lastFailure = t
		}
	}
	if failures == 0 {
		return 0
	}
	backoff := c.backoffBase
	for i := 1; i < failures && backoff < c.backoffMax; i++ {
		backoff *= 2
	}
	backoff = min(backoff, c.backoffMax)
	return lastFailure.Add(backoff).Sub(c.clock.Now())
}

// finishTime is when a pod finished: its containers' last termination,
// else when it turned not ready, else when its deletion began, else its
// creation.
func finishTime(pod *corev1.Pod) time.Time {
	var latest time.Time
	for _, s := range append(append([]corev1.ContainerStatus(nil), pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		if t := s.State.Terminated; t != nil && t.FinishedAt.After(latest) {
			latest = t.FinishedAt.Time
		}
	}
	if !latest.IsZero() {
		return latest
	}
	if cond := controller.PodReadyCondition(&pod.Status); cond != nil && cond.Status == corev1.ConditionFalse && !cond.LastTransitionTime.IsZero() {
		return cond.LastTransitionTime.Time
	}
	if pod.DeletionTimestamp != nil {
		return pod.DeletionTimestamp.Time
	}
	return pod.CreationTimestamp.Time
}

// trackStatus counts finished pods through the uncounted lists, removes
// their finalizers, adds the finishing conditions, and writes the status.
func (c *Controller) trackStatus(ctx context.Context, st *syncState, needsFlush bool) error {
	job := st.job
	indexed := isIndexed(job)
	if indexed {
		sort.SliceStable(st.pods, func(i, j int) bool { return completionIndex(st.pods[i]) < completionIndex(st.pods[j]) })
	}
	withFinalizer := sets.New[string]()
	for _, pod := range st.pods {
		if hasTrackingFinalizer(pod) && !st.expectedRemovals.Has(string(pod.UID)) {
			withFinalizer.Insert(string(pod.UID))
		}
	}
	if countUncounted(&job.Status, withFinalizer) {
		needsFlush = true
	}
	uncounted := job.Status.UncountedTerminatedPods
	var toRelease []*corev1.Pod
	var newIndexes []int
	jobEnding := job.DeletionTimestamp != nil || st.finishedCondition != nil
	for _, pod := range st.pods {
		uid := string(pod.UID)
		if !hasTrackingFinalizer(pod) || st.expectedRemovals.Has(uid) {
			continue
		}
		failed := isPodFailed(pod)
		if !jobEnding && pod.Status.Phase != corev1.PodSucceeded && !failed {
			continue
		}
		toRelease = append(toRelease, pod)
		ix := completionIndex(pod)
		validIndex := !indexed || (ix >= 0 && ix < int(*job.Spec.Completions))
		switch {
		case pod.Status.Phase == corev1.PodSucceeded && !st.uncounted.failed.Has(uid):
			if indexed {
				// The index is enough to never count it twice.
				if validIndex && !st.prevSucceededIndexes.has(ix) {
					newIndexes = append(newIndexes, ix)
					needsFlush = true
				}
			} else if !st.uncounted.succeeded.Has(uid) {
				uncounted.Succeeded = append(uncounted.Succeeded, pod.UID)
				needsFlush = true
			}
		case failed || (st.finishedCondition != nil && st.finishedCondition.Type != batchv1.JobSuccessCriteriaMet):
			// A Job that fails counts every unfinished pod as failed.
			if validIndex && !st.uncounted.failed.Has(uid) {
				uncounted.Failed = append(uncounted.Failed, pod.UID)
				needsFlush = true
			}
		}
		if len(newIndexes)+len(uncounted.Succeeded)+len(uncounted.Failed) >= maxUncountedPods {
			break
		}
	}
	if indexed {
		st.succeededIndexes = st.prevSucceededIndexes.with(newIndexes)
		if s := st.succeededIndexes.String(); s != job.Status.CompletedIndexes {
			job.Status.CompletedIndexes = s
			needsFlush = true
		}
		job.Status.Succeeded = int32(st.succeededIndexes.total())
	}
	now := c.clock.Now()
	finished := st.finishedCondition
	if finished != nil && finished.Type == batchv1.JobFailureTarget {
		job.Status.Conditions = append(job.Status.Conditions, *finished)
		needsFlush = true
		finished = newCondition(batchv1.JobFailed, finished.Reason, finished.Message, now)
	}
	if finished != nil && finished.Type == batchv1.JobSuccessCriteriaMet {
		if findCondition(job, batchv1.JobSuccessCriteriaMet) == nil {
			job.Status.Conditions = append(job.Status.Conditions, *finished)
			needsFlush = true
		}
		finished = newCondition(batchv1.JobComplete, finished.Reason, finished.Message, now)
	}

	// 1. Record the finished pods before their finalizers go.
	if needsFlush {
		if err := c.updateStatus(ctx, st); err != nil {
			return err
		}
		needsFlush = false
	}
	// 2. Remove the finalizers.
	var releaseErr error
	if len(toRelease) > 0 {
		uids := make([]string, 0, len(toRelease))
		for _, pod := range toRelease {
			uids = append(uids, string(pod.UID))
		}
		c.finalizerExpectations.expect(st.key, uids)
		for _, pod := range toRelease {
			if err := c.removeTrackingFinalizer(ctx, pod); err != nil {
				c.finalizerExpectations.observed(st.key, string(pod.UID))
				if releaseErr == nil {
					releaseErr = err
				}
				continue
			}
			withFinalizer.Delete(string(pod.UID))
		}
	}
	// 3. Count the pods that lost their finalizer.
	if countUncounted(&job.Status, withFinalizer) {
		needsFlush = true
	}
	// 4. Finish the Job once every pod is counted and none is stopping.
	jobDone := false
	if finished != nil && releaseErr == nil && len(job.Status.UncountedTerminatedPods.Succeeded)+len(job.Status.UncountedTerminatedPods.Failed) == 0 &&
		st.terminating == 0 {
		setCondition(job, finished.Type, corev1.ConditionTrue, finished.Reason, finished.Message, now)
		if finished.Type == batchv1.JobComplete {
			job.Status.CompletionTime = &metav1.Time{Time: now}
		}
		jobDone, needsFlush = true, true
	}
	if needsFlush {
		if err := c.updateStatus(ctx, st); err != nil {
			return err
		}
	}
	if jobDone {
		c.recordFinished(ctx, job, finished)
	}
	return releaseErr
}

// recordFinished records the event of a finished Job and schedules its
// TTL check.
func (c *Controller) recordFinished(ctx context.Context, job *batchv1.Job, finished *batchv1.JobCondition) {
	logger(ctx, job).V(2).Info("job finished", "condition", finished.Type, "reason", finished.Reason)
	if finished.Type == batchv1.JobComplete {
		if job.Spec.Completions != nil && job.Status.Succeeded > *job.Spec.Completions {
			c.recorder.Event(job, corev1.EventTypeWarning, "TooManySucceededPods", "Too many succeeded pods running after completion count reached")
		}
		c.recorder.Event(job, corev1.EventTypeNormal, "Completed", "Job completed")
	} else {
		c.recorder.Event(job, corev1.EventTypeWarning, finished.Reason, finished.Message)
	}
	if job.Spec.TTLSecondsAfterFinished != nil {
		c.queue.AddAfter(job.Namespace+"/"+job.Name, time.Duration(*job.Spec.TTLSecondsAfterFinished)*time.Second)
	}
}

// updateStatus writes st.job's status and keeps the stored copy (with its
// new resourceVersion) for further writes in the same sync.
func (c *Controller) updateStatus(ctx context.Context, st *syncState) error {
	updated, err := c.client.BatchV1().Jobs(st.job.Namespace).UpdateStatus(ctx, st.job, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("job: updating status of %s: %w", st.key, err)
	}
	st.job.ResourceVersion = updated.ResourceVersion
	return nil
}

// countUncounted moves the uncounted pods that no longer hold the
// finalizer into the counters; it reports whether anything moved.
func countUncounted(status *batchv1.JobStatus, withFinalizer sets.Set[string]) bool {
	uncounted := status.UncountedTerminatedPods
	keep := func(uids []types.UID) []types.UID {
		var out []types.UID
		for _, uid := range uids {
			if withFinalizer.Has(string(uid)) {
				out = append(out, uid)
			}
		}
		return out
	}
	changed := false
	if left := keep(uncounted.Succeeded); len(left) != len(uncounted.Succeeded) {
		status.Succeeded += int32(len(uncounted.Succeeded) - len(left))
		uncounted.Succeeded = left
		changed = true
	}
	if left := keep(uncounted.Failed); len(left) != len(uncounted.Failed) {
		status.Failed += int32(len(uncounted.Failed) - len(left))
		uncounted.Failed = left
		changed = true
	}
	return changed
}

// releaseFinishedPods removes the finalizer from the pods of a finished
// Job that still hold it.
func (c *Controller) releaseFinishedPods(ctx context.Context, job *batchv1.Job) error {
	pods, err := controller.PodsOwnedOrOrphaned(c.podIndexer, job.Namespace, job.UID)
	if err != nil {
		return fmt.Errorf("job: listing pods: %w", err)
	}
	for _, pod := range pods {
		if ref := metav1.GetControllerOfNoCopy(pod); ref != nil && ref.UID == job.UID && hasTrackingFinalizer(pod) {
			if err := c.removeTrackingFinalizer(ctx, pod); err != nil {
				return err
			}
		}
	}
	return nil
}

// processTTL deletes a finished Job whose ttlSecondsAfterFinished has
// passed, or schedules the check.
func (c *Controller) processTTL(ctx context.Context, job *batchv1.Job) error {
	if job.Spec.TTLSecondsAfterFinished == nil || job.DeletionTimestamp != nil {
		return nil
	}
	finishedAt := jobFinishTime(job)
	if finishedAt.IsZero() {
		return nil
	}
	expireAt := finishedAt.Add(time.Duration(*job.Spec.TTLSecondsAfterFinished) * time.Second)
	if wait := expireAt.Sub(c.clock.Now()); wait > 0 {
		c.queue.AddAfter(job.Namespace+"/"+job.Name, wait)
		return nil
	}
	// The cache may be stale: the TTL could have changed. Check the
	// stored Job, and delete exactly that version.
	fresh, err := c.client.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("job: reading %s/%s: %w", job.Namespace, job.Name, err)
	}
	if fresh.UID != job.UID || fresh.Spec.TTLSecondsAfterFinished == nil || fresh.DeletionTimestamp != nil ||
		jobFinishTime(fresh).Add(time.Duration(*fresh.Spec.TTLSecondsAfterFinished)*time.Second).After(c.clock.Now()) {
		return nil
	}
	foreground := metav1.DeletePropagationForeground
	err = c.client.BatchV1().Jobs(job.Namespace).Delete(ctx, job.Name, metav1.DeleteOptions{
		PropagationPolicy: &foreground,
		Preconditions:     &metav1.Preconditions{UID: &fresh.UID, ResourceVersion: &fresh.ResourceVersion},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("job: deleting %s/%s after its TTL: %w", job.Namespace, job.Name, err)
	}
	klog.FromContext(ctx).V(2).Info("deleted job after its TTL", "job", klog.KObj(job))
	return nil
}

// jobFinishTime is when a finished Job finished.
func jobFinishTime(job *batchv1.Job) time.Time {
	if job.Status.CompletionTime != nil {
		return job.Status.CompletionTime.Time
	}
	for _, cond := range job.Status.Conditions {
		if (cond.Type == batchv1.JobComplete || cond.Type == batchv1.JobFailed) && cond.Status == corev1.ConditionTrue {
			return cond.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

func (c *Controller) pastActiveDeadline(job *batchv1.Job) bool {
	if job.Spec.ActiveDeadlineSeconds == nil || job.Status.StartTime == nil || suspended(job) {
		return false
	}
	return c.clock.Since(job.Status.StartTime.Time) >= time.Duration(*job.Spec.ActiveDeadlineSeconds)*time.Second
}

// pastBackoffLimitOnFailure reports whether the containers of a Job with
// restartPolicy OnFailure restarted backoffLimit times (once, for 0).
func pastBackoffLimitOnFailure(job *batchv1.Job, pods []*corev1.Pod) bool {
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		return false
	}
	var restarts int32
	for _, pod := range pods {
		if pod.Status.Phase != corev1.PodRunning && pod.Status.Phase != corev1.PodPending {
			continue
		}
		for _, s := range pod.Status.InitContainerStatuses {
			restarts += s.RestartCount
		}
		for _, s := range pod.Status.ContainerStatuses {
			restarts += s.RestartCount
		}
	}
	if *job.Spec.BackoffLimit == 0 {
		return restarts > 0
	}
	return restarts >= *job.Spec.BackoffLimit
}

// isPodFailed reports whether a pod counts as a failure: it failed, or it
// is being deleted before it succeeded (it will never succeed).
func isPodFailed(pod *corev1.Pod) bool {
	if pod.Status.Phase == corev1.PodFailed {
		return true
	}
	return pod.DeletionTimestamp != nil && pod.Status.Phase != corev1.PodSucceeded
}

func countReady(pods []*corev1.Pod) int32 {
	var n int32
	for _, pod := range pods {
		if controller.IsPodReady(pod) {
			n++
		}
	}
	return n
}

func countTerminating(pods []*corev1.Pod) int32 {
	var n int32
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil && pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
			n++
		}
	}
	return n
}

func newUncountedPods(in *batchv1.UncountedTerminatedPods) uncountedPods {
	out := uncountedPods{succeeded: sets.New[string](), failed: sets.New[string]()}
	for _, uid := range in.Succeeded {
		out.succeeded.Insert(string(uid))
	}
	for _, uid := range in.Failed {
		out.failed.Insert(string(uid))
	}
	return out
}

func suspended(job *batchv1.Job) bool {
	return ptr.Deref(job.Spec.Suspend, false)
}

func isIndexed(job *batchv1.Job) bool {
	return ptr.Deref(job.Spec.CompletionMode, batchv1.NonIndexedCompletion) == batchv1.IndexedCompletion && job.Spec.Completions != nil
}

// jobFinished reports whether a Job has a true Complete or Failed
// condition.
func jobFinished(job *batchv1.Job) bool {
	for _, cond := range job.Status.Conditions {
		if (cond.Type == batchv1.JobComplete || cond.Type == batchv1.JobFailed) && cond.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func findCondition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		if job.Status.Conditions[i].Type == t {
			return &job.Status.Conditions[i]
		}
	}
	return nil
}

func newCondition(t batchv1.JobConditionType, reason, message string, now time.Time) *batchv1.JobCondition {
	return &batchv1.JobCondition{
		Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: message,
		LastProbeTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now),
	}
}

// setCondition sets a condition's status, reason and message, adding it
// only when it is True (a False condition that never was True is not
// worth showing). It reports whether anything changed.
func setCondition(job *batchv1.Job, t batchv1.JobConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) bool {
	if cond := findCondition(job, t); cond != nil {
		if cond.Status == status && cond.Reason == reason && cond.Message == message {
			return false
		}
		if cond.Status != status {
			cond.LastTransitionTime = metav1.NewTime(now)
		}
		cond.Status, cond.Reason, cond.Message = status, reason, message
		cond.LastProbeTime = metav1.NewTime(now)
		return true
	}
	if status != corev1.ConditionTrue {
		return false
	}
	c := newCondition(t, reason, message, now)
	job.Status.Conditions = append(job.Status.Conditions, *c)
	return true
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// completionIndex returns a pod's completion index, or -1.
func completionIndex(pod *corev1.Pod) int {
	v, ok := pod.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		return -1
	}
	ix, err := strconv.Atoi(v)
	if err != nil || ix < 0 {
		return -1
	}
	return ix
}
