package daemonset

import (
	"context"
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/controller"
)

// sync runs one DaemonSet (key "namespace/name").
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := controller.SplitKey(key)
	if err != nil {
		return nil
	}
	shared, err := c.sets.DaemonSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.DeleteExpectations(key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("daemonset: reading %s: %w", key, err)
	}
	if shared.DeletionTimestamp != nil {
		return nil
	}
	ds := shared.DeepCopy()
	selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || selector.Empty() {
		c.recorder.Event(ds, corev1.EventTypeWarning, "SelectingAll", "This daemon set is selecting all pods. A non-empty selector is required.")
		return nil
	}
	// Read the expectations before the pods, so that a pod created in
	// between is seen by the next sync rather than lost.
	satisfied := c.expectations.SatisfiedExpectations(key)

	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("daemonset: listing nodes: %w", err)
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	refs := controller.NewRefManager(ds, controllerKind, selector, controller.RecheckDeletionTimestamp(func(ctx context.Context) (metav1.Object, error) {
		fresh, err := c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		if fresh.UID != ds.UID {
			return nil, fmt.Errorf("daemonset: original %s is gone: got uid %v, wanted %v", key, fresh.UID, ds.UID)
		}
		return fresh, nil
	}))
	allRevisions, err := c.revisions.ControllerRevisions(namespace).List(labels.Everything())
	if err != nil {
		return fmt.Errorf("daemonset: listing revisions: %w", err)
	}
	revs, err := refs.ClaimControllerRevisions(ctx, c.client, allRevisions)
	if err != nil {
		return err
	}
	sort.SliceStable(revs, func(i, j int) bool { return revs[i].Revision < revs[j].Revision })
	cur, collisionCount, err := c.currentRevision(ctx, ds, revs)
	if err != nil {
		return err
	}
	hash := revisionHash(cur)
	allPods, err := controller.PodsOwnedOrOrphaned(c.podIndexer, namespace, ds.UID)
	if err != nil {
		return fmt.Errorf("daemonset: listing pods: %w", err)
	}
	pods, err := refs.ClaimPods(ctx, allPods, c.podControl)
	if err != nil {
		return err
	}
	nodeToPods := map[string][]*corev1.Pod{}
	for _, pod := range pods {
		node := targetNode(pod)
		nodeToPods[node] = append(nodeToPods[node], pod)
	}
	for _, list := range nodeToPods {
		sort.SliceStable(list, func(i, j int) bool { return list[i].CreationTimestamp.Before(&list[j].CreationTimestamp) })
	}

	var syncErr error
	if satisfied {
		changed, err := c.manage(ctx, ds, key, nodes, nodeToPods, hash)
		syncErr = err
		if err == nil && !changed && ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
			syncErr = c.rollingUpdate(ctx, ds, key, nodes, nodeToPods, hash)
		}
	}
	if err := c.truncateHistory(ctx, ds, pods, revs, cur); err != nil && syncErr == nil {
		syncErr = err
	}
	requeue, err := c.updateStatus(ctx, shared, nodes, nodeToPods, hash, collisionCount)
	if err != nil {
		return err
	}
	if requeue > 0 {
		c.queue.AddAfter(key, requeue)
	}
	return syncErr
}

