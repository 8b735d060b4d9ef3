package replicaset

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/controller"
)

const (
	// burstReplicas caps the pods created or deleted in one sync, so one
	// huge ReplicaSet cannot starve the others (upstream's value).
	burstReplicas = 500
	// workers is how many ReplicaSets sync at once.
	workers = 5
	// eventComponent is the source of the events, as upstream names it.
	eventComponent = "replicaset-controller"
	// statusBatchFactor and maxStatusBatch bound how often pod events
	// that only change a ReplicaSet's status counts resync it: at most
	// once per statusBatchFactor times its last count's duration, and at
	// least once a maxStatusBatch (upstream's Job controller batches its
	// pod events by 1 s). A sync counts every pod of its ReplicaSet (20-35
	// ms for 10,000 pods), so without this a large ReplicaSet whose pods
	// change state all the time is recounted back to back; with it the
	// counting takes at most about 1/(1+statusBatchFactor) of a core per
	// ReplicaSet, and a small ReplicaSet (a count of microseconds) is not
	// delayed noticeably (100 pods: ~10 ms).
	statusBatchFactor = 50
	maxStatusBatch    = time.Second
)

// controllerKind is what owner references of our pods name.
var controllerKind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")

// Controller is the ReplicaSet controller. Create it with New and run it
// with Start.
type Controller struct {
	client       kubernetes.Interface
	podControl   controller.PodControl
	expectations *controller.UIDTrackingExpectations

	rsLister   appslisters.ReplicaSetLister
	rsIndexer  cache.Indexer
	podLister  corelisters.PodLister
	podIndexer cache.Indexer
	// cachesSynced reports whether the informers have synced; a field so
	// unit tests can stub it.
	cachesSynced []cache.InformerSynced

	queue        workqueue.TypedRateLimitingInterface[string]
	stopRecorder func()
	// now is the clock for availability (minReadySeconds).
	now func() time.Time
	// syncHandler is sync; a field so tests can observe the queue.
	syncHandler func(ctx context.Context, key string) error

	// countCostMu guards countCost.
	countCostMu sync.Mutex
	// countCost is, per ReplicaSet key, how long its last sync took to
	// list, claim and count its pods (see statusBatchFactor).
	countCost map[string]time.Duration
}

// New returns a ReplicaSet controller fed by the shared ReplicaSet and Pod
// informers. It adds controller.PodControllerUIDIndex to the pod informer,
// so call it before the informers start.
func New(client kubernetes.Interface, replicaSets appsinformers.ReplicaSetInformer, pods coreinformers.PodInformer) *Controller {
	recorder, stopRecorder := controller.NewEventRecorder(client, eventComponent)
	if err := controller.AddPodControllerUIDIndexer(pods.Informer()); err != nil {
		// Not fatal: pods are then found by scanning the namespace.
		utilruntime.HandleError(fmt.Errorf("replicaset: %w", err))
	}
	c := &Controller{
		client:       client,
		podControl:   controller.RealPodControl{Client: client, Recorder: recorder},
		expectations: controller.NewUIDTrackingExpectations(controller.NewControllerExpectations()),
		rsLister:     replicaSets.Lister(),
		rsIndexer:    replicaSets.Informer().GetIndexer(),
		podLister:    pods.Lister(),
		podIndexer:   pods.Informer().GetIndexer(),
		cachesSynced: []cache.InformerSynced{replicaSets.Informer().HasSynced, pods.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "replicaset"}),
		stopRecorder: stopRecorder,
		now:          time.Now,
		countCost:    map[string]time.Duration{},
	}
	c.syncHandler = c.sync
	_, _ = replicaSets.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: c.updateReplicaSet,
		DeleteFunc: c.deleteReplicaSet,
	})
	_, _ = pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	return c
}

// CreatePodsWith makes the controller create pods with create rather than
// its client. Call it before Start.
func (c *Controller) CreatePodsWith(create controller.PodCreator) {
	if real, ok := c.podControl.(controller.RealPodControl); ok {
		real.Create = create
		c.podControl = real
	}
}

