package namespace

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// recheckInterval is how soon a namespace whose contents are still
// going away (pods in their grace period, objects with finalizers) is
// looked at again.
const recheckInterval = 2 * time.Second

// Controller finalizes deleted namespaces.
type Controller struct {
	client    kubernetes.Interface
	dynamic   dynamic.Interface
	discovery discovery.DiscoveryInterface
	lister    corelisters.NamespaceLister
	synced    cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
}

// New returns a controller fed by the namespace informer.
func New(client kubernetes.Interface, dyn dynamic.Interface, informer coreinformers.NamespaceInformer) *Controller {
	c := &Controller{
		client:    client,
		dynamic:   dyn,
		discovery: client.Discovery(),
		lister:    informer.Lister(),
		synced:    informer.Informer().HasSynced,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "namespace"}),
	}
	enqueue := func(obj interface{}) {
		ns, ok := obj.(*corev1.Namespace)
		if ok && ns.DeletionTimestamp != nil {
			c.queue.Add(ns.Name)
		}
	}
	_, _ = informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj interface{}) { enqueue(obj) },
	})
	return c
}

// Start runs workers until ctx ends.
func (c *Controller) Start(ctx context.Context) error {
	defer utilruntime.HandleCrash()
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("namespace: caches did not sync")
	}
	for i := 0; i < 2; i++ {
		go wait.UntilWithContext(ctx, c.worker, time.Second)
	}
	<-ctx.Done()
	return nil
}

func (c *Controller) worker(ctx context.Context) {
	for c.processNext(ctx) {
	}
}

func (c *Controller) processNext(ctx context.Context) bool {
	name, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(name)
	remaining, err := c.sync(ctx, name)
	switch {
	case err != nil:
		utilruntime.HandleErrorWithContext(ctx, err, "finalizing namespace", "namespace", name)
		c.queue.AddRateLimited(name)
	case remaining:
		c.queue.Forget(name)
		c.queue.AddAfter(name, recheckInterval)
	default:
		c.queue.Forget(name)
	}
	return true
}

// sync deletes the contents of a namespace being deleted and finalizes it
// when they are gone. It reports whether contents remain.
func (c *Controller) sync(ctx context.Context, name string) (bool, error) {
	ns, err := c.lister.Get(name)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if ns.DeletionTimestamp == nil || !hasFinalizer(ns) {
		return false, nil
	}
	resources, err := c.namespacedResources()
	if err != nil {
		return false, err
	}
	remaining := false
	for _, gvr := range resources {
		left, err := c.deleteAll(ctx, gvr, name)
		if err != nil {
			return false, err
		}
		remaining = remaining || left
	}
	if remaining {
		return true, nil
	}
	return false, c.finalize(ctx, ns)
}

// namespacedResources lists every namespaced resource that can be listed
// and deleted.
func (c *Controller) namespacedResources() ([]schema.GroupVersionResource, error) {
	lists, err := c.discovery.ServerPreferredNamespacedResources()
	if err != nil && len(lists) == 0 {
		return nil, fmt.Errorf("namespace: discovery: %w", err)
	}
	var out []schema.GroupVersionResource
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range list.APIResources {
			verbs := sets.New(r.Verbs...)
			if !verbs.HasAll("list", "delete") {
				continue
			}
			out = append(out, gv.WithResource(r.Name))
		}
	}
	return out, nil
}

// deleteAll deletes every object of one resource in the namespace and
// reports whether some still exist (waiting for finalizers or a grace
// period).
func (c *Controller) deleteAll(ctx context.Context, gvr schema.GroupVersionResource, namespace string) (bool, error) {
	client := c.dynamic.Resource(gvr).Namespace(namespace)
	list, err := client.List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("namespace: listing %s in %s: %w", gvr.Resource, namespace, err)
	}
	if len(list.Items) == 0 {
		return false, nil
	}
	background := metav1.DeletePropagationBackground
	for _, item := range list.Items {
		if item.GetDeletionTimestamp() != nil {
			continue
		}
		uid := item.GetUID()
		err := client.Delete(ctx, item.GetName(), metav1.DeleteOptions{
			PropagationPolicy: &background,
			Preconditions:     &metav1.Preconditions{UID: &uid},
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return false, fmt.Errorf("namespace: deleting %s %s/%s: %w", gvr.Resource, namespace, item.GetName(), err)
		}
	}
	klog.FromContext(ctx).V(2).Info("deleted namespace contents", "namespace", namespace, "resource", gvr.Resource, "count", len(list.Items))
	return true, nil
}

func hasFinalizer(ns *corev1.Namespace) bool {
	for _, f := range ns.Spec.Finalizers {
		if f == corev1.FinalizerKubernetes {
			return true
		}
	}
	return false
}

// finalize removes the "kubernetes" finalizer; the API server then
// removes the namespace if nothing else holds it.
func (c *Controller) finalize(ctx context.Context, ns *corev1.Namespace) error {
	ns = ns.DeepCopy()
	var keep []corev1.FinalizerName
	for _, f := range ns.Spec.Finalizers {
		if f != corev1.FinalizerKubernetes {
			keep = append(keep, f)
		}
	}
	ns.Spec.Finalizers = keep
	_, err := c.client.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("namespace: finalizing %s: %w", ns.Name, err)
	}
	return nil
}
