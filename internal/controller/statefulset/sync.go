package statefulset

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/controller"
)

// errClaimTerminating holds a pod back while one of its claims is being
// deleted; the claim's deletion requeues the set.
var errClaimTerminating = errors.New("statefulset: claim is being deleted")

// slot is one ordinal of the set: its pod, and whether that pod exists.
type slot struct {
	ordinal int
	pod     *corev1.Pod
	created bool
}

// syncState carries one sync's view of a set.
type syncState struct {
	set              *appsv1.StatefulSet
	current, update  *appsv1.ControllerRevision
	currentTemplate  *corev1.PodTemplateSpec
	updateTemplate   *corev1.PodTemplateSpec
	status           *appsv1.StatefulSetStatus
	monotonic        bool
	minReadyRequeue  time.Duration
	firstUnhealthyAt int // ordinal of the first unhealthy pod, -1 if none
}

// sync runs one StatefulSet (key "namespace/name").
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := controller.SplitKey(key)
	if err != nil {
		return nil
	}
	shared, err := c.sets.StatefulSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("statefulset: reading %s: %w", key, err)
	}
	if shared.DeletionTimestamp != nil {
		// The garbage collector takes the pods with it.
		return nil
	}
	set := shared.DeepCopy()
	selector, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil {
		c.recorder.Eventf(set, corev1.EventTypeWarning, "InvalidSelector", "Invalid selector: %v", err)
		return nil
	}
	refs := controller.NewRefManager(set, controllerKind, selector, controller.RecheckDeletionTimestamp(func(ctx context.Context) (metav1.Object, error) {
		fresh, err := c.client.AppsV1().StatefulSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		if fresh.UID != set.UID {
			return nil, fmt.Errorf("statefulset: original %s is gone: got uid %v, wanted %v", key, fresh.UID, set.UID)
		}
		return fresh, nil
	}))

	allRevisions, err := c.revisions.ControllerRevisions(namespace).List(labels.Everything())
	if err != nil {
		return fmt.Errorf("statefulset: listing revisions: %w", err)
	}
	revs, err := refs.ClaimControllerRevisions(ctx, c.client, allRevisions)
	if err != nil {
		return err
	}
	sort.SliceStable(revs, func(i, j int) bool {
		if revs[i].Revision != revs[j].Revision {
			return revs[i].Revision < revs[j].Revision
		}
		return revs[i].Name < revs[j].Name
	})
	allPods, err := controller.PodsOwnedOrOrphaned(c.podIndexer, namespace, set.UID)
	if err != nil {
		return fmt.Errorf("statefulset: listing pods: %w", err)
	}
	pods, err := refs.ClaimPods(ctx, allPods, controller.RealPodControl{Client: c.client, Recorder: c.recorder},
		func(pod *corev1.Pod) bool { return isMember(set, pod) })
	if err != nil {
		return err
	}

	current, update, revs, collisionCount, err := c.resolveRevisions(ctx, set, revs)
	if err != nil {
		return err
	}
	st := &syncState{set: set, current: current, update: update, monotonic: set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement}
	if st.currentTemplate, err = revisionTemplate(current); err != nil {
		return err
	}
	if st.updateTemplate, err = revisionTemplate(update); err != nil {
		return err
	}
	st.status = c.computeStatus(st, pods)
	st.status.CollisionCount = ptr.To(collisionCount)

	syncErr := c.syncPods(ctx, st, pods)
	if errors.Is(syncErr, errClaimTerminating) {
		syncErr = nil
	}
	completeRollingUpdate(set, st.status)
	if !apiequality.Semantic.DeepEqual(*st.status, shared.Status) {
		set.Status = *st.status
		if _, err := c.client.AppsV1().StatefulSets(namespace).UpdateStatus(ctx, set, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("statefulset: updating status of %s: %w", key, err)
		}
	}
	if err := c.truncateHistory(ctx, set, pods, revs, current, update); err != nil {
		return err
	}
	if st.minReadyRequeue > 0 {
		c.queue.AddAfter(key, st.minReadyRequeue)
	}
	return syncErr
}