// Start waits for the caches, then syncs ReplicaSets until ctx ends. It
// returns nil when ctx ends.
func (c *Controller) Start(ctx context.Context) error {
	defer utilruntime.HandleCrashWithContext(ctx)
	defer c.stopRecorder()
	logger := klog.FromContext(ctx).WithValues("controller", "replicaset")
	ctx = klog.NewContext(ctx, logger)
	logger.Info("starting")
	defer logger.Info("stopping")
	if err := controller.WaitForCaches(ctx, "replicaset", c.cachesSynced...); err != nil {
		c.queue.ShutDown()
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("replicaset: %w", err)
	}
	controller.RunWorkers(ctx, c.queue, workers, c.syncHandler)
	return nil
}

func (c *Controller) enqueue(obj interface{}) {
	key, err := controller.KeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("replicaset: %w", err))
		return
	}
	c.queue.Add(key)
}

func (c *Controller) enqueueAfter(rs *appsv1.ReplicaSet, after time.Duration) {
	key, err := controller.KeyFunc(rs)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("replicaset: %w", err))
		return
	}
	c.queue.AddAfter(key, after)
}

// enqueuePodEvent queues key after a pod was observed created or deleted:
// at once when that fulfilled the ReplicaSet's expectations (its next
// creates or deletes wait for that), otherwise (the event only changes
// its status counts) batched by statusBatch.
func (c *Controller) enqueuePodEvent(key string) {
	if c.expectations.SatisfiedExpectations(key) {
		c.queue.Add(key)
		return
	}
	c.queue.AddAfter(key, c.statusBatch(key))
}

// enqueueStatusChange queues key after a pod event that changes only the
// ReplicaSet's status counts, batched by statusBatch.
func (c *Controller) enqueueStatusChange(key string) {
	c.queue.AddAfter(key, c.statusBatch(key))
}

// statusBatch is how long a status-only pod event of key may wait for
// others: statusBatchFactor times the ReplicaSet's last count, at most
// maxStatusBatch.
func (c *Controller) statusBatch(key string) time.Duration {
	c.countCostMu.Lock()
	cost := c.countCost[key]
	c.countCostMu.Unlock()
	return min(statusBatchFactor*cost, maxStatusBatch)
}

func (c *Controller) setCountCost(key string, cost time.Duration) {
	c.countCostMu.Lock()
	defer c.countCostMu.Unlock()
	if cost < 0 {
		delete(c.countCost, key)
		return
	}
	c.countCost[key] = cost
}

// updateReplicaSet queues cur: at once, unless the update changed only
// its status, as this controller's own status writes do when they come
// back through the watch. Those are batched like a pod's status change
// (statusBatch): a sync right away would count every pod of the
// ReplicaSet again to arrive at the status it just wrote. Upstream syncs
// on every update and calls these syncs spurious.
func (c *Controller) updateReplicaSet(old, cur interface{}) {
	oldRS, curRS := old.(*appsv1.ReplicaSet), cur.(*appsv1.ReplicaSet)
	if !statusOnlyChange(oldRS, curRS) {
		c.enqueue(curRS)
		return
	}
	key, err := controller.KeyFunc(curRS)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("replicaset: %w", err))
		return
	}
	c.enqueueStatusChange(key)
}

// statusOnlyChange reports whether cur is a later version of old that
// differs only in its status. A change of the spec increments the
// generation; the metadata a sync depends on is compared.
func statusOnlyChange(old, cur *appsv1.ReplicaSet) bool {
	return old.ResourceVersion != cur.ResourceVersion &&
		old.UID == cur.UID &&
		old.Generation == cur.Generation &&
		old.DeletionTimestamp.Equal(cur.DeletionTimestamp) &&
		maps.Equal(old.Labels, cur.Labels) &&
		maps.Equal(old.Annotations, cur.Annotations) &&
		apiequality.Semantic.DeepEqual(old.OwnerReferences, cur.OwnerReferences) &&
		slices.Equal(old.Finalizers, cur.Finalizers)
}

