package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// SchedulerName is the spec.schedulerName of the pods this scheduler
// binds (pods that leave it empty get it by defaulting).
const SchedulerName = corev1.DefaultSchedulerName

// maxBindsInFlight bounds the binding requests running at once; the
// decision loop waits when that many are pending.
const maxBindsInFlight = 64

// Event reasons, as upstream's scheduler records them.
const (
	reasonFailedScheduling = "FailedScheduling"
	reasonScheduled        = "Scheduled"
)

// Scheduler binds pending pods to nodes. It reads the cluster through
// shared informers and writes through the API only.
type Scheduler struct {
	client kubernetes.Interface
	// binder writes bindings; BindWith sets it, else the client does.
	binder  Binder
	profile *Profile
	cache   *Cache
	queue   *schedulingQueue

	pods       corelisters.PodLister
	claims     corelisters.PersistentVolumeClaimLister
	volumes    corelisters.PersistentVolumeLister
	classes    storagelisters.StorageClassLister
	namespaces corelisters.NamespaceLister
	synced     []cache.InformerSynced

	// recorder writes events; Start makes one (ownsRecorder) unless a
	// test set it.
	recorder     record.EventRecorder
	ownsRecorder bool
	// nextStart is the node index the next decision starts filtering at;
	// used by the decision loop only.
	nextStart int
	// snapshot is the nodes of the current decision, reused from one to
	// the next; used by the decision loop only.
	snapshot Snapshot
	// bindJobs hands assumed pods to the bind workers, which take them
	// one at a time; made on first use, closed and cleared when Start
	// ends. Used by the decision loop only, as is bindWorkers, the number
	// of workers started on it.
	bindJobs    chan bindJob
	bindWorkers int
	// workerWG counts the bind workers running; bindWG the bindings in
	// flight (tests wait for a binding with it).
	workerWG sync.WaitGroup
	bindWG   sync.WaitGroup
	// liveWorkers is workerWG's count, for tests.
	liveWorkers atomic.Int32
}

// Binder writes binding, of a pod in namespace, as a POST of pods/binding
// does. The API server of this process offers one without the HTTP round
// trip (apiserver.Server.LocalBind).
type Binder func(ctx context.Context, namespace string, binding *corev1.Binding) error

// BindWith makes the scheduler write bindings with bind rather than its
// client. Call it before Start.
func (s *Scheduler) BindWith(bind Binder) { s.binder = bind }

// bindJob is an assumed pod to bind.
type bindJob struct {
	p       *queuedPod
	assumed *corev1.Pod
}

// New returns a scheduler fed by informers from factory: pods, nodes,
// persistentvolumeclaims, persistentvolumes, storageclasses (storage/v1)
// and namespaces. It registers its event handlers; the caller starts the
// factory (before or after Start).
func New(client kubernetes.Interface, factory informers.SharedInformerFactory) *Scheduler {
	pods := factory.Core().V1().Pods()
	nodes := factory.Core().V1().Nodes()
	claims := factory.Core().V1().PersistentVolumeClaims()
	volumes := factory.Core().V1().PersistentVolumes()
	classes := factory.Storage().V1().StorageClasses()
	namespaces := factory.Core().V1().Namespaces()
	s := &Scheduler{
		client:     client,
		profile:    DefaultProfile(),
		cache:      NewCache(),
		queue:      newSchedulingQueue(clock.RealClock{}),
		pods:       pods.Lister(),
		claims:     claims.Lister(),
		volumes:    volumes.Lister(),
		classes:    classes.Lister(),
		namespaces: namespaces.Lister(),
		synced: []cache.InformerSynced{
			pods.Informer().HasSynced, nodes.Informer().HasSynced, claims.Informer().HasSynced,
			volumes.Informer().HasSynced, classes.Informer().HasSynced, namespaces.Informer().HasSynced,
		},
	}
	_, _ = pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: s.addPod, UpdateFunc: s.updatePod, DeleteFunc: s.deletePod,
	})
	_, _ = nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: s.addNode, UpdateFunc: s.updateNode, DeleteFunc: s.deleteNode,
	})
	volumeEvent := func(name string) func(any) {
		return func(any) { s.queue.OnEvent(clusterEvent{name: name, plugins: sets.New(nameVolumeBinding)}) }
	}
	for name, inf := range map[string]cache.SharedIndexInformer{
		"PersistentVolumeClaim": claims.Informer(), "PersistentVolume": volumes.Informer(), "StorageClass": classes.Informer(),
	} {
		onChange := volumeEvent(name)
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: onChange, UpdateFunc: func(_, obj any) { onChange(obj) },
		})
	}
	return s
}

