package deployment

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/navarch/navarch/internal/controller"
)

const (
	// workers is how many Deployments sync at once (upstream's default).
	workers = 5
	// eventComponent is the source of the events, as upstream names it.
	eventComponent = "deployment-controller"
)

// controllerKind is what owner references of our ReplicaSets name.
var controllerKind = appsv1.SchemeGroupVersion.WithKind("Deployment")

// Controller is the Deployment controller. Create it with New and run it
// with Start.
type Controller struct {
	client   kubernetes.Interface
	recorder record.EventRecorder

	dLister  appslisters.DeploymentLister
	rsLister appslisters.ReplicaSetLister
	// podIndexer is the pod informer's store, with
	// controller.PodControllerUIDIndex when it could be added.
	podIndexer cache.Indexer
	// cachesSynced reports whether the informers have synced; a field so
	// unit tests can stub it.
	cachesSynced []cache.InformerSynced

	queue        workqueue.TypedRateLimitingInterface[string]
	stopRecorder func()
	// now is the clock of conditions and progress deadlines.
	now func() time.Time
}

// New returns a Deployment controller fed by the shared Deployment,
// ReplicaSet and Pod informers.
func New(client kubernetes.Interface, deployments appsinformers.DeploymentInformer, replicaSets appsinformers.ReplicaSetInformer, pods coreinformers.PodInformer) *Controller {
	recorder, stopRecorder := controller.NewEventRecorder(client, eventComponent)
	if err := controller.AddPodControllerUIDIndexer(pods.Informer()); err != nil {
		// Not fatal: pods are then found by scanning the namespace.
		utilruntime.HandleError(fmt.Errorf("deployment: %w", err))
	}
	c := &Controller{
		client:       client,
		recorder:     recorder,
		dLister:      deployments.Lister(),
		rsLister:     replicaSets.Lister(),
		podIndexer:   pods.Informer().GetIndexer(),
		cachesSynced: []cache.InformerSynced{deployments.Informer().HasSynced, replicaSets.Informer().HasSynced, pods.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "deployment"}),
		stopRecorder: stopRecorder,
		now:          time.Now,
	}
	_, _ = deployments.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur interface{}) { c.enqueue(cur) },
		DeleteFunc: c.enqueue,
	})
	_, _ = replicaSets.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addReplicaSet,
		UpdateFunc: c.updateReplicaSet,
		DeleteFunc: c.deleteReplicaSet,
	})
	_, _ = pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: c.deletePod,
	})
	return c
}

// Start waits for the caches, then syncs Deployments until ctx ends. It
// returns nil when ctx ends.
func (c *Controller) Start(ctx context.Context) error {
	defer utilruntime.HandleCrashWithContext(ctx)
	defer c.stopRecorder()
	logger := klog.FromContext(ctx).WithValues("controller", "deployment")
	ctx = klog.NewContext(ctx, logger)
	logger.Info("starting")
	defer logger.Info("stopping")
	if err := controller.WaitForCaches(ctx, "deployment", c.cachesSynced...); err != nil {
		c.queue.ShutDown()
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("deployment: %w", err)
	}
	controller.RunWorkers(ctx, c.queue, workers, c.sync)
	return nil
}

func (c *Controller) enqueue(obj interface{}) {
	key, err := controller.KeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("deployment: %w", err))
		return
	}
	c.queue.Add(key)
}

func (c *Controller) enqueueAfter(d *appsv1.Deployment, after time.Duration) {
	key, err := controller.KeyFunc(d)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("deployment: %w", err))
		return
	}
	c.queue.AddAfter(key, after)
}

func (c *Controller) enqueueRateLimited(d *appsv1.Deployment) {
	key, err := controller.KeyFunc(d)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("deployment: %w", err))
		return
	}
	c.queue.AddRateLimited(key)
}

// resolveControllerRef returns the Deployment a controller reference
// names, if it exists with that UID.
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.Deployment {
	if ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return nil
	}
	d, err := c.dLister.Deployments(namespace).Get(ref.Name)
	if err != nil || d.UID != ref.UID {
		return nil
	}
	return d
}

// deploymentsSelecting returns the Deployments whose selector matches an
// orphan ReplicaSet: the candidates to adopt it.
func (c *Controller) deploymentsSelecting(rs *appsv1.ReplicaSet) []*appsv1.Deployment {
	if len(rs.Labels) == 0 {
		return nil
	}
	all, err := c.dLister.Deployments(rs.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*appsv1.Deployment
	for _, d := range all {
		selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || selector.Empty() {
			continue
		}
		if selector.Matches(labels.Set(rs.Labels)) {
			out = append(out, d)
		}
	}
	return out
}

func (c *Controller) addReplicaSet(obj interface{}) {
	rs := obj.(*appsv1.ReplicaSet)
	if rs.DeletionTimestamp != nil {
		c.deleteReplicaSet(rs)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
		if d := c.resolveControllerRef(rs.Namespace, ref); d != nil {
			c.enqueue(d)
		}
		return
	}
	for _, d := range c.deploymentsSelecting(rs) {
		c.enqueue(d)
	}
}

func (c *Controller) updateReplicaSet(old, cur interface{}) {
	oldRS, curRS := old.(*appsv1.ReplicaSet), cur.(*appsv1.ReplicaSet)
	if oldRS.ResourceVersion == curRS.ResourceVersion {
		return
	}
	curRef, oldRef := metav1.GetControllerOfNoCopy(curRS), metav1.GetControllerOfNoCopy(oldRS)
	refChanged := !apiequality.Semantic.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if d := c.resolveControllerRef(oldRS.Namespace, oldRef); d != nil {
			c.enqueue(d)
		}
	}
	if curRef != nil {
		if d := c.resolveControllerRef(curRS.Namespace, curRef); d != nil {
			c.enqueue(d)
		}
		return
	}
	if refChanged || !apiequality.Semantic.DeepEqual(oldRS.Labels, curRS.Labels) {
		for _, d := range c.deploymentsSelecting(curRS) {
			c.enqueue(d)
		}
	}
}