func (c *Controller) deleteReplicaSet(obj interface{}) {
	key, err := controller.KeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("replicaset: %w", err))
		return
	}
	c.expectations.DeleteExpectations(key)
	c.queue.Add(key)
}

// resolveControllerRef returns the ReplicaSet a controller reference
// names, if it exists with that UID.
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.ReplicaSet {
	if ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return nil
	}
	rs, err := c.rsLister.ReplicaSets(namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return nil
	}
	return rs
}

// replicaSetsSelecting returns the ReplicaSets in the pod's namespace whose
// selector matches it: the candidates to adopt an orphan.
func (c *Controller) replicaSetsSelecting(pod *corev1.Pod) []*appsv1.ReplicaSet {
	if len(pod.Labels) == 0 {
		return nil
	}
	all, err := c.rsLister.ReplicaSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*appsv1.ReplicaSet
	for _, rs := range all {
		selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
		if err != nil || selector.Empty() {
			continue
		}
		if selector.Matches(labels.Set(pod.Labels)) {
			out = append(out, rs)
		}
	}
	return out
}

func (c *Controller) addPod(obj interface{}) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		// Seen for the first time already being deleted (e.g. after a
		// restart): count it as the deletion it is.
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		rs := c.resolveControllerRef(pod.Namespace, ref)
		if rs == nil {
			return
		}
		key, err := controller.KeyFunc(rs)
		if err != nil {
			return
		}
		c.expectations.CreationObserved(key)
		c.enqueuePodEvent(key)
		return
	}
	// An orphan: wake every ReplicaSet that may adopt it. Only their
	// syncs decide.
	for _, rs := range c.replicaSetsSelecting(pod) {
		c.enqueue(rs)
	}
}

func (c *Controller) updatePod(old, cur interface{}) {
	oldPod, curPod := old.(*corev1.Pod), cur.(*corev1.Pod)
	if oldPod.ResourceVersion == curPod.ResourceVersion {
		// A periodic resync: nothing changed.
		return
	}
	labelsChanged := !apiequality.Semantic.DeepEqual(oldPod.Labels, curPod.Labels)
	if curPod.DeletionTimestamp != nil {
		// Graceful deletion starts with this update; the ReplicaSet
		// may replace the pod now, not when it is finally gone.
		c.deletePod(curPod)
		if labelsChanged {
			c.deletePod(oldPod)
		}
		return
	}
	curRef, oldRef := metav1.GetControllerOfNoCopy(curPod), metav1.GetControllerOfNoCopy(oldPod)
	refChanged := !apiequality.Semantic.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if rs := c.resolveControllerRef(oldPod.Namespace, oldRef); rs != nil {
			c.enqueue(rs)
		}
	}
	if curRef != nil {
		rs := c.resolveControllerRef(curPod.Namespace, curRef)
		if rs == nil {
			return
		}
		key, err := controller.KeyFunc(rs)
		if err != nil {
			return
		}
		if refChanged || labelsChanged {
			// Adoption or release may follow: look now.
			c.queue.Add(key)
		} else {
			c.enqueueStatusChange(key)
		}
		// A pod that just turned ready becomes available after
		// minReadySeconds; look again then.
		if rs.Spec.MinReadySeconds > 0 && !controller.IsPodReady(oldPod) && controller.IsPodReady(curPod) {
			c.enqueueAfter(rs, time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if labelsChanged || refChanged {
		for _, rs := range c.replicaSetsSelecting(curPod) {
			c.enqueue(rs)
		}
	}
}

func (c *Controller) deletePod(obj interface{}) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		tombstone, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if pod, ok = tombstone.Obj.(*corev1.Pod); !ok {
			return
		}
	}
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil {
		return
	}
	rs := c.resolveControllerRef(pod.Namespace, ref)
	if rs == nil {
		return
	}
	key, err := controller.KeyFunc(rs)
	if err != nil {
		return
	}
	c.expectations.DeletionObserved(key, controller.PodKey(pod))
	c.enqueuePodEvent(key)
}