// Start waits for the informers' caches, then schedules pods until ctx
// ends. It returns nil then, once the bindings in flight have finished.
// Start may be called again after it returned (a scheduler that lost and
// regained leadership), never twice at once.
func (s *Scheduler) Start(ctx context.Context) error {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx)
	if s.recorder == nil || s.ownsRecorder {
		broadcaster := record.NewBroadcaster(record.WithContext(ctx))
		broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: s.client.CoreV1().Events("")})
		defer broadcaster.Shutdown()
		s.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: SchedulerName})
		s.ownsRecorder = true
	}
	s.queue.Open()
	queueDone := make(chan struct{})
	go func() {
		defer close(queueDone)
		s.queue.Run(ctx)
	}()
	if !cache.WaitForNamedCacheSyncWithContext(ctx, s.synced...) {
		<-queueDone
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("scheduler: caches did not sync")
	}
	logger.Info("scheduler started")
	for {
		p, cycle, ok := s.queue.Pop()
		if !ok {
			break
		}
		s.scheduleOne(ctx, p, cycle)
	}
	s.stopBindWorkers()
	<-queueDone
	return nil
}

// scheduleOne decides for one pod and starts its binding.
func (s *Scheduler) scheduleOne(ctx context.Context, p *queuedPod, cycle int64) {
	logger := klog.FromContext(ctx)
	pod := p.pod
	// The queue may lag behind the informer: skip pods bound, deleted or
	// handed to another scheduler meanwhile.
	current, err := s.pods.Pods(pod.Namespace).Get(pod.Name)
	if err != nil || current.UID != pod.UID || current.Spec.NodeName != "" || !s.pending(current) || s.cache.IsAssumed(current) {
		s.queue.Done(p)
		return
	}
	// Nothing keeps the snapshot past this decision (bindings get the
	// assumed pod), so the loop reuses one.
	snapshot := &s.snapshot
	s.cache.SnapshotInto(snapshot)
	state := &listerState{Snapshot: snapshot, claims: s.claims, volumes: s.volumes, classes: s.classes, namespaces: s.namespaces}
	result := s.profile.ScheduleInfo(p.info, state, s.nextStart)
	if n := len(snapshot.Nodes()); n > 0 {
		s.nextStart = (s.nextStart + result.Evaluated) % n
	}
	if result.Err != nil {
		s.failed(ctx, p, cycle, result.Err)
		return
	}
	if len(result.DelayedClaims) > 0 {
		s.selectNodeForClaims(ctx, p, cycle, result)
		return
	}
	// The assumed pod shares all but its top-level struct with the
	// queue's: neither is modified.
	assumed := new(corev1.Pod)
	*assumed = *pod
	assumed.Spec.NodeName = result.Node
	if err := s.cache.assume(assumed, p.info); err != nil {
		// The informer reported the pod bound while we decided (an
		// earlier binding that looked failed had gone through).
		logger.V(2).Info("pod already bound", "pod", klog.KObj(pod), "err", err)
		s.queue.Done(p)
		return
	}
	if !s.startBind(ctx, bindJob{p: p, assumed: assumed}) {
		// Stopping: a later Start tries the pod again.
		s.cache.ForgetPod(assumed)
		s.queue.Requeue(p)
	}
}

