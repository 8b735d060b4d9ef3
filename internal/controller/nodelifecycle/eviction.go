package nodelifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// Reason and message of the DisruptionTarget condition of an evicted
// pod, as upstream's taint manager writes them.
const (
	reasonDeletionByTaintManager  = "DeletionByTaintManager"
	messageDeletionByTaintManager = "Taint manager: deleting due to NoExecute taint"
)

// evictionTime returns when a pod on a node with the given NoExecute
// taints must go: at firstSeen for a taint it does not tolerate;
// otherwise the earliest timeAdded+tolerationSeconds over the taints,
// each with the first toleration of the pod that tolerates it, as
// upstream picks them (a taint without timeAdded counts from firstSeen).
// forever is true when every taint is tolerated without limit, or there
// is none.
func evictionTime(logger klog.Logger, pod *corev1.Pod, taints []corev1.Taint, firstSeen time.Time) (at time.Time, forever bool) {
	forever = true
	for i := range taints {
		taint := &taints[i]
		var used *corev1.Toleration
		for j := range pod.Spec.Tolerations {
			if pod.Spec.Tolerations[j].ToleratesTaint(logger, taint, false) {
				used = &pod.Spec.Tolerations[j]
				break
			}
		}
		if used == nil {
			return firstSeen, false
		}
		if used.TolerationSeconds == nil {
			continue
		}
		start := firstSeen
		if taint.TimeAdded != nil {
			start = taint.TimeAdded.Time
		}
		end := start.Add(time.Duration(max(*used.TolerationSeconds, 0)) * time.Second)
		if forever || end.Before(at) {
			at, forever = end, false
		}
	}
	return at, forever
}

// syncEviction decides about one pod: evict it now, look again when its
// toleration runs out, or leave it.
func (c *Controller) syncEviction(ctx context.Context, key string) error {
	logger := klog.FromContext(ctx)
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return fmt.Errorf("nodelifecycle: bad key %q: %w", key, err)
	}
	pod, err := c.pods.Pods(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.unschedule(key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("nodelifecycle: reading pod %s: %w", key, err)
	}
	if pod.Spec.NodeName == "" || pod.DeletionTimestamp != nil {
		c.unschedule(key)
		return nil
	}
	node, err := c.nodes.Get(pod.Spec.NodeName)
	if apierrors.IsNotFound(err) {
		// Pods of deleted nodes are the pod garbage collector's.
		c.unschedule(key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("nodelifecycle: reading node %s: %w", pod.Spec.NodeName, err)
	}
	now := c.cfg.Clock.Now()
	c.mu.Lock()
	firstSeen, wasScheduled := c.scheduled[key]
	c.mu.Unlock()
	if !wasScheduled {
		firstSeen = now
	}
	at, forever := evictionTime(logger, pod, noExecuteTaints(node.Spec.Taints), firstSeen)
	switch {
	case forever:
		if wasScheduled {
			c.unschedule(key)
			c.recorder.Eventf(pod, corev1.EventTypeNormal, "TaintManagerEviction", "Cancelling deletion of Pod %s", key)
		}
		return nil
	case at.After(now):
		if !wasScheduled {
			c.mu.Lock()
			c.scheduled[key] = firstSeen
			c.mu.Unlock()
		}
		logger.V(3).Info("Pod will be evicted when its toleration runs out", "pod", klog.KObj(pod), "node", node.Name, "at", at)
		c.evictionQueue.AddAfter(key, at.Sub(now))
		return nil
	}
	if err := c.evict(ctx, pod); err != nil {
		return err
	}
	c.unschedule(key)
	return nil
}

func (c *Controller) unschedule(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.scheduled, key)
}

// evict marks a pod with the DisruptionTarget condition and deletes it.
// The delete names the pod's UID, so a new pod of the same name is safe.
func (c *Controller) evict(ctx context.Context, pod *corev1.Pod) error {
	key := pod.Namespace + "/" + pod.Name
	klog.FromContext(ctx).Info("Evicting pod from tainted node", "pod", klog.KObj(pod), "node", pod.Spec.NodeName)
	c.recorder.Eventf(pod, corev1.EventTypeNormal, "TaintManagerEviction", "Marking for deletion Pod %s", key)
	if err := c.addDisruptionTarget(ctx, pod); err != nil {
		return err
	}
	uid := pod.UID
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("nodelifecycle: evicting pod %s: %w", key, err)
	}
	return nil
}

// addDisruptionTarget tells the pod's owners why it goes (Jobs count
// such failures apart), rereading the pod once on a conflict.
func (c *Controller) addDisruptionTarget(ctx context.Context, pod *corev1.Pod) error {
	want := corev1.PodCondition{
		Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
		Reason: reasonDeletionByTaintManager, Message: messageDeletionByTaintManager,
		LastTransitionTime: metav1.NewTime(c.cfg.Clock.Now()),
	}
	for attempt := 0; attempt < 2; attempt++ {
		updated := pod.DeepCopy()
		found := false
		for i := range updated.Status.Conditions {
			cond := &updated.Status.Conditions[i]
			if cond.Type != corev1.DisruptionTarget {
				continue
			}
			found = true
			if cond.Status == want.Status && cond.Reason == want.Reason {
				return nil
			}
			*cond = want
		}
		if !found {
			updated.Status.Conditions = append(updated.Status.Conditions, want)
		}
		_, err := c.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
		switch {
		case err == nil, apierrors.IsNotFound(err):
			return nil
		case !apierrors.IsConflict(err):
			return fmt.Errorf("nodelifecycle: marking pod %s/%s for disruption: %w", pod.Namespace, pod.Name, err)
		}
		fresh, err := c.client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("nodelifecycle: rereading pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		if fresh.UID != pod.UID {
			return nil
		}
		pod = fresh
	}
	return fmt.Errorf("marking pod %s/%s for disruption: %w", pod.Namespace, pod.Name, errKeepsChanging)
}

// errKeepsChanging is returned when a pod changed under every attempt to
// write its status; the eviction is retried.
var errKeepsChanging = errors.New("nodelifecycle: the pod keeps changing")
