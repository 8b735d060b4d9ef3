package daemonset

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/navarch/navarch/internal/controller"
)

// eventSource is the component name on this controller's events.
const eventSource = "daemonset-controller"

// The back-off before a failed daemon pod is replaced on the same node.
const (
	failedPodBackoffInitial = time.Second
	failedPodBackoffMax     = 15 * time.Minute
)

var controllerKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Controller runs DaemonSets. Create it with New and run it with Start.
type Controller struct {
	client kubernetes.Interface
	sets   appslisters.DaemonSetLister
	// podIndexer finds pods by controller (controller.PodControllerUIDIndex).
	podIndexer cache.Indexer
	nodes      corelisters.NodeLister
	revisions  appslisters.ControllerRevisionLister
	synced     []cache.InformerSynced
	queue      workqueue.TypedRateLimitingInterface[string]
	clock      clock.Clock

	expectations *controller.UIDTrackingExpectations
	// failedPodsBackoff spaces out the replacement of failed pods per
	// DaemonSet and node.
	failedPodsBackoff *flowcontrol.Backoff

	// podControl and recorder are set by Start unless a test set them.
	podControl controller.PodControl
	// createPod is the podControl's creator (CreatePodsWith).
	createPod controller.PodCreator
	recorder  record.EventRecorder
}

// New returns a controller fed by the Pod, Node, DaemonSet and
// ControllerRevision informers of one shared factory. It registers its
// event handlers now.
func New(client kubernetes.Interface,
	podInformer coreinformers.PodInformer,
	nodeInformer coreinformers.NodeInformer,
	setInformer appsinformers.DaemonSetInformer,
	revisionInformer appsinformers.ControllerRevisionInformer,
) *Controller {
	c := &Controller{
		client:     client,
		sets:       setInformer.Lister(),
		podIndexer: podInformer.Informer().GetIndexer(),
		nodes:      nodeInformer.Lister(),
		revisions:  revisionInformer.Lister(),
		synced: []cache.InformerSynced{
			podInformer.Informer().HasSynced, nodeInformer.Informer().HasSynced,
			setInformer.Informer().HasSynced, revisionInformer.Informer().HasSynced,
		},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "daemonset"}),
		clock:             clock.RealClock{},
		expectations:      controller.NewUIDTrackingExpectations(controller.NewControllerExpectations()),
		failedPodsBackoff: flowcontrol.NewBackOff(failedPodBackoffInitial, failedPodBackoffMax),
	}
	// Without the index (informer already started) lookups scan the
	// namespace instead.
	_ = controller.AddPodControllerUIDIndexer(podInformer.Informer())
	_, _ = setInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj interface{}) { c.enqueue(obj) },
		DeleteFunc: c.setDeleted,
	})
	_, _ = podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	_, _ = nodeInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(interface{}) { c.enqueueAll() },
		UpdateFunc: func(old, obj interface{}) {
			oldNode, ok1 := old.(*corev1.Node)
			node, ok2 := obj.(*corev1.Node)
			if ok1 && ok2 && apiequality.Semantic.DeepEqual(oldNode.Labels, node.Labels) &&
				apiequality.Semantic.DeepEqual(oldNode.Spec.Taints, node.Spec.Taints) {
				return
			}
			c.enqueueAll()
		},
		DeleteFunc: func(interface{}) { c.enqueueAll() },
	})
	return c
}

// CreatePodsWith makes the controller create pods with create rather than
// its client. Call it before Start.
func (c *Controller) CreatePodsWith(create controller.PodCreator) { c.createPod = create }

// Start waits for the caches, then runs DaemonSets until ctx ends. It
// returns nil when ctx ends, or an error if the caches never synced.
func (c *Controller) Start(ctx context.Context) error {
	if c.recorder == nil {
		recorder, stop := controller.NewEventRecorder(c.client, eventSource)
		defer stop()
		c.recorder = recorder
	}
	if c.podControl == nil {
		c.podControl = controller.RealPodControl{Client: c.client, Recorder: c.recorder, Create: c.createPod}
	}
	if err := controller.WaitForCaches(ctx, "daemonset", c.synced...); err != nil {
		c.queue.ShutDown()
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	go func() {
		// Forget back-off records of nodes long healthy.
		ticker := time.NewTicker(time.Minute)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
				c.failedPodsBackoff.GC()
			}
		}
	}()
	controller.RunWorkers(ctx, c.queue, 2, c.sync)
	return nil
}

func (c *Controller) enqueue(obj interface{}) {
	key, err := controller.KeyFunc(obj)
	if err != nil {
		return
	}
	c.queue.Add(key)
}

func (c *Controller) setDeleted(obj interface{}) {
	key, err := controller.KeyFunc(obj)
	if err != nil {
		return
	}
	c.expectations.DeleteExpectations(key)
	c.queue.Add(key)
}

// enqueueAll requeues every DaemonSet: a node changed.
func (c *Controller) enqueueAll() {
	sets, err := c.sets.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range sets {
		c.queue.Add(ds.Namespace + "/" + ds.Name)
	}
}

// ownerKey returns the key of the DaemonSet that controls a pod, or "".
func ownerKey(pod *corev1.Pod) string {
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil || ref.Kind != controllerKind.Kind || ref.APIVersion != appsv1.SchemeGroupVersion.String() {
		return ""
	}
	return pod.Namespace + "/" + ref.Name
}

func (c *Controller) addPod(obj interface{}) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if pod.DeletionTimestamp != nil {
		c.deletePod(pod)
		return
	}
	if key := ownerKey(pod); key != "" {
		c.expectations.CreationObserved(key)
		c.queue.Add(key)
		return
	}
	c.enqueueMatching(pod)
}

func (c *Controller) updatePod(oldObj, obj interface{}) {
	old, ok1 := oldObj.(*corev1.Pod)
	pod, ok2 := obj.(*corev1.Pod)
	if !ok1 || !ok2 || old.ResourceVersion == pod.ResourceVersion {
		return
	}
	if oldKey, key := ownerKey(old), ownerKey(pod); oldKey != "" && oldKey != key {
		c.queue.Add(oldKey)
	}
	key := ownerKey(pod)
	if key == "" {
		c.enqueueMatching(pod)
		return
	}
	if pod.DeletionTimestamp != nil && old.DeletionTimestamp == nil {
		c.expectations.DeletionObserved(key, controller.PodKey(pod))
	}
	c.queue.Add(key)
}

func (c *Controller) deletePod(obj interface{}) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if key := ownerKey(pod); key != "" {
		c.expectations.DeletionObserved(key, controller.PodKey(pod))
		c.queue.Add(key)
	}
}

// enqueueMatching requeues the DaemonSets whose selector matches an
// orphan pod: one may adopt it.
func (c *Controller) enqueueMatching(pod *corev1.Pod) {
	sets, err := c.sets.DaemonSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range sets {
		selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
		if err == nil && selector.Matches(labels.Set(pod.Labels)) {
			c.queue.Add(ds.Namespace + "/" + ds.Name)
		}
	}
}