// startBind hands a binding to an idle bind worker, starting a worker when
// none is idle and fewer than maxBindsInFlight run, else waiting for one to
// finish. It reports false when ctx ended first. Called by the decision
// loop only.
//
// Workers outlive their bindings rather than a goroutine per binding: the
// request handler runs on the caller's goroutine (in-process client), and
// its deep stack would otherwise be grown afresh for every pod.
func (s *Scheduler) startBind(ctx context.Context, job bindJob) bool {
	if s.bindJobs == nil {
		s.bindJobs = make(chan bindJob)
	}
	s.bindWG.Add(1)
	select {
	case s.bindJobs <- job:
		return true
	default:
	}
	if s.bindWorkers < maxBindsInFlight {
		s.bindWorkers++
		s.workerWG.Add(1)
		s.liveWorkers.Add(1)
		go s.bindWorker(ctx, s.bindJobs)
	}
	select {
	case s.bindJobs <- job:
		return true
	case <-ctx.Done():
		s.bindWG.Done()
		return false
	}
}

// bindWorker binds the pods it receives until jobs is closed or ctx ends.
func (s *Scheduler) bindWorker(ctx context.Context, jobs <-chan bindJob) {
	defer s.workerWG.Done()
	defer s.liveWorkers.Add(-1)
	defer utilruntime.HandleCrashWithContext(ctx)
	for {
		select {
		case job, ok := <-jobs:
			if !ok {
				return
			}
			s.bind(ctx, job.p, job.assumed)
			s.bindWG.Done()
		case <-ctx.Done():
			return
		}
	}
}

// stopBindWorkers ends the bind workers once their bindings are done, so
// that a later Start starts afresh. Called by the decision loop's
// goroutine after its last startBind.
func (s *Scheduler) stopBindWorkers() {
	if s.bindJobs != nil {
		close(s.bindJobs)
	}
	s.workerWG.Wait()
	s.bindJobs, s.bindWorkers = nil, 0
}

// bind writes the binding of an assumed pod.
func (s *Scheduler) bind(ctx context.Context, p *queuedPod, assumed *corev1.Pod) {
	logger := klog.FromContext(ctx)
	binding := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: assumed.Namespace, Name: assumed.Name, UID: assumed.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: assumed.Spec.NodeName},
	}
	var err error
	if s.binder != nil {
		err = s.binder(ctx, assumed.Namespace, binding)
	} else {
		err = s.client.CoreV1().Pods(assumed.Namespace).Bind(ctx, binding, metav1.CreateOptions{})
	}
	switch {
	case err == nil:
		logger.V(2).Info("bound pod", "pod", klog.KObj(assumed), "node", assumed.Spec.NodeName)
		s.recorder.Eventf(p.pod, corev1.EventTypeNormal, reasonScheduled, "Successfully assigned %s/%s to %s",
			assumed.Namespace, assumed.Name, assumed.Spec.NodeName)
		s.queue.Done(p)
	case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		// Deleted, being deleted, or bound by someone else: the informer
		// brings the outcome.
		logger.V(2).Info("pod not bound", "pod", klog.KObj(assumed), "err", err)
		s.cache.ForgetPod(assumed)
		s.queue.Done(p)
	case ctx.Err() != nil:
		// Stopping: whether or not the binding went through, the
		// informer or a later Start settles it.
		s.cache.ForgetPod(assumed)
		s.queue.Requeue(p)
	default:
		logger.Error(err, "binding pod", "pod", klog.KObj(assumed), "node", assumed.Spec.NodeName)
		s.cache.ForgetPod(assumed)
		s.recorder.Eventf(p.pod, corev1.EventTypeWarning, reasonFailedScheduling, "Binding rejected: %v", err)
		s.queue.AddBackoff(p)
	}
}

