package job

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	batchinformers "k8s.io/client-go/informers/batch/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/navarch/navarch/internal/controller"
)

// eventSource is the component name on this controller's events.
const eventSource = "job-controller"

// jobControllerName is the spec.managedBy value (or its absence) that
// makes a Job this controller's.
const jobControllerName = "kubernetes.io/job-controller"

// Upstream's defaults for the wait before replacing failed pods.
const (
	DefaultPodFailureBackoff = 10 * time.Second
	MaxPodFailureBackoff     = 6 * time.Minute
)

var controllerKind = batchv1.SchemeGroupVersion.WithKind("Job")

// Controller runs Jobs. Create it with New and run it with Start.
type Controller struct {
	client kubernetes.Interface
	jobs   batchlisters.JobLister
	pods   corelisters.PodLister
	// podIndexer finds pods by controller (controller.PodControllerUIDIndex).
	podIndexer cache.Indexer
	synced     []cache.InformerSynced

	queue       workqueue.TypedRateLimitingInterface[string]
	orphanQueue workqueue.TypedRateLimitingInterface[string]
	clock       clock.WithTicker

	expectations          *controller.UIDTrackingExpectations
	finalizerExpectations *finalizerExpectations

	backoffBase, backoffMax time.Duration

	// podControl and recorder are set by Start unless a test set them.
	podControl controller.PodControl
	// createPod is the podControl's creator (CreatePodsWith).
	createPod controller.PodCreator
	recorder  record.EventRecorder
}

// Option changes how New builds the controller.
type Option func(*Controller)

// WithClock makes the controller read the time from clk and run its
// queues' delays on it (tests pass a fake clock).
func WithClock(clk clock.WithTicker) Option {
	return func(c *Controller) { c.clock = clk }
}

// WithPodFailureBackoff changes the wait before a failed pod is replaced:
// base after the first failure, doubling per consecutive failure, at
// most limit.
func WithPodFailureBackoff(base, limit time.Duration) Option {
	return func(c *Controller) { c.backoffBase, c.backoffMax = base, limit }
}

// New returns a controller fed by the Pod and Job informers of one shared
// factory. It registers its event handlers now.
func New(client kubernetes.Interface, podInformer coreinformers.PodInformer, jobInformer batchinformers.JobInformer, opts ...Option) *Controller {
	c := &Controller{
		client:      client,
		jobs:        jobInformer.Lister(),
		pods:        podInformer.Lister(),
		podIndexer:  podInformer.Informer().GetIndexer(),
		synced:      []cache.InformerSynced{podInformer.Informer().HasSynced, jobInformer.Informer().HasSynced},
		clock:       clock.RealClock{},
		backoffBase: DefaultPodFailureBackoff,
		backoffMax:  MaxPodFailureBackoff,
	}
	for _, o := range opts {
		o(c)
	}
	// Without the index (informer already started) lookups scan the
	// namespace instead.
	_ = controller.AddPodControllerUIDIndexer(podInformer.Informer())
	c.expectations = controller.NewUIDTrackingExpectations(controller.NewControllerExpectationsWithClock(c.clock))
	c.finalizerExpectations = newFinalizerExpectations()
	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "job", Clock: c.clock})
	c.orphanQueue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "job-orphan-pod", Clock: c.clock})

	_, _ = jobInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueJob,
		UpdateFunc: func(_, obj interface{}) { c.enqueueJob(obj) },
		DeleteFunc: c.jobDeleted,
	})
	_, _ = podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	return c
}

// CreatePodsWith makes the controller create pods with create rather than
// its client. Call it before Start.
func (c *Controller) CreatePodsWith(create controller.PodCreator) { c.createPod = create }

// Start waits for the caches, then runs Jobs until ctx ends. It returns
// nil when ctx ends, or an error if the caches never synced.
func (c *Controller) Start(ctx context.Context) error {
	if c.recorder == nil {
		recorder, stop := controller.NewEventRecorder(c.client, eventSource)
		defer stop()
		c.recorder = recorder
	}
	if c.podControl == nil {
		c.podControl = controller.RealPodControl{Client: c.client, Recorder: c.recorder, Create: c.createPod}
	}
	if err := controller.WaitForCaches(ctx, "job", c.synced...); err != nil {
		c.queue.ShutDown()
		c.orphanQueue.ShutDown()
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		controller.RunWorkers(ctx, c.orphanQueue, 1, c.syncOrphanPod)
	}()
	controller.RunWorkers(ctx, c.queue, 4, c.syncJob)
	wg.Wait()
	return nil
}

func (c *Controller) enqueueJob(obj interface{}) {
	key, err := controller.KeyFunc(obj)
	if err != nil {
		return
	}
	c.queue.Add(key)
}

// jobDeleted forgets a Job's expectations and frees its pods of the
// tracking finalizer.
func (c *Controller) jobDeleted(obj interface{}) {
	key, err := controller.KeyFunc(obj)
	if err != nil {
		return
	}
	c.queue.Add(key)
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return
	}
	pods, err := controller.PodsOwnedOrOrphaned(c.podIndexer, job.Namespace, job.UID)
	if err != nil {
		return
	}
	for _, pod := range pods {
		if ref := metav1.GetControllerOfNoCopy(pod); ref != nil && ref.UID == job.UID && hasTrackingFinalizer(pod) {
			c.orphanQueue.Add(controller.PodKey(pod))
		}
	}
}