// computeStatus counts the pods as they are.
func (c *Controller) computeStatus(st *syncState, pods []*corev1.Pod) *appsv1.StatefulSetStatus {
	set := st.set
	status := &appsv1.StatefulSetStatus{
		ObservedGeneration: set.Generation,
		CurrentRevision:    st.current.Name,
		UpdateRevision:     st.update.Name,
	}
	now := c.clock.Now()
	for _, pod := range pods {
		status.Replicas++
		if isRunningAndReady(pod) {
			status.ReadyReplicas++
			if controller.IsPodAvailable(pod, set.Spec.MinReadySeconds, now) {
				status.AvailableReplicas++
			} else if cond := controller.PodReadyCondition(&pod.Status); cond != nil {
				wait := cond.LastTransitionTime.Add(time.Duration(set.Spec.MinReadySeconds)*time.Second).Sub(now) + time.Second
				if st.minReadyRequeue == 0 || wait < st.minReadyRequeue {
					st.minReadyRequeue = wait
				}
			}
		}
		if isCreated(pod) && !isTerminating(pod) {
			if pod.Labels[appsv1.StatefulSetRevisionLabel] == st.current.Name {
				status.CurrentReplicas++
			}
			if pod.Labels[appsv1.StatefulSetRevisionLabel] == st.update.Name {
				status.UpdatedReplicas++
			}
		}
	}
	return status
}

// completeRollingUpdate makes the update revision current once every pod
// runs it and is ready.
func completeRollingUpdate(set *appsv1.StatefulSet, status *appsv1.StatefulSetStatus) {
	if set.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType &&
		status.UpdatedReplicas == status.Replicas && status.ReadyReplicas == status.Replicas {
		status.CurrentReplicas = status.UpdatedReplicas
		status.CurrentRevision = status.UpdateRevision
	}
}

// syncPods creates, deletes and updates pods, at most one step at a time
// for OrderedReady sets.
func (c *Controller) syncPods(ctx context.Context, st *syncState, pods []*corev1.Pod) error {
	set := st.set
	start := startOrdinal(set)
	replicaCount := int(ptr.Deref(set.Spec.Replicas, 1))
	slots := make([]slot, replicaCount)
	var condemned []*corev1.Pod
	for _, pod := range pods {
		_, ordinal, _ := podOrdinal(pod)
		if i := ordinal - start; i >= 0 && i < replicaCount {
			slots[i] = slot{ordinal: ordinal, pod: pod, created: true}
		} else {
			condemned = append(condemned, pod)
		}
	}
	for i := range slots {
		if slots[i].pod == nil {
			pod, err := c.podForOrdinal(st, start+i)
			if err != nil {
				return err
			}
			slots[i] = slot{ordinal: start + i, pod: pod}
		}
	}
	// Highest ordinal first: scale-down order.
	sort.SliceStable(condemned, func(i, j int) bool {
		_, a, _ := podOrdinal(condemned[i])
		_, b, _ := podOrdinal(condemned[j])
		return a > b
	})
	st.firstUnhealthyAt = -1
	for _, s := range slots {
		if s.created && !isHealthy(s.pod) && st.firstUnhealthyAt < 0 {
			st.firstUnhealthyAt = s.ordinal
		}
	}
	if st.firstUnhealthyAt < 0 {
		for i := len(condemned) - 1; i >= 0; i-- {
			if !isHealthy(condemned[i]) {
				_, st.firstUnhealthyAt, _ = podOrdinal(condemned[i])
				break
			}
		}
	}

	for i := range slots {
		s := &slots[i]
		if s.created && (isFailed(s.pod) || isSucceeded(s.pod)) {
			if !isTerminating(s.pod) {
				reason, what := "RecreatingFailedPod", "failed"
				if isSucceeded(s.pod) {
					reason, what = "RecreatingTerminatedPod", "terminated"
				}
				c.recorder.Eventf(set, corev1.EventTypeWarning, reason, "StatefulSet %s/%s is recreating %s Pod %s", set.Namespace, set.Name, what, s.pod.Name)
				if err := c.deletePod(ctx, set, s.pod); err != nil {
					return err
				}
				st.forgetPod(s.pod)
			}
			if st.monotonic {
				return nil
			}
			continue
		}
		if !s.created {
			if err := c.createPod(ctx, st, s); err != nil {
				return err
			}
			if st.monotonic {
				return nil
			}
			continue
		}
		if isTerminating(s.pod) {
			if st.monotonic {
				return nil
			}
			continue
		}
		if !isRunningAndReady(s.pod) || !controller.IsPodAvailable(s.pod, set.Spec.MinReadySeconds, c.clock.Now()) {
			if st.monotonic {
				klog.FromContext(ctx).V(4).Info("waiting for pod to be running, ready and available", "statefulset", klog.KObj(set), "pod", s.pod.Name)
				return nil
			}
			continue
		}
		if err := c.ensureIdentityAndStorage(ctx, set, s); err != nil {
			return err
		}
	}

	for _, pod := range condemned {
		if isTerminating(pod) {
			if st.monotonic {
				return nil
			}
			continue
		}
		_, ordinal, _ := podOrdinal(pod)
		if st.monotonic && st.firstUnhealthyAt >= 0 && st.firstUnhealthyAt != ordinal {
			klog.FromContext(ctx).V(4).Info("waiting for an unhealthy pod before scaling down", "statefulset", klog.KObj(set), "unhealthy", podName(set, st.firstUnhealthyAt))
			return nil
		}
		if err := c.releaseScaledClaims(ctx, set, pod, ordinal); err != nil {
			return err
		}
		if err := c.deletePod(ctx, set, pod); err != nil {
			return err
		}
		if st.monotonic {
			return nil
		}
	}

	if set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return nil
	}
	partition := 0
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		partition = int(*ru.Partition)
	}
	for i := len(slots) - 1; i >= partition; i-- {
		s := slots[i]
		if !s.created {
			return nil
		}
		if s.pod.Labels[appsv1.StatefulSetRevisionLabel] != st.update.Name && !isTerminating(s.pod) {
			klog.FromContext(ctx).V(2).Info("terminating pod for update", "statefulset", klog.KObj(set), "pod", s.pod.Name, "revision", st.update.Name)
			if err := c.deletePod(ctx, set, s.pod); err != nil {
				return err
			}
			if s.pod.Labels[appsv1.StatefulSetRevisionLabel] == st.current.Name {
				st.status.CurrentReplicas--
			}
			return nil
		}
		if !isHealthy(s.pod) {
			return nil
		}
	}
	return nil
}

