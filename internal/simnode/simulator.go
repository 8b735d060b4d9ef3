package simnode

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/navarch/navarch/internal/version"
)

// Labels and values every simulated node carries.
const (
	// InstanceType is the node.kubernetes.io/instance-type of simulated
	// nodes, which tells them apart from real ones.
	InstanceType = "simulated"
	// kubeletPort is the port the node advertises for its kubelet API;
	// nothing listens there.
	kubeletPort = 10250
	// leaseDurationSeconds is how long a Lease holds without renewal, as
	// the kubelet sets it.
	leaseDurationSeconds = 40
	// statusReportInterval is how often a healthy node reports its
	// status even when nothing changed (the kubelet's
	// nodeStatusReportFrequency).
	statusReportInterval = 5 * time.Minute
	// podsByNodeIndex indexes the pod informer by spec.nodeName.
	podsByNodeIndex = "spec.nodeName"
)

// simNode is one simulated node.
type simNode struct {
	index  int
	name   string
	ip     string
	subnet netip.Prefix
	ips    *podIPs
	// stopped is set while the node plays dead (StopNode).
	stopped atomic.Bool
	// resync is set by ResumeNode: the next heartbeat re-queues the
	// node's pods.
	resync atomic.Bool

	// mu serializes the heartbeats of this node; it guards lease and uid.
	mu    sync.Mutex
	lease *coordinationv1.Lease
	uid   types.UID
}

// Simulator runs simulated nodes, the way kwok does: it registers Node
// objects, renews their Leases, and plays the kubelet for pods bound to
// them (without running anything).
type Simulator struct {
	client kubernetes.Interface
	cfg    Config
	// err is the configuration error Start reports.
	err    error
	nodes  []*simNode
	byName map[string]*simNode

	// Set by Start before any worker runs.
	pods    corelisters.PodLister
	podsIdx cache.Indexer
	nodeLst corelisters.NodeLister
	queue   workqueue.TypedRateLimitingInterface[string]
}

// New returns a simulator of cfg.Count nodes that talks to the API through
// client. The client must allow many requests per second: every node
// renews its Lease each heartbeat (a hundred writes a second for a
// thousand nodes) and every pod costs a status update. client-go's
// default of 5 requests a second cannot even keep 50 nodes alive; build
// the client from a rest.Config with QPS -1 (no client-side limit) or a
// few thousand. A bad Config is reported by Start.
func New(client kubernetes.Interface, cfg Config) *Simulator {
	cfg = cfg.withDefaults()
	s := &Simulator{client: client, cfg: cfg, byName: map[string]*simNode{}}
	addr, err := cfg.validate()
	if err != nil {
		s.err = err
		return s
	}
	for i := 0; i < cfg.Count; i++ {
		subnet := addr.podSubnet(i)
		n := &simNode{
			index: i, name: fmt.Sprintf("%s%d", cfg.NamePrefix, i),
			ip: addr.nodeIP(i).String(), subnet: subnet, ips: newPodIPs(subnet),
		}
		s.nodes = append(s.nodes, n)
		s.byName[n.name] = n
	}
	return s
}

// NodeNames returns the names of the simulated nodes, in order.
func (s *Simulator) NodeNames() []string {
	out := make([]string, 0, len(s.nodes))
	for _, n := range s.nodes {
		out = append(out, n.name)
	}
	return out
}

// StopNode makes one node play dead, as if its kubelet stopped: its
// Lease is no longer renewed and its pods are left as they are (pods
// being deleted stay Terminating). It fails for a name the simulator does
// not own.
func (s *Simulator) StopNode(name string) error {
	n, ok := s.byName[name]
	if !ok {
		return fmt.Errorf("simnode: no simulated node %q", name)
	}
	n.stopped.Store(true)
	return nil
}

// ResumeNode brings a stopped node back: within one heartbeat interval it
// renews its Lease, reports Ready again and catches up with its pods.
func (s *Simulator) ResumeNode(name string) error {
	n, ok := s.byName[name]
	if !ok {
		return fmt.Errorf("simnode: no simulated node %q", name)
	}
	if n.stopped.Swap(false) {
		n.resync.Store(true)
	}
	return nil
}

