package statefulset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/navarch/navarch/internal/controller"
)

// eventSource is the component name on this controller's events.
const eventSource = "statefulset-controller"

var controllerKind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

// Controller runs StatefulSets. Create it with New and run it with Start.
type Controller struct {
	client kubernetes.Interface
	sets   appslisters.StatefulSetLister
	// podIndexer finds pods by controller (controller.PodControllerUIDIndex).
	podIndexer cache.Indexer
	claims     corelisters.PersistentVolumeClaimLister
	revisions  appslisters.ControllerRevisionLister
	synced     []cache.InformerSynced
	queue      workqueue.TypedRateLimitingInterface[string]
	clock      clock.Clock

	// recorder is set by Start (or by tests).
	recorder record.EventRecorder
}

// New returns a controller fed by the Pod, StatefulSet,
// PersistentVolumeClaim and ControllerRevision informers of one shared
// factory. It registers its event handlers now.
func New(client kubernetes.Interface,
	podInformer coreinformers.PodInformer,
	setInformer appsinformers.StatefulSetInformer,
	claimInformer coreinformers.PersistentVolumeClaimInformer,
	revisionInformer appsinformers.ControllerRevisionInformer,
) *Controller {
	c := &Controller{
		client:     client,
		sets:       setInformer.Lister(),
		podIndexer: podInformer.Informer().GetIndexer(),
		claims:     claimInformer.Lister(),
		revisions:  revisionInformer.Lister(),
		synced: []cache.InformerSynced{
			podInformer.Informer().HasSynced, setInformer.Informer().HasSynced,
			claimInformer.Informer().HasSynced, revisionInformer.Informer().HasSynced,
		},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "statefulset"}),
		clock: clock.RealClock{},
	}
	// Without the index (informer already started) lookups scan the
	// namespace instead.
	_ = controller.AddPodControllerUIDIndexer(podInformer.Informer())
	_, _ = setInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj interface{}) { c.enqueue(obj) },
		DeleteFunc: c.enqueue,
	})
	_, _ = podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.podChanged,
		UpdateFunc: func(old, obj interface{}) {
			c.podChanged(old)
			c.podChanged(obj)
		},
		DeleteFunc: c.podChanged,
	})
	// A claim going away may free a pod waiting for it.
	_, _ = claimInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: c.claimDeleted,
	})
	return c
}

// Start waits for the caches, then runs StatefulSets until ctx ends. It
// returns nil when ctx ends, or an error if the caches never synced.
func (c *Controller) Start(ctx context.Context) error {
	if c.recorder == nil {
		recorder, stop := controller.NewEventRecorder(c.client, eventSource)
		defer stop()
		c.recorder = recorder
	}
	if err := controller.WaitForCaches(ctx, "statefulset", c.synced...); err != nil {
		c.queue.ShutDown()
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
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

// podChanged requeues the set that controls a pod, or, for an orphan,
// every set whose selector matches it (one may adopt it).
func (c *Controller) podChanged(obj interface{}) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if ref.Kind == controllerKind.Kind && ref.APIVersion == appsv1.SchemeGroupVersion.String() {
			c.queue.Add(pod.Namespace + "/" + ref.Name)
		}
		return
	}
	sets, err := c.sets.StatefulSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, set := range sets {
		selector, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
		if err == nil && selector.Matches(labels.Set(pod.Labels)) {
			c.queue.Add(set.Namespace + "/" + set.Name)
		}
	}
}

func (c *Controller) claimDeleted(obj interface{}) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	claim, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return
	}
	sets, err := c.sets.StatefulSets(claim.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, set := range sets {
		for i := range set.Spec.VolumeClaimTemplates {
			prefix := set.Spec.VolumeClaimTemplates[i].Name + "-" + set.Name + "-"
			if len(claim.Name) > len(prefix) && claim.Name[:len(prefix)] == prefix {
				c.queue.Add(set.Namespace + "/" + set.Name)
			}
		}
	}
}