// forgetPod takes a deleted pod out of the status counts.
func (st *syncState) forgetPod(pod *corev1.Pod) {
	st.status.Replicas--
	if pod.Labels[appsv1.StatefulSetRevisionLabel] == st.current.Name {
		st.status.CurrentReplicas--
	}
	if pod.Labels[appsv1.StatefulSetRevisionLabel] == st.update.Name {
		st.status.UpdatedReplicas--
	}
}

// podForOrdinal builds the pod an ordinal should have: from the current
// revision below the rolling-update partition, else from the update
// revision.
func (c *Controller) podForOrdinal(st *syncState, ordinal int) (*corev1.Pod, error) {
	set := st.set
	template, rev := st.updateTemplate, st.update.Name
	if set.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType {
		if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil && ordinal < startOrdinal(set)+int(*ru.Partition) {
			template, rev = st.currentTemplate, st.current.Name
		}
	}
	return newPod(set, template, rev, ordinal)
}

// createPod creates a slot's claims, then its pod.
func (c *Controller) createPod(ctx context.Context, st *syncState, s *slot) error {
	set := st.set
	if err := c.createClaims(ctx, set, s.pod, s.ordinal); err != nil {
		return err
	}
	_, err := c.client.CoreV1().Pods(set.Namespace).Create(ctx, s.pod, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// The cache is behind our own create.
		return nil
	}
	if err != nil {
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Pod %s in StatefulSet %s failed error: %s", s.pod.Name, set.Name, err)
		}
		return fmt.Errorf("statefulset: creating pod %s/%s: %w", set.Namespace, s.pod.Name, err)
	}
	c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Pod %s in StatefulSet %s successful", s.pod.Name, set.Name)
	st.status.Replicas++
	if s.pod.Labels[appsv1.StatefulSetRevisionLabel] == st.current.Name {
		st.status.CurrentReplicas++
	}
	if s.pod.Labels[appsv1.StatefulSetRevisionLabel] == st.update.Name {
		st.status.UpdatedReplicas++
	}
	return nil
}