// resolveControllerRef returns the Job a controller reference points
// to, or nil.
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *batchv1.Job {
	if ref == nil || ref.Kind != controllerKind.Kind || ref.APIVersion != batchv1.SchemeGroupVersion.String() {
		return nil
	}
	job, err := c.jobs.Jobs(namespace).Get(ref.Name)
	if err != nil || job.UID != ref.UID {
		return nil
	}
	return job
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
	job := c.resolveControllerRef(pod.Namespace, metav1.GetControllerOfNoCopy(pod))
	if job == nil {
		if hasTrackingFinalizer(pod) {
			c.orphanQueue.Add(controller.PodKey(pod))
		}
		return
	}
	key := job.Namespace + "/" + job.Name
	c.expectations.CreationObserved(key)
	c.queue.Add(key)
}

func (c *Controller) updatePod(oldObj, obj interface{}) {
	old, ok1 := oldObj.(*corev1.Pod)
	pod, ok2 := obj.(*corev1.Pod)
	if !ok1 || !ok2 || old.ResourceVersion == pod.ResourceVersion {
		return
	}
	oldRef, ref := metav1.GetControllerOfNoCopy(old), metav1.GetControllerOfNoCopy(pod)
	if oldRef != nil && (ref == nil || oldRef.UID != ref.UID) {
		if job := c.resolveControllerRef(old.Namespace, oldRef); job != nil {
			c.queue.Add(job.Namespace + "/" + job.Name)
		}
	}
	job := c.resolveControllerRef(pod.Namespace, ref)
	if job == nil {
		if hasTrackingFinalizer(pod) {
			c.orphanQueue.Add(controller.PodKey(pod))
		}
		return
	}
	key := job.Namespace + "/" + job.Name
	if pod.DeletionTimestamp != nil && old.DeletionTimestamp == nil {
		c.expectations.DeletionObserved(key, controller.PodKey(pod))
	}
	if !hasTrackingFinalizer(pod) {
		c.finalizerExpectations.observed(key, string(pod.UID))
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
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil || ref.Kind != controllerKind.Kind {
		return
	}
	key := pod.Namespace + "/" + ref.Name
	c.expectations.DeletionObserved(key, controller.PodKey(pod))
	c.finalizerExpectations.observed(key, string(pod.UID))
	c.queue.Add(key)
}

// syncOrphanPod removes the tracking finalizer from a pod (key
// "namespace/name") whose Job is gone or finished.
func (c *Controller) syncOrphanPod(ctx context.Context, key string) error {
	namespace, name, err := controller.SplitKey(key)
	if err != nil {
		return nil
	}
	pod, err := c.pods.Pods(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("job: reading pod %s: %w", key, err)
	}
	if !hasTrackingFinalizer(pod) {
		return nil
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if ref.Kind != controllerKind.Kind || ref.APIVersion != batchv1.SchemeGroupVersion.String() {
			return nil
		}
		if job := c.resolveControllerRef(namespace, ref); job != nil && !jobFinished(job) {
			return nil
		}
	}
	return c.removeTrackingFinalizer(ctx, pod)
}

// removeTrackingFinalizer patches the tracking finalizer off a pod; a
// pod already gone counts as done.
func (c *Controller) removeTrackingFinalizer(ctx context.Context, pod *corev1.Pod) error {
	err := c.podControl.PatchPod(ctx, pod.Namespace, pod.Name, removeFinalizerPatch)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("job: removing tracking finalizer: %w", err)
	}
	return nil
}

// removeFinalizerPatch is the strategic merge patch that removes the
// tracking finalizer and keeps every other.
var removeFinalizerPatch = func() []byte {
	data, _ := json.Marshal(map[string]interface{}{
		"metadata": map[string]interface{}{
			"$deleteFromPrimitiveList/finalizers": []string{batchv1.JobTrackingFinalizer},
		},
	})
	return data
}()

func hasTrackingFinalizer(pod *corev1.Pod) bool {
	for _, f := range pod.Finalizers {
		if f == batchv1.JobTrackingFinalizer {
			return true
		}
	}
	return false
}

// finalizerExpectations remembers, per Job key, the pods whose tracking
// finalizer the controller removed but whose update the informer has not
// delivered yet; they must not be counted again meanwhile. It is safe
// for concurrent use.
type finalizerExpectations struct {
	mu    sync.Mutex
	items map[string]sets.Set[string]
}

func newFinalizerExpectations() *finalizerExpectations {
	return &finalizerExpectations{items: map[string]sets.Set[string]{}}
}

func (e *finalizerExpectations) expect(key string, uids []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.items[key] == nil {
		e.items[key] = sets.New[string]()
	}
	e.items[key].Insert(uids...)
}

func (e *finalizerExpectations) observed(key, uid string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if set := e.items[key]; set != nil {
		set.Delete(uid)
		if set.Len() == 0 {
			delete(e.items, key)
		}
	}
}

func (e *finalizerExpectations) get(key string) sets.Set[string] {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.items[key].Clone()
}

func (e *finalizerExpectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.items, key)
}

// logger returns the context's logger with the Job named.
func logger(ctx context.Context, job *batchv1.Job) klog.Logger {
	return klog.FromContext(ctx).WithValues("job", klog.KObj(job))
}