// manage creates the pods nodes lack and deletes the ones that must go;
// it reports whether it changed anything.
func (c *Controller) manage(ctx context.Context, ds *appsv1.DaemonSet, key string, nodes []*corev1.Node, nodeToPods map[string][]*corev1.Pod, hash string) (bool, error) {
	var needPods []string
	var deletes []*corev1.Pod
	known := sets.New[string]()
	now := c.clock.Now()
	for _, node := range nodes {
		known.Insert(node.Name)
		shouldRun, shouldContinue := placement(ds, node)
		pods := nodeToPods[node.Name]
		switch {
		case shouldRun && len(pods) == 0:
			needPods = append(needPods, node.Name)
		case shouldContinue:
			var running []*corev1.Pod
			for _, pod := range pods {
				if pod.DeletionTimestamp != nil {
					continue
				}
				if pod.Status.Phase == corev1.PodFailed {
					backoffKey := key + "/" + node.Name
					if c.failedPodsBackoff.IsInBackOffSinceUpdate(backoffKey, now) {
						wait := c.failedPodsBackoff.Get(backoffKey)
						klog.FromContext(ctx).V(4).Info("failed daemon pod waits for its back-off", "pod", klog.KObj(pod), "wait", wait)
						c.queue.AddAfter(key, wait)
						continue
					}
					c.failedPodsBackoff.Next(backoffKey, now)
					c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDaemonPod", "Found failed daemon pod %s/%s on node %s, will try to kill it", pod.Namespace, pod.Name, node.Name)
					deletes = append(deletes, pod)
					continue
				}
				running = append(running, pod)
			}
			// Keep the oldest of several.
			if len(running) > 1 {
				deletes = append(deletes, running[1:]...)
			}
		case len(pods) > 0:
			for _, pod := range pods {
				if pod.DeletionTimestamp == nil {
					deletes = append(deletes, pod)
				}
			}
		}
	}
	// Pods for nodes that are gone, or pinned nowhere.
	for node, pods := range nodeToPods {
		if known.Has(node) {
			continue
		}
		for _, pod := range pods {
			if pod.DeletionTimestamp == nil {
				deletes = append(deletes, pod)
			}
		}
	}
	if len(needPods) == 0 && len(deletes) == 0 {
		return false, nil
	}
	return true, c.syncNodes(ctx, ds, key, deletes, needPods, hash)
}

// syncNodes deletes pods and creates one pod on each of nodes, recording
// the expectations first.
func (c *Controller) syncNodes(ctx context.Context, ds *appsv1.DaemonSet, key string, deletes []*corev1.Pod, nodes []string, hash string) error {
	c.expectations.ExpectDeletions(key, controller.PodKeys(deletes))
	c.expectations.RaiseExpectations(key, len(nodes), 0)
	logger := klog.FromContext(ctx).WithValues("daemonset", klog.KObj(ds))
	logger.V(4).Info("syncing nodes", "creating", len(nodes), "deleting", len(deletes))

	next := make(chan string, len(nodes))
	for _, n := range nodes {
		next <- n
	}
	close(next)
	controllerRef := metav1.NewControllerRef(ds, controllerKind)
	created, createErr := controller.SlowStartBatch(len(nodes), controller.SlowStartInitialBatchSize, func() error {
		node := <-next
		err := c.podControl.CreatePods(ctx, ds.Namespace, podTemplate(ds, hash, node), ds, controllerRef)
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil
		}
		return err
	})
	if skipped := len(nodes) - created; skipped > 0 {
		c.expectations.LowerExpectations(key, skipped, 0)
	}
	var deleteErr error
	for _, pod := range deletes {
		err := c.podControl.DeletePod(ctx, pod.Namespace, pod.Name, ds)
		if err != nil {
			c.expectations.DeletionObserved(key, controller.PodKey(pod))
			if !apierrors.IsNotFound(err) && deleteErr == nil {
				deleteErr = err
			}
		}
	}
	if createErr != nil {
		return createErr
	}
	return deleteErr
}