// sync makes one ReplicaSet's pods match its spec and updates its status.
func (c *Controller) sync(ctx context.Context, key string) error {
	logger := klog.FromContext(ctx)
	namespace, name, err := controller.SplitKey(key)
	if err != nil {
		return err
	}
	rs, err := c.rsLister.ReplicaSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		logger.V(4).Info("replica set gone", "replicaSet", key)
		c.expectations.DeleteExpectations(key)
		c.setCountCost(key, -1)
		return nil
	}
	if err != nil {
		return fmt.Errorf("replicaset: getting %s: %w", key, err)
	}
	needsSync := c.expectations.SatisfiedExpectations(key)
	selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		// Validation keeps such selectors out; retrying cannot help.
		utilruntime.HandleErrorWithContext(ctx, err, "invalid selector", "replicaSet", key)
		return nil
	}
	countStart := time.Now()
	candidates, err := controller.PodsOwnedOrOrphaned(c.podIndexer, namespace, rs.UID)
	if err != nil {
		return fmt.Errorf("replicaset: %w", err)
	}
	active, err := c.claimPods(ctx, rs, selector, controller.FilterActivePods(candidates))
	if err != nil {
		return err
	}
	terminating := countTerminating(rs, selector, candidates)
	countCost := time.Since(countStart)

	var manageErr error
	if needsSync && rs.DeletionTimestamp == nil {
		manageErr = c.manageReplicas(ctx, active, rs)
	}
	countStart = time.Now()
	status := calculateStatus(rs, active, terminating, manageErr, c.now())
	c.setCountCost(key, countCost+time.Since(countStart))
	updated, err := c.updateStatus(ctx, rs, status)
	if err != nil {
		return err
	}
	if manageErr == nil && updated.Spec.MinReadySeconds > 0 &&
		updated.Status.ReadyReplicas == ptr.Deref(updated.Spec.Replicas, 1) &&
		updated.Status.AvailableReplicas != ptr.Deref(updated.Spec.Replicas, 1) {
		c.enqueueAfter(updated, time.Duration(updated.Spec.MinReadySeconds)*time.Second)
	}
	return manageErr
}