func (c *Controller) deleteReplicaSet(obj interface{}) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		tombstone, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if rs, ok = tombstone.Obj.(*appsv1.ReplicaSet); !ok {
			return
		}
	}
	if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
		if d := c.resolveControllerRef(rs.Namespace, ref); d != nil {
			c.enqueue(d)
		}
	}
}

// deletePod wakes a Recreate Deployment when one of its pods goes away:
// it waits for the old pods to be gone before starting the new ones.
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
	if ref == nil || ref.Kind != "ReplicaSet" {
		return
	}
	rs, err := c.rsLister.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return
	}
	rsRef := metav1.GetControllerOfNoCopy(rs)
	if rsRef == nil {
		return
	}
	if d := c.resolveControllerRef(rs.Namespace, rsRef); d != nil && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		c.enqueue(d)
	}
}

// sync brings one Deployment's ReplicaSets and status in line with its
// spec.
func (c *Controller) sync(ctx context.Context, key string) error {
	logger := klog.FromContext(ctx)
	namespace, name, err := controller.SplitKey(key)
	if err != nil {
		return err
	}
	cached, err := c.dLister.Deployments(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		logger.V(4).Info("deployment gone", "deployment", key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("deployment: getting %s: %w", key, err)
	}
	// Everything below changes d as it goes; the cache must not see it.
	d := cached.DeepCopy()

	if d.Spec.Selector == nil || (len(d.Spec.Selector.MatchLabels) == 0 && len(d.Spec.Selector.MatchExpressions) == 0) {
		c.recorder.Event(d, corev1.EventTypeWarning, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.")
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			return c.updateStatus(ctx, d)
		}
		return nil
	}
	rsList, err := c.claimReplicaSets(ctx, d)
	if err != nil {
		return err
	}
	if d.DeletionTimestamp != nil {
		return c.syncStatusOnly(ctx, d, rsList)
	}
	if err := c.checkPausedConditions(ctx, d); err != nil {
		return err
	}
	if d.Spec.Paused {
		return c.syncScale(ctx, d, rsList)
	}
	scaling, err := c.isScalingEvent(ctx, d, rsList)
	if err != nil {
		return err
	}
	if scaling {
		return c.syncScale(ctx, d, rsList)
	}
	switch d.Spec.Strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		pods, err := c.podsByReplicaSet(d, rsList)
		if err != nil {
			return err
		}
		return c.rolloutRecreate(ctx, d, rsList, pods)
	case appsv1.RollingUpdateDeploymentStrategyType:
		return c.rolloutRolling(ctx, d, rsList)
	}
	// Validation admits no other type.
	utilruntime.HandleErrorWithContext(ctx, fmt.Errorf("deployment: unknown strategy type %q", d.Spec.Strategy.Type), "not syncing", "deployment", key)
	return nil
}

// claimReplicaSets returns the ReplicaSets the Deployment owns after
// adopting matching orphans and releasing owned ones that stopped
// matching.
func (c *Controller) claimReplicaSets(ctx context.Context, d *appsv1.Deployment) ([]*appsv1.ReplicaSet, error) {
	all, err := c.rsLister.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("deployment: listing replica sets: %w", err)
	}
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment: %s/%s selector: %w", d.Namespace, d.Name, err)
	}
	canAdopt := controller.RecheckDeletionTimestamp(func(ctx context.Context) (metav1.Object, error) {
		fresh, err := c.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		if fresh.UID != d.UID {
			return nil, fmt.Errorf("original Deployment %v/%v is gone: got uid %v, wanted %v", d.Namespace, d.Name, fresh.UID, d.UID)
		}
		return fresh, nil
	})
	m := controller.NewRefManager(d, controllerKind, selector, canAdopt)
	claimed, err := m.ClaimReplicaSets(ctx, c.client, all)
	if err != nil {
		return nil, fmt.Errorf("deployment: claiming replica sets of %s/%s: %w", d.Namespace, d.Name, err)
	}
	return claimed, nil
}

// podsByReplicaSet groups the Deployment's pods by the UID of the
// ReplicaSet (of rsList) controlling them.
func (c *Controller) podsByReplicaSet(d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (map[types.UID][]*corev1.Pod, error) {
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment: %s/%s selector: %w", d.Namespace, d.Name, err)
	}
	byRS := make(map[types.UID][]*corev1.Pod, len(rsList))
	for _, rs := range rsList {
		// The ReplicaSet's own pods through the index, not a scan of
		// the namespace: the orphans PodsOwnedOrOrphaned adds are
		// dropped by the controller check below.
		pods, err := controller.PodsOwnedOrOrphaned(c.podIndexer, d.Namespace, rs.UID)
		if err != nil {
			return nil, fmt.Errorf("deployment: %w", err)
		}
		var owned []*corev1.Pod
		for _, pod := range pods {
			if ref := metav1.GetControllerOfNoCopy(pod); ref != nil && ref.UID == rs.UID && selector.Matches(labels.Set(pod.Labels)) {
				owned = append(owned, pod)
			}
		}
		byRS[rs.UID] = owned
	}
	return byRS, nil
}
