package rootcacert

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// Names of the published ConfigMap, and upstream's description of it.
const (
	ConfigMapName         = "kube-root-ca.crt"
	caKey                 = "ca.crt"
	descriptionAnnotation = "kubernetes.io/description"
	description           = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."
)

// Controller publishes the cluster CA in every namespace.
type Controller struct {
	client           kubernetes.Interface
	namespaces       corelisters.NamespaceLister
	configMaps       corelisters.ConfigMapLister
	namespacesSynced cache.InformerSynced
	configMapsSynced cache.InformerSynced
	// queue holds namespace names.
	queue workqueue.TypedRateLimitingInterface[string]
}

// New returns a controller fed by the shared namespace and ConfigMap
// informers. Register it before the informers start.
func New(client kubernetes.Interface, namespaces coreinformers.NamespaceInformer, configMaps coreinformers.ConfigMapInformer) *Controller {
	c := &Controller{
		client:           client,
		namespaces:       namespaces.Lister(),
		configMaps:       configMaps.Lister(),
		namespacesSynced: namespaces.Informer().HasSynced,
		configMapsSynced: configMaps.Informer().HasSynced,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "root_ca_cert_publisher"}),
	}
	_, _ = namespaces.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.namespaceChanged,
		UpdateFunc: func(_, obj interface{}) { c.namespaceChanged(obj) },
	})
	_, _ = configMaps.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.configMapChanged,
		UpdateFunc: func(_, obj interface{}) { c.configMapChanged(obj) },
		DeleteFunc: c.configMapChanged,
	})
	return c
}

// Start waits for the caches, runs a worker and blocks until ctx ends.
func (c *Controller) Start(ctx context.Context) error {
	defer utilruntime.HandleCrashWithContext(ctx)
	defer c.queue.ShutDown()
	logger := klog.FromContext(ctx)
	logger.Info("Starting root CA cert publisher controller")
	defer logger.Info("Shutting down root CA cert publisher controller")
	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.namespacesSynced, c.configMapsSynced) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("rootcacert: caches did not sync")
	}
	go wait.UntilWithContext(ctx, func(ctx context.Context) {
		for c.processNext(ctx) {
		}
	}, time.Second)
	<-ctx.Done()
	return nil
}

func (c *Controller) namespaceChanged(obj interface{}) {
	if ns, ok := obj.(*corev1.Namespace); ok {
		c.queue.Add(ns.Name)
	}
}

// configMapChanged queues the namespace of a published copy; a change of
// the source in kube-system queues every namespace.
func (c *Controller) configMapChanged(obj interface{}) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok || cm.Name != ConfigMapName {
		return
	}
	if cm.Namespace != metav1.NamespaceSystem {
		c.queue.Add(cm.Namespace)
		return
	}
	namespaces, err := c.namespaces.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ns := range namespaces {
		c.queue.Add(ns.Name)
	}
}

func (c *Controller) processNext(ctx context.Context) bool {
	name, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(name)
	if err := c.sync(ctx, name); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "publishing the root CA", "namespace", name)
		c.queue.AddRateLimited(name)
		return true
	}
	c.queue.Forget(name)
	return true
}

// sync makes namespace's kube-root-ca.crt hold the CA of kube-system's.
func (c *Controller) sync(ctx context.Context, namespace string) error {
	if namespace == metav1.NamespaceSystem {
		return nil // the server publishes the source itself
	}
	ns, err := c.namespaces.Get(namespace)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("rootcacert: reading namespace %s: %w", namespace, err)
	}
	if ns.Status.Phase != corev1.NamespaceActive || ns.DeletionTimestamp != nil {
		return nil
	}
	source, err := c.configMaps.ConfigMaps(metav1.NamespaceSystem).Get(ConfigMapName)
	if err != nil {
		return fmt.Errorf("rootcacert: reading the published CA: %w", err)
	}
	ca := source.Data[caKey]
	if ca == "" {
		return fmt.Errorf("rootcacert: %s/%s has no %s", metav1.NamespaceSystem, ConfigMapName, caKey)
	}
	existing, err := c.configMaps.ConfigMaps(namespace).Get(ConfigMapName)
	switch {
	case apierrors.IsNotFound(err):
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Namespace: namespace,
				Annotations: map[string]string{descriptionAnnotation: description}},
			Data: map[string]string{caKey: ca},
		}
		_, err = c.client.CoreV1().ConfigMaps(namespace).Create(ctx, cm, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) || apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil
		}
	case err != nil:
		return fmt.Errorf("rootcacert: %w", err)
	case existing.Data[caKey] == ca && len(existing.Data) == 1 && existing.Annotations[descriptionAnnotation] == description:
		return nil
	default:
		cm := existing.DeepCopy()
		cm.Data = map[string]string{caKey: ca}
		if cm.Annotations == nil {
			cm.Annotations = map[string]string{}
		}
		cm.Annotations[descriptionAnnotation] = description
		_, err = c.client.CoreV1().ConfigMaps(namespace).Update(ctx, cm, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("rootcacert: publishing in %s: %w", namespace, err)
	}
	klog.FromContext(ctx).V(2).Info("Published the root CA", "namespace", namespace)
	return nil
}