// rollingUpdate deletes old pods so that at most maxUnavailable nodes
// lack an available pod; the next sync creates their replacements.
func (c *Controller) rollingUpdate(ctx context.Context, ds *appsv1.DaemonSet, key string, nodes []*corev1.Node, nodeToPods map[string][]*corev1.Pod, hash string) error {
	desired := 0
	for _, node := range nodes {
		if shouldRun, _ := placement(ds, node); shouldRun {
			desired++
		}
	}
	maxUnavailable := 1
	if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
		v, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, desired, true)
		if err != nil {
			return fmt.Errorf("daemonset: maxUnavailable of %s: %w", key, err)
		}
		maxUnavailable = max(v, 1)
	}
	now := c.clock.Now()
	unavailable := 0
	var replace, candidates []*corev1.Pod
	for _, node := range nodes {
		if shouldRun, _ := placement(ds, node); !shouldRun {
			continue
		}
		newPod, oldPod, ok := splitByRevision(nodeToPods[node.Name], hash)
		switch {
		case !ok, newPod == nil && oldPod == nil, newPod != nil && oldPod != nil:
			// manage sorts this node out; it is unavailable meanwhile.
			unavailable++
		case newPod != nil:
			if !controller.IsPodAvailable(newPod, ds.Spec.MinReadySeconds, now) {
				unavailable++
			}
		case !controller.IsPodAvailable(oldPod, ds.Spec.MinReadySeconds, now):
			// Replacing an unavailable pod costs nothing.
			replace = append(replace, oldPod)
		default:
			candidates = append(candidates, oldPod)
		}
	}
	budget := min(max(maxUnavailable-unavailable, 0), len(candidates))
	deletes := append(replace, candidates[:budget]...)
	if len(deletes) == 0 {
		return nil
	}
	klog.FromContext(ctx).V(2).Info("rolling update deletes old pods", "daemonset", klog.KObj(ds), "count", len(deletes), "maxUnavailable", maxUnavailable, "unavailable", unavailable)
	return c.syncNodes(ctx, ds, key, deletes, nil, hash)
}

// splitByRevision finds the up-to-date and the old pod among a node's
// pods; ok is false when there are more than one of either.
func splitByRevision(pods []*corev1.Pod, hash string) (newPod, oldPod *corev1.Pod, ok bool) {
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		if pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
			if newPod != nil {
				return nil, nil, false
			}
			newPod = pod
		} else {
			if oldPod != nil {
				return nil, nil, false
			}
			oldPod = pod
		}
	}
	return newPod, oldPod, true
}

// updateStatus writes the DaemonSet's status; it returns how soon a pod
// ready but not yet available for minReadySeconds becomes available.
func (c *Controller) updateStatus(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, nodeToPods map[string][]*corev1.Pod, hash string, collisionCount int32) (time.Duration, error) {
	now := c.clock.Now()
	status := appsv1.DaemonSetStatus{
		ObservedGeneration: ds.Generation,
		CollisionCount:     ptr.To(collisionCount),
		Conditions:         ds.Status.Conditions,
	}
	var requeue time.Duration
	for _, node := range nodes {
		shouldRun, _ := placement(ds, node)
		pods := nodeToPods[node.Name]
		if !shouldRun {
			if len(pods) > 0 {
				status.NumberMisscheduled++
			}
			continue
		}
		status.DesiredNumberScheduled++
		if len(pods) == 0 {
			continue
		}
		status.CurrentNumberScheduled++
		pod := pods[0]
		if controller.IsPodReady(pod) {
			status.NumberReady++
			if controller.IsPodAvailable(pod, ds.Spec.MinReadySeconds, now) {
				status.NumberAvailable++
			} else if cond := controller.PodReadyCondition(&pod.Status); cond != nil {
				wait := cond.LastTransitionTime.Add(time.Duration(ds.Spec.MinReadySeconds)*time.Second).Sub(now) + time.Second
				if requeue == 0 || wait < requeue {
					requeue = wait
				}
			}
		}
		if pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
			status.UpdatedNumberScheduled++
		}
	}
	status.NumberUnavailable = status.DesiredNumberScheduled - status.NumberAvailable
	if apiequality.Semantic.DeepEqual(status, ds.Status) {
		return requeue, nil
	}
	updated := ds.DeepCopy()
	updated.Status = status
	if _, err := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return 0, fmt.Errorf("daemonset: updating status of %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	return requeue, nil
}