func (c *Controller) claimPods(ctx context.Context, rs *appsv1.ReplicaSet, selector labels.Selector, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	canAdopt := controller.RecheckDeletionTimestamp(func(ctx context.Context) (metav1.Object, error) {
		fresh, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Get(ctx, rs.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		if fresh.UID != rs.UID {
			return nil, fmt.Errorf("original ReplicaSet %v/%v is gone: got uid %v, wanted %v", rs.Namespace, rs.Name, fresh.UID, rs.UID)
		}
		return fresh, nil
	})
	m := controller.NewRefManager(rs, controllerKind, selector, canAdopt)
	claimed, err := m.ClaimPods(ctx, pods, c.podControl)
	if err != nil {
		return nil, fmt.Errorf("replicaset: claiming pods of %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	return claimed, nil
}

// countTerminating counts the pods of rs that are being deleted but not
// finished yet.
func countTerminating(rs *appsv1.ReplicaSet, selector labels.Selector, pods []*corev1.Pod) int32 {
	var n int32
	for _, pod := range pods {
		if pod.DeletionTimestamp == nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		ref := metav1.GetControllerOfNoCopy(pod)
		if ref != nil && ref.UID == rs.UID && selector.Matches(labels.Set(pod.Labels)) {
			n++
		}
	}
	return n
}

// manageReplicas creates or deletes pods so that active matches
// spec.replicas, at most burstReplicas at a time.
func (c *Controller) manageReplicas(ctx context.Context, active []*corev1.Pod, rs *appsv1.ReplicaSet) error {
	logger := klog.FromContext(ctx)
	key, err := controller.KeyFunc(rs)
	if err != nil {
		return err
	}
	diff := len(active) - int(ptr.Deref(rs.Spec.Replicas, 1))
	switch {
	case diff < 0:
		toCreate := min(-diff, burstReplicas)
		// Expect them all before the first create: the informer may
		// report a new pod before CreatePods returns.
		c.expectations.ExpectCreations(key, toCreate)
		logger.V(2).Info("too few replicas", "replicaSet", klog.KObj(rs), "need", ptr.Deref(rs.Spec.Replicas, 1), "creating", toCreate)
		ref := metav1.NewControllerRef(rs, controllerKind)
		created, err := controller.SlowStartBatch(toCreate, controller.SlowStartInitialBatchSize, func() error {
			err := c.podControl.CreatePods(ctx, rs.Namespace, &rs.Spec.Template, rs, ref)
			if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				// The namespace is going away; so will this ReplicaSet.
				return nil
			}
			return err
		})
		// The creates never attempted or failed will never be observed.
		if skipped := toCreate - created; skipped > 0 {
			c.expectations.LowerExpectations(key, skipped, 0)
		}
		return err
	case diff > 0:
		toDelete := min(diff, burstReplicas)
		logger.V(2).Info("too many replicas", "replicaSet", klog.KObj(rs), "need", ptr.Deref(rs.Spec.Replicas, 1), "deleting", toDelete)
		victims := podsToDelete(active, c.relatedPods(rs), toDelete, c.now())
		// Expect before deleting, as for creates.
		c.expectations.ExpectDeletions(key, controller.PodKeys(victims))
		errs := make(chan error, len(victims))
		var wg sync.WaitGroup
		for _, pod := range victims {
			wg.Add(1)
			go func(pod *corev1.Pod) {
				defer wg.Done()
				err := c.podControl.DeletePod(ctx, rs.Namespace, pod.Name, rs)
				if err == nil {
					return
				}
				// The informer will not see this deletion.
				c.expectations.DeletionObserved(key, controller.PodKey(pod))
				if !apierrors.IsNotFound(err) {
					errs <- err
				}
			}(pod)
		}
		wg.Wait()
		close(errs)
		if err, failed := <-errs; failed {
			// They are likely all the same; the events tell each.
			return err
		}
	}
	return nil
}

// relatedPods returns the active pods of rs and of the ReplicaSets that
// share its controller (the other revisions of one Deployment): scale-down
// prefers pods on nodes crowded with those.
func (c *Controller) relatedPods(rs *appsv1.ReplicaSet) []*corev1.Pod {
	owners := []*appsv1.ReplicaSet{rs}
	if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
		siblings, err := c.rsLister.ReplicaSets(rs.Namespace).List(labels.Everything())
		if err == nil {
			owners = owners[:0]
			for _, s := range siblings {
				if sref := metav1.GetControllerOfNoCopy(s); sref != nil && sref.UID == ref.UID {
					owners = append(owners, s)
				}
			}
		}
	}
	var related []*corev1.Pod
	for _, owner := range owners {
		pods, err := controller.PodsOwnedOrOrphaned(c.podIndexer, rs.Namespace, owner.UID)
		if err != nil {
			continue
		}
		for _, pod := range pods {
			if ref := metav1.GetControllerOfNoCopy(pod); ref != nil && ref.UID == owner.UID && controller.IsPodActive(pod) {
				related = append(related, pod)
			}
		}
	}
	return related
}

// podsToDelete picks the count pods of active to delete first.
func podsToDelete(active, related []*corev1.Pod, count int, now time.Time) []*corev1.Pod {
	if count >= len(active) {
		return active
	}
	pods := append([]*corev1.Pod(nil), active...)
	sort.Sort(controller.RankPodsByColocation(pods, related, metav1.NewTime(now)))
	return pods[:count]
}

// calculateStatus derives the status of rs from its active pods.
func calculateStatus(rs *appsv1.ReplicaSet, active []*corev1.Pod, terminating int32, manageErr error, now time.Time) appsv1.ReplicaSetStatus {
	status := *rs.Status.DeepCopy()
	templateLabels := labels.Set(rs.Spec.Template.Labels).AsSelectorPreValidated()
	var fullyLabeled, ready, available int32
	for _, pod := range active {
		if templateLabels.Matches(labels.Set(pod.Labels)) {
			fullyLabeled++
		}
		if controller.IsPodReady(pod) {
			ready++
			if controller.IsPodAvailable(pod, rs.Spec.MinReadySeconds, now) {
				available++
			}
		}
	}
	failure := replicaFailure(&status)
	switch {
	case manageErr != nil && failure == nil:
		reason := ""
		switch diff := len(active) - int(ptr.Deref(rs.Spec.Replicas, 1)); {
		case diff < 0:
			reason = "FailedCreate"
		case diff > 0:
			reason = "FailedDelete"
		}
		status.Conditions = append(status.Conditions, appsv1.ReplicaSetCondition{
			Type:               appsv1.ReplicaSetReplicaFailure,
			Status:             corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(now),
			Reason:             reason,
			Message:            apiMessage(manageErr),
		})
	case manageErr == nil && failure != nil:
		var keep []appsv1.ReplicaSetCondition
		for _, cond := range status.Conditions {
			if cond.Type != appsv1.ReplicaSetReplicaFailure {
				keep = append(keep, cond)
			}
		}
		status.Conditions = keep
	}
	status.Replicas = int32(len(active))
	status.FullyLabeledReplicas = fullyLabeled
	status.ReadyReplicas = ready
	status.AvailableReplicas = available
	status.TerminatingReplicas = ptr.To(terminating)
	return status
}

func replicaFailure(status *appsv1.ReplicaSetStatus) *appsv1.ReplicaSetCondition {
	for i := range status.Conditions {
		if status.Conditions[i].Type == appsv1.ReplicaSetReplicaFailure {
			return &status.Conditions[i]
		}
	}
	return nil
}

// apiMessage is the API server's message in err, as upstream shows it in
// the condition, without our wrapping.
func apiMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return status.Status().Message
	}
	var agg utilerrors.Aggregate
	if errors.As(err, &agg) && len(agg.Errors()) > 0 {
		return apiMessage(agg.Errors()[0])
	}
	return err.Error()
}