// createClaims creates the claims of an ordinal that do not exist. A
// claim being deleted stops the pod (errClaimTerminating): it must not
// start on storage about to vanish.
func (c *Controller) createClaims(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod, ordinal int) error {
	for _, claim := range newClaims(set, ordinal) {
		existing, err := c.claims.PersistentVolumeClaims(set.Namespace).Get(claim.Name)
		if err == nil {
			if existing.DeletionTimestamp != nil {
				klog.FromContext(ctx).V(2).Info("waiting for claim to go away", "statefulset", klog.KObj(set), "claim", claim.Name)
				return errClaimTerminating
			}
			continue
		}
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("statefulset: reading claim %s: %w", claim.Name, err)
		}
		_, err = c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Create(ctx, claim, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			continue
		}
		if err != nil {
			c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Claim %s for Pod %s in StatefulSet %s failed error: %s", claim.Name, pod.Name, set.Name, err)
			return fmt.Errorf("statefulset: creating claim %s/%s: %w", set.Namespace, claim.Name, err)
		}
		c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Claim %s Pod %s in StatefulSet %s success", claim.Name, pod.Name, set.Name)
	}
	return nil
}

// ensureIdentityAndStorage fixes a running pod's identity labels and
// recreates claims it lost.
func (c *Controller) ensureIdentityAndStorage(ctx context.Context, set *appsv1.StatefulSet, s *slot) error {
	if err := c.createClaims(ctx, set, s.pod, s.ordinal); err != nil {
		return err
	}
	if identityMatches(set, s.pod, s.ordinal) {
		return nil
	}
	pod := s.pod.DeepCopy()
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[appsv1.StatefulSetPodNameLabel] = pod.Name
	pod.Labels[appsv1.PodIndexLabel] = fmt.Sprint(s.ordinal)
	if _, err := c.client.CoreV1().Pods(set.Namespace).Update(ctx, pod, metav1.UpdateOptions{}); err != nil {
		c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedUpdate", "update Pod %s in StatefulSet %s failed error: %s", pod.Name, set.Name, err)
		return fmt.Errorf("statefulset: updating pod %s/%s: %w", set.Namespace, pod.Name, err)
	}
	c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulUpdate", "update Pod %s in StatefulSet %s successful", pod.Name, set.Name)
	return nil
}

// releaseScaledClaims gives the claims of a pod removed by a scale-down
// an owner reference to the pod when whenScaled is Delete, so the
// garbage collector deletes them with it.
func (c *Controller) releaseScaledClaims(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod, ordinal int) error {
	retention := set.Spec.PersistentVolumeClaimRetentionPolicy
	if retention == nil || retention.WhenScaled != appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
		return nil
	}
	for _, want := range newClaims(set, ordinal) {
		claim, err := c.claims.PersistentVolumeClaims(set.Namespace).Get(want.Name)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("statefulset: reading claim %s: %w", want.Name, err)
		}
		owned := false
		for _, ref := range claim.OwnerReferences {
			owned = owned || ref.UID == pod.UID
		}
		if owned {
			continue
		}
		claim = claim.DeepCopy()
		claim.OwnerReferences = append(claim.OwnerReferences, metav1.OwnerReference{
			APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID,
		})
		if _, err := c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Update(ctx, claim, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("statefulset: updating claim %s: %w", claim.Name, err)
		}
	}
	return nil
}

// deletePod deletes a pod and records it.
func (c *Controller) deletePod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	uid := pod.UID
	err := c.client.CoreV1().Pods(set.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedDelete", "delete Pod %s in StatefulSet %s failed error: %s", pod.Name, set.Name, err)
		return fmt.Errorf("statefulset: deleting pod %s/%s: %w", set.Namespace, pod.Name, err)
	}
	c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulDelete", "delete Pod %s in StatefulSet %s successful", pod.Name, set.Name)
	return nil
}