// selectNodeForClaims asks the volume controller to bind or provision the
// pod's unbound WaitForFirstConsumer claims on the chosen node, and puts
// the pod back until they are bound (a claim update moves it).
func (s *Scheduler) selectNodeForClaims(ctx context.Context, p *queuedPod, cycle int64, result Result) {
	logger := klog.FromContext(ctx)
	for _, claim := range result.DelayedClaims {
		if claim.Annotations[AnnSelectedNode] == result.Node {
			continue
		}
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{AnnSelectedNode: result.Node}}})
		if err == nil {
			_, err = s.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Patch(ctx, claim.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		}
		if err != nil {
			logger.Error(err, "selecting node for claim", "claim", klog.KObj(claim), "node", result.Node)
			s.queue.AddBackoff(p)
			return
		}
		logger.V(2).Info("selected node for claim", "claim", klog.KObj(claim), "node", result.Node)
	}
	logger.V(2).Info("pod waits for its volumes to bind", "pod", klog.KObj(p.pod), "node", result.Node)
	s.queue.AddUnschedulable(p, cycle, []string{nameVolumeBinding})
}

// failed reports a pod no node fits (or whose decision failed): a
// FailedScheduling event, the PodScheduled=False condition, and back to
// the queue.
func (s *Scheduler) failed(ctx context.Context, p *queuedPod, cycle int64, err error) {
	logger := klog.FromContext(ctx)
	pod := p.pod
	msg := err.Error()
	reason := corev1.PodReasonSchedulerError
	var fitErr *FitError
	if errors.As(err, &fitErr) {
		reason = corev1.PodReasonUnschedulable
	}
	logger.V(2).Info("unable to schedule pod", "pod", klog.KObj(pod), "reason", reason, "message", msg)
	s.recorder.Event(pod, corev1.EventTypeWarning, reasonFailedScheduling, msg)
	if err := s.setUnschedulableCondition(ctx, pod, reason, msg); err != nil {
		logger.Error(err, "updating pod condition", "pod", klog.KObj(pod))
	}
	if fitErr != nil {
		s.queue.AddUnschedulable(p, cycle, fitErr.UnschedulablePlugins())
		return
	}
	s.queue.AddBackoff(p)
}