// updateStatus writes status (with observedGeneration) unless the stored
// status already says so. On a conflict it retries once on a fresh copy.
func (c *Controller) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet, status appsv1.ReplicaSetStatus) (*appsv1.ReplicaSet, error) {
	status.ObservedGeneration = rs.Generation
	if apiequality.Semantic.DeepEqual(rs.Status, status) {
		return rs, nil
	}
	client := c.client.AppsV1().ReplicaSets(rs.Namespace)
	var lastErr error
	for attempt := 0; attempt < 2; attempt++ {
		if attempt > 0 {
			fresh, err := client.Get(ctx, rs.Name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("replicaset: getting %s/%s for status: %w", rs.Namespace, rs.Name, err)
			}
			rs = fresh
			status.ObservedGeneration = rs.Generation
		}
		next := rs.DeepCopy()
		next.Status = status
		updated, err := client.UpdateStatus(ctx, next, metav1.UpdateOptions{})
		if err == nil {
			klog.FromContext(ctx).V(4).Info("updated status", "replicaSet", klog.KObj(rs),
				"replicas", status.Replicas, "ready", status.ReadyReplicas, "available", status.AvailableReplicas)
			return updated, nil
		}
		lastErr = err
		if apierrors.IsNotFound(err) {
			break
		}
	}
	return nil, fmt.Errorf("replicaset: updating status of %s/%s: %w", rs.Namespace, rs.Name, lastErr)
}
