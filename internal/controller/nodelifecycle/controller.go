package nodelifecycle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	coordinationinformers "k8s.io/client-go/informers/coordination/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// podNodeIndex indexes pods by spec.nodeName; the name is this
// package's own so no other controller's index on the shared informer
// collides with it.
const podNodeIndex = "nodelifecycle.navarch.io/nodeName"

// workers is how many nodes (taints) and pods (evictions) sync in
// parallel, each.
const workers = 2

// Controller watches node health, taints nodes and evicts pods.
type Controller struct {
	client      kubernetes.Interface
	cfg         Config
	broadcaster record.EventBroadcaster
	// recorder emits core/v1 events as "node-controller"; tests replace
	// it.
	recorder record.EventRecorder

	nodes    corelisters.NodeLister
	leases   coordinationlisters.LeaseLister
	pods     corelisters.PodLister
	podIndex cache.Indexer
	synced   []cache.InformerSynced

	// taintQueue holds node names whose taints need a look.
	taintQueue workqueue.TypedRateLimitingInterface[string]
	// evictionQueue holds pod keys whose eviction needs a look, now or
	// when a toleration runs out.
	evictionQueue workqueue.TypedRateLimitingInterface[string]

	// mu guards health, retryMarkPods and scheduled.
	mu sync.Mutex
	// health is what the monitor saw of each node at its last pass.
	health map[string]*nodeHealth
	// retryMarkPods holds nodes whose pods could not all be marked not
	// ready; the next pass tries again.
	retryMarkPods map[string]bool
	// scheduled holds the pods waiting for a toleration to run out, to
	// say when an eviction is cancelled.
	scheduled map[string]time.Time
}

// New returns a controller fed by the shared node, lease and pod
// informers; cfg's zero fields take DefaultConfig's values. Register it
// before the informers start: it adds a pod index by node.
func New(client kubernetes.Interface, nodes coreinformers.NodeInformer, leases coordinationinformers.LeaseInformer,
	pods coreinformers.PodInformer, cfg Config) *Controller {
	broadcaster := record.NewBroadcaster()
	c := &Controller{
		client:      client,
		cfg:         cfg.withDefaults(),
		broadcaster: broadcaster,
		recorder:    broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "node-controller"}),
		nodes:       nodes.Lister(),
		leases:      leases.Lister(),
		pods:        pods.Lister(),
		podIndex:    pods.Informer().GetIndexer(),
		synced: []cache.InformerSynced{
			nodes.Informer().HasSynced, leases.Informer().HasSynced, pods.Informer().HasSynced,
		},
		taintQueue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "node_lifecycle_taints"}),
		evictionQueue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "taint_eviction"}),
		health:        map[string]*nodeHealth{},
		retryMarkPods: map[string]bool{},
		scheduled:     map[string]time.Time{},
	}
	// Without the index (the informer already runs) pods are found by a
	// scan; slower, same result.
	_ = pods.Informer().AddIndexers(cache.Indexers{podNodeIndex: func(obj interface{}) ([]string, error) {
		if pod, ok := obj.(*corev1.Pod); ok && pod.Spec.NodeName != "" {
			return []string{pod.Spec.NodeName}, nil
		}
		return nil, nil
	}})
	_, _ = nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			if node, ok := obj.(*corev1.Node); ok {
				c.taintQueue.Add(node.Name)
				c.queuePodsOn(node.Name)
			}
		},
		UpdateFunc: func(oldObj, newObj interface{}) {
			oldNode, ok1 := oldObj.(*corev1.Node)
			node, ok2 := newObj.(*corev1.Node)
			if !ok1 || !ok2 {
				return
			}
			c.taintQueue.Add(node.Name)
			if !apiequality.Semantic.DeepEqual(noExecuteTaints(oldNode.Spec.Taints), noExecuteTaints(node.Spec.Taints)) {
				c.queuePodsOn(node.Name)
			}
		},
	})
	_, _ = pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.queuePod,
		UpdateFunc: func(oldObj, newObj interface{}) {
			oldPod, ok1 := oldObj.(*corev1.Pod)
			pod, ok2 := newObj.(*corev1.Pod)
			if ok1 && ok2 && (oldPod.Spec.NodeName != pod.Spec.NodeName ||
				!apiequality.Semantic.DeepEqual(oldPod.Spec.Tolerations, pod.Spec.Tolerations) ||
				(oldPod.DeletionTimestamp == nil) != (pod.DeletionTimestamp == nil)) {
				c.queuePod(pod)
			}
		},
		DeleteFunc: c.queuePod,
	})
	return c
}

// Start waits for the caches, then monitors node health every
// MonitorPeriod and runs the taint and eviction workers until ctx ends;
// it returns nil then, or an error if the caches never synced.
func (c *Controller) Start(ctx context.Context) error {
	defer utilruntime.HandleCrashWithContext(ctx)
	defer c.taintQueue.ShutDown()
	defer c.evictionQueue.ShutDown()
	logger := klog.FromContext(ctx)
	c.broadcaster.StartStructuredLogging(3)
	c.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer c.broadcaster.Shutdown()
	logger.Info("Starting node lifecycle controller")
	defer logger.Info("Shutting down node lifecycle controller")
	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("nodelifecycle: caches did not sync")
	}
	for range workers {
		go wait.UntilWithContext(ctx, func(ctx context.Context) {
			for processNext(ctx, c.taintQueue, c.syncTaints) {
			}
		}, time.Second)
		go wait.UntilWithContext(ctx, func(ctx context.Context) {
			for processNext(ctx, c.evictionQueue, c.syncEviction) {
			}
		}, time.Second)
	}
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := c.monitor(ctx); err != nil {
			utilruntime.HandleErrorWithContext(ctx, err, "monitoring node health")
		}
	}, c.cfg.MonitorPeriod)
	return nil
}

func processNext(ctx context.Context, queue workqueue.TypedRateLimitingInterface[string], sync func(context.Context, string) error) bool {
	key, quit := queue.Get()
	if quit {
		return false
	}
	defer queue.Done(key)
	if err := sync(ctx, key); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "node lifecycle sync failed", "key", key)
		queue.AddRateLimited(key)
		return true
	}
	queue.Forget(key)
	return true
}

func (c *Controller) queuePod(obj interface{}) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	key, err := cache.MetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("nodelifecycle: no key for %T: %w", obj, err))
		return
	}
	c.evictionQueue.Add(key)
}

func (c *Controller) queuePodsOn(nodeName string) {
	pods, err := c.podsOn(nodeName)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	for _, pod := range pods {
		c.evictionQueue.Add(pod.Namespace + "/" + pod.Name)
	}
}

// podsOn returns the pods bound to a node, from the cache.
func (c *Controller) podsOn(nodeName string) ([]*corev1.Pod, error) {
	var out []*corev1.Pod
	if _, indexed := c.podIndex.GetIndexers()[podNodeIndex]; indexed {
		objs, err := c.podIndex.ByIndex(podNodeIndex, nodeName)
		if err != nil {
			return nil, fmt.Errorf("nodelifecycle: pods on %s: %w", nodeName, err)
		}
		for _, obj := range objs {
			if pod, ok := obj.(*corev1.Pod); ok {
				out = append(out, pod)
			}
		}
		return out, nil
	}
	all, err := c.pods.List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("nodelifecycle: listing pods: %w", err)
	}
	for _, pod := range all {
		if pod.Spec.NodeName == nodeName {
			out = append(out, pod)
		}
	}
	return out, nil
}