// Start registers the nodes (retrying while the API server is not
// reachable), then heartbeats and serves their pods until ctx ends; it
// returns nil then. The nodes stay registered: once stopped they merely
// stop renewing their Leases, so a node lifecycle controller turns them
// NotReady. It returns an error for a bad Config or when the API server
// refuses the nodes.
func (s *Simulator) Start(ctx context.Context) error {
	if s.err != nil {
		return s.err
	}
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx).WithValues("simulator", s.cfg.NamePrefix)
	ctx = klog.NewContext(ctx, logger)

	if err := s.registerNodes(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	s.renewAll(ctx)
	logger.Info("simulated nodes registered", "count", len(s.nodes))

	podFactory := informers.NewSharedInformerFactoryWithOptions(s.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = s.podFieldSelector() }))
	nodeFactory := informers.NewSharedInformerFactoryWithOptions(s.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = s.nodeFieldSelector() }))
	podInformer := podFactory.Core().V1().Pods()
	if err := podInformer.Informer().AddIndexers(cache.Indexers{podsByNodeIndex: func(obj any) ([]string, error) {
		return []string{obj.(*corev1.Pod).Spec.NodeName}, nil
	}}); err != nil {
		return fmt.Errorf("simnode: pod index: %w", err)
	}
	s.pods = podInformer.Lister()
	s.podsIdx = podInformer.Informer().GetIndexer()
	s.nodeLst = nodeFactory.Core().V1().Nodes().Lister()
	s.queue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "simnode"})
	reg, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.onPod,
		UpdateFunc: func(_, obj any) { s.onPod(obj) },
		DeleteFunc: s.onPodDelete,
	})
	if err != nil {
		return fmt.Errorf("simnode: pod handler: %w", err)
	}
	nodeInformer := nodeFactory.Core().V1().Nodes().Informer()
	podFactory.Start(ctx.Done())
	nodeFactory.Start(ctx.Done())
	defer podFactory.Shutdown()
	defer nodeFactory.Shutdown()
	defer s.queue.ShutDown()
	if !cache.WaitForNamedCacheSyncWithContext(ctx, reg.HasSynced, nodeInformer.HasSynced) {
		return nil // only ctx ends the wait
	}

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.heartbeat(ctx)
	}()
	for i := 0; i < s.cfg.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s.processNext(ctx) {
			}
		}()
	}
	<-ctx.Done()
	s.queue.ShutDown()
	wg.Wait()
	logger.Info("simulated nodes stopped heartbeating", "count", len(s.nodes))
	return nil
}

// podFieldSelector watches only the pods of one node when there is one,
// else every bound pod (the names share no selectable prefix).
func (s *Simulator) podFieldSelector() string {
	if len(s.nodes) == 1 {
		return fields.OneTermEqualSelector("spec.nodeName", s.nodes[0].name).String()
	}
	return fields.OneTermNotEqualSelector("spec.nodeName", "").String()
}

func (s *Simulator) nodeFieldSelector() string {
	if len(s.nodes) == 1 {
		return fields.OneTermEqualSelector("metadata.name", s.nodes[0].name).String()
	}
	return ""
}

// registerNodes creates the Node objects (or makes existing ones Ready
// again), a worker pool wide, retrying errors that may pass.
func (s *Simulator) registerNodes(ctx context.Context) error {
	return s.forEachNode(ctx, s.nodes, func(ctx context.Context, n *simNode) error {
		var last error
		err := wait.ExponentialBackoffWithContext(ctx, wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Steps: 1 << 30, Cap: 10 * time.Second},
			func(ctx context.Context) (bool, error) {
				last = s.registerNode(ctx, n)
				switch {
				case last == nil:
					return true, nil
				case apierrors.IsInvalid(last) || apierrors.IsForbidden(last) || apierrors.IsUnauthorized(last) || apierrors.IsBadRequest(last):
					return false, last
				default:
					klog.FromContext(ctx).V(2).Info("registering node, will retry", "node", n.name, "err", last)
					return false, nil
				}
			})
		if err != nil && last != nil {
			return last
		}
		return err
	})
}