// setUnschedulableCondition sets PodScheduled=False with the reason and
// message, unless the pod already says exactly that.
func (s *Scheduler) setUnschedulableCondition(ctx context.Context, pod *corev1.Pod, reason, msg string) error {
	if current, err := s.pods.Pods(pod.Namespace).Get(pod.Name); err == nil {
		pod = current
	}
	transition := metav1.Now()
	for _, c := range pod.Status.Conditions {
		if c.Type != corev1.PodScheduled {
			continue
		}
		if c.Status == corev1.ConditionFalse && c.Reason == reason && c.Message == msg {
			return nil
		}
		if c.Status == corev1.ConditionFalse {
			transition = c.LastTransitionTime
		}
	}
	cond := map[string]any{
		"type": corev1.PodScheduled, "status": corev1.ConditionFalse, "reason": reason, "message": msg,
		"lastProbeTime": nil, "lastTransitionTime": transition,
	}
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": []any{cond}}})
	if err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	_, err = s.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("scheduler: setting PodScheduled on %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// pending tells whether a pod without a node is this scheduler's to
// place now: its scheduler, not being deleted, not finished, no
// scheduling gates.
func (s *Scheduler) pending(pod *corev1.Pod) bool {
	name := pod.Spec.SchedulerName
	return (name == SchedulerName || name == "") && pod.DeletionTimestamp == nil &&
		len(pod.Spec.SchedulingGates) == 0 && !terminal(pod)
}

func terminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// Cluster events and the plugins whose verdicts they may change.
var (
	eventNodeAdd           = clusterEvent{name: "NodeAdd"}
	eventAssignedPodAdd    = clusterEvent{name: "AssignedPodAdd", plugins: sets.New(nameInterPodAffinity)}
	eventAssignedPodDelete = clusterEvent{name: "AssignedPodDelete", plugins: sets.New(
		nameNodeResourcesFit, nameNodePorts, nameInterPodAffinity, nameVolumeBinding)}
)

func (s *Scheduler) addPod(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	switch {
	case pod.Spec.NodeName != "":
		if terminal(pod) {
			return
		}
		s.cache.SetPod(pod)
		s.queue.OnEvent(eventAssignedPodAdd)
	case s.pending(pod):
		s.queue.Add(pod)
	}
}

func (s *Scheduler) updatePod(oldObj, newObj any) {
	old, ok1 := oldObj.(*corev1.Pod)
	pod, ok2 := newObj.(*corev1.Pod)
	if !ok1 || !ok2 {
		return
	}
	if pod.Spec.NodeName == "" {
		if s.pending(pod) {
			s.queue.Update(pod)
		} else {
			s.queue.Delete(pod)
		}
		return
	}
	wasBound := old.Spec.NodeName != ""
	if !wasBound {
		s.queue.Delete(pod)
	}
	switch {
	case terminal(pod):
		// A finished pod holds nothing on its node.
		if wasBound && !terminal(old) {
			s.cache.RemovePod(pod)
			s.queue.OnEvent(eventAssignedPodDelete)
		}
	case !wasBound:
		s.cache.SetPod(pod)
		s.queue.OnEvent(eventAssignedPodAdd)
	case old.Generation != pod.Generation || old.Spec.NodeName != pod.Spec.NodeName || !labelsEqual(old.Labels, pod.Labels):
		// Status updates (most updates of bound pods) change nothing
		// the scheduler counts.
		s.cache.SetPod(pod)
		s.queue.OnEvent(clusterEvent{name: "AssignedPodUpdate", plugins: sets.New(nameInterPodAffinity, nameNodeResourcesFit)})
	}
}

func (s *Scheduler) deletePod(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	s.queue.Delete(pod)
	if pod.Spec.NodeName != "" {
		s.cache.RemovePod(pod)
		s.queue.OnEvent(eventAssignedPodDelete)
	}
}

func (s *Scheduler) addNode(obj any) {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	s.cache.SetNode(node)
	s.queue.OnEvent(eventNodeAdd)
}

func (s *Scheduler) updateNode(oldObj, newObj any) {
	old, ok1 := oldObj.(*corev1.Node)
	node, ok2 := newObj.(*corev1.Node)
	if !ok1 || !ok2 {
		return
	}
	s.cache.SetNode(node)
	if e := nodeUpdateEvent(old, node); e.plugins.Len() > 0 {
		s.queue.OnEvent(e)
	}
}

func (s *Scheduler) deleteNode(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if node, ok := obj.(*corev1.Node); ok {
		s.cache.RemoveNode(node.Name)
	}
}

// nodeUpdateEvent names the plugins a node change concerns; heartbeats
// concern none.
func nodeUpdateEvent(old, node *corev1.Node) clusterEvent {
	e := clusterEvent{name: "NodeUpdate", plugins: sets.New[string]()}
	if !apiequality.Semantic.DeepEqual(old.Status.Allocatable, node.Status.Allocatable) {
		e.plugins.Insert(nameNodeResourcesFit)
	}
	if !labelsEqual(old.Labels, node.Labels) {
		e.plugins.Insert(nameNodeAffinity, nameInterPodAffinity, nameVolumeBinding, nameTaintToleration)
	}
	if !apiequality.Semantic.DeepEqual(old.Spec.Taints, node.Spec.Taints) || readyStatus(old) != readyStatus(node) {
		e.plugins.Insert(nameTaintToleration)
	}
	if old.Spec.Unschedulable != node.Spec.Unschedulable {
		e.plugins.Insert(nameNodeUnschedulable)
	}
	return e
}

func readyStatus(node *corev1.Node) corev1.ConditionStatus {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

func labelsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
