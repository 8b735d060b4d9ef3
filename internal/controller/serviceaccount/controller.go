package serviceaccount

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// DefaultServiceAccountName is the account every namespace gets.
const DefaultServiceAccountName = "default"

// workers is how many namespaces are synced in parallel.
const workers = 2

// Controller ensures the default ServiceAccount of every namespace.
type Controller struct {
	client kubernetes.Interface
	// accounts are the names of the ServiceAccounts ensured in each
	// namespace (upstream makes this list configurable; it is "default").
	accounts []string

	namespaces       corelisters.NamespaceLister
	serviceAccounts  corelisters.ServiceAccountLister
	namespacesSynced cache.InformerSynced
	accountsSynced   cache.InformerSynced

	// queue holds namespace names.
	queue workqueue.TypedRateLimitingInterface[string]
}

// New returns a controller fed by the shared namespace and service
// account informers. Register it before the informers start.
func New(client kubernetes.Interface, namespaces coreinformers.NamespaceInformer, serviceAccounts coreinformers.ServiceAccountInformer) *Controller {
	c := &Controller{
		client:           client,
		accounts:         []string{DefaultServiceAccountName},
		namespaces:       namespaces.Lister(),
		serviceAccounts:  serviceAccounts.Lister(),
		namespacesSynced: namespaces.Informer().HasSynced,
		accountsSynced:   serviceAccounts.Informer().HasSynced,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "serviceaccount"}),
	}
	_, _ = namespaces.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueNamespace,
		UpdateFunc: func(_, obj interface{}) { c.enqueueNamespace(obj) },
	})
	_, _ = serviceAccounts.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: c.serviceAccountDeleted,
	})
	return c
}

// Start waits for the caches, runs the workers and blocks until ctx ends;
// it returns nil then, or an error if the caches never synced.
func (c *Controller) Start(ctx context.Context) error {
	defer utilruntime.HandleCrashWithContext(ctx)
	defer c.queue.ShutDown()
	logger := klog.FromContext(ctx)
	logger.Info("Starting service account controller")
	defer logger.Info("Shutting down service account controller")
	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.namespacesSynced, c.accountsSynced) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("serviceaccount: caches did not sync")
	}
	for range workers {
		go wait.UntilWithContext(ctx, c.worker, time.Second)
	}
	<-ctx.Done()
	return nil
}

func (c *Controller) enqueueNamespace(obj interface{}) {
	if ns, ok := obj.(*corev1.Namespace); ok {
		c.queue.Add(ns.Name)
	}
}

// serviceAccountDeleted queues the namespace of a deleted account, so a
// deleted "default" comes back.
func (c *Controller) serviceAccountDeleted(obj interface{}) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		return
	}
	for _, name := range c.accounts {
		if sa.Name == name {
			c.queue.Add(sa.Namespace)
			return
		}
	}
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
	if err := c.sync(ctx, name); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "ensuring service accounts", "namespace", name)
		c.queue.AddRateLimited(name)
		return true
	}
	c.queue.Forget(name)
	return true
}

// sync creates the missing accounts of one namespace. A namespace that is
// gone or terminating needs nothing.
func (c *Controller) sync(ctx context.Context, namespace string) error {
	ns, err := c.namespaces.Get(namespace)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("serviceaccount: reading namespace %s: %w", namespace, err)
	}
	if ns.Status.Phase != corev1.NamespaceActive || ns.DeletionTimestamp != nil {
		return nil
	}
	var errs []error
	for _, name := range c.accounts {
		switch _, err := c.serviceAccounts.ServiceAccounts(namespace).Get(name); {
		case err == nil:
			continue
		case !apierrors.IsNotFound(err):
			errs = append(errs, err)
			continue
		}
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
		_, err := c.client.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{})
		switch {
		case err == nil:
			klog.FromContext(ctx).V(2).Info("Created service account", "serviceAccount", klog.KObj(sa))
		case apierrors.IsAlreadyExists(err):
			// The cache is behind; the account is there.
		case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
			// The namespace started terminating since we read it.
		default:
			errs = append(errs, fmt.Errorf("serviceaccount: creating %s/%s: %w", namespace, name, err))
		}
	}
	return errors.Join(errs...)
}