// registerNode creates node n, or takes over an existing Node object of
// that name (a restart): its status is reported afresh.
func (s *Simulator) registerNode(ctx context.Context, n *simNode) error {
	want := s.nodeObject(n, metav1.Now())
	created, err := s.client.CoreV1().Nodes().Create(ctx, want, metav1.CreateOptions{})
	if err == nil {
		n.mu.Lock()
		n.uid = created.UID
		n.mu.Unlock()
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("simnode: creating node %s: %w", n.name, err)
	}
	existing, err := s.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("simnode: reading node %s: %w", n.name, err)
	}
	updated := existing.DeepCopy()
	updated.Status = want.Status
	updated.Status.Conditions = mergeConditions(existing.Status.Conditions, want.Status.Conditions)
	if _, err := s.client.CoreV1().Nodes().UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("simnode: reporting status of node %s: %w", n.name, err)
	}
	n.mu.Lock()
	n.uid = existing.UID
	n.mu.Unlock()
	return nil
}

// nodeObject is the Node a kubelet would register for n.
func (s *Simulator) nodeObject(n *simNode, now metav1.Time) *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              s.cfg.CPU.DeepCopy(),
		corev1.ResourceMemory:           s.cfg.Memory.DeepCopy(),
		corev1.ResourceEphemeralStorage: s.cfg.EphemeralStorage.DeepCopy(),
		corev1.ResourcePods:             *resource.NewQuantity(int64(s.cfg.Pods), resource.DecimalSI),
	}
	id := sha256.Sum256([]byte(s.cfg.NamePrefix + "/" + n.name))
	machineID := hex.EncodeToString(id[:16])
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: n.name,
			Labels: map[string]string{
				corev1.LabelHostname:           n.name,
				corev1.LabelOSStable:           "linux",
				corev1.LabelArchStable:         runtime.GOARCH,
				"beta.kubernetes.io/os":        "linux",
				"beta.kubernetes.io/arch":      runtime.GOARCH,
				corev1.LabelInstanceTypeStable: InstanceType,
			},
		},
		Spec: corev1.NodeSpec{PodCIDR: n.subnet.String(), PodCIDRs: []string{n.subnet.String()}},
		Status: corev1.NodeStatus{
			Capacity:    capacity,
			Allocatable: capacity.DeepCopy(),
			Phase:       corev1.NodeRunning,
			Conditions:  nodeConditions(now),
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: n.ip},
				{Type: corev1.NodeHostName, Address: n.name},
			},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: kubeletPort}},
			NodeInfo: corev1.NodeSystemInfo{
				MachineID:               machineID,
				SystemUUID:              fmt.Sprintf("%s-%s-%s-%s-%s", machineID[:8], machineID[8:12], machineID[12:16], machineID[16:20], machineID[20:32]),
				BootID:                  hex.EncodeToString(id[16:]),
				KernelVersion:           "simulated",
				OSImage:                 "Navarch simulated node",
				ContainerRuntimeVersion: "simulated://" + version.Navarch(),
				KubeletVersion:          version.Kubernetes,
				OperatingSystem:         "linux",
				Architecture:            runtime.GOARCH,
			},
		},
	}
}

// nodeConditions are a healthy kubelet's node conditions.
func nodeConditions(now metav1.Time) []corev1.NodeCondition {
	cond := func(t corev1.NodeConditionType, status corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: status, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	return []corev1.NodeCondition{
		cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
		cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
		cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
		cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
	}
}

// mergeConditions returns want, keeping the transition time of each
// condition whose status did not change, and the conditions of other
// types that others (not the kubelet) set.
func mergeConditions(old, want []corev1.NodeCondition) []corev1.NodeCondition {
	out := make([]corev1.NodeCondition, len(want), len(want)+len(old))
	copy(out, want)
	for _, o := range old {
		mine := false
		for i := range out {
			if o.Type != out[i].Type {
				continue
			}
			mine = true
			if o.Status == out[i].Status && !o.LastTransitionTime.IsZero() {
				out[i].LastTransitionTime = o.LastTransitionTime
			}
		}
		if !mine {
			out = append(out, o)
		}
	}
	return out
}

// forEachNode runs fn for every node in nodes, Workers at a time, and
// returns the first error.
func (s *Simulator) forEachNode(ctx context.Context, nodes []*simNode, fn func(context.Context, *simNode) error) error {
	work := make(chan *simNode)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i := 0; i < min(s.cfg.Workers, len(nodes)); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range work {
				if err := fn(ctx, n); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
				}
			}
		}()
	}
feed:
	for _, n := range nodes {
		select {
		case work <- n:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	return firstErr
}
