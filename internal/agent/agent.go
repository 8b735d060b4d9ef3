package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/navarch/navarch/internal/agent/cni"
	"github.com/navarch/navarch/internal/agent/cri"
	"github.com/navarch/navarch/internal/agent/nodeapi"
	"github.com/navarch/navarch/internal/agent/prober"
	"github.com/navarch/navarch/internal/agent/stats"
	"github.com/navarch/navarch/internal/agent/volume"
	"github.com/navarch/navarch/internal/images"
)

// networkName is the CNI network of the agent's pods.
const networkName = "navarch-pods"

// networkReadyTimeout bounds the wait for the runtime to load the CNI
// configuration after the agent wrote it.
const networkReadyTimeout = 30 * time.Second

// rootCAConfigMap and rootCAKey are where the API server publishes the
// cluster CA (upstream's root CA publisher's names).
const (
	rootCAConfigMap = "kube-root-ca.crt"
	rootCAKey       = "ca.crt"
)

// uidIndex indexes the pod informer by UID (workers are keyed by UID, so
// a pod deleted and recreated under the same name is a different pod).
const uidIndex = "uid"

// Agent is the node agent. Build it with New; Start runs it.
type Agent struct {
	config Config
	client kubernetes.Interface
	// newImporter returns the image importer for a CRI endpoint; tests
	// replace it.
	newImporter func(endpoint string) images.Importer

	mu sync.Mutex
	// lastGrace remembers each pod's grace period for the cleanup after
	// its object is gone. Guarded by mu.
	lastGrace map[types.UID]int64
}

// New checks config, fills its defaults and returns an agent that will
// talk to the API through client. It starts nothing.
func New(config Config, client kubernetes.Interface) (*Agent, error) {
	cfg, err := config.complete()
	if err != nil {
		return nil, err
	}
	if client == nil {
		return nil, fmt.Errorf("agent: no API client")
	}
	return &Agent{config: cfg, client: client, newImporter: images.CtrImporter, lastGrace: map[types.UID]int64{}}, nil
}

// NodeName is the name of the Node the agent registers.
func (a *Agent) NodeName() string { return a.config.NodeName }

// Start runs the agent until ctx ends: it starts (or connects to)
// containerd, makes sure the pause image exists, registers the Node,
// writes the pod network config, then runs the node's pods. It returns
// nil when ctx ends, or the error that kept it from starting. Pods keep
// running after it returns; the next Start adopts them.
func (a *Agent) Start(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithName("agent")
	ctx = klog.NewContext(ctx, logger)
	pauseBinary, pauseTag, err := a.pauseBinary()
	if err != nil {
		return err
	}
	endpoint := a.config.RuntimeEndpoint
	sandboxImage := ""
	if endpoint == "" {
		tag := pauseTag
		sandboxImage = tag
		sup, err := cri.NewSupervisor(cri.ContainerdConfig{
			Dir: a.config.containerdDir(), SandboxImage: tag,
			CNIBinDir: a.config.CNIBinDir, CNIConfDir: a.config.cniConfDir(),
		})
		if err != nil {
			return err
		}
		// containerd outlives the pod workers: it is stopped only once
		// they are done.
		supCtx, stopSupervisor := context.WithCancel(klog.NewContext(context.Background(), logger))
		supDone := make(chan error, 1)
		go func() { supDone <- sup.Start(supCtx) }()
		defer func() {
			stopSupervisor()
			<-supDone
		}()
		select {
		case <-sup.Ready():
		case err := <-supDone:
			supDone <- err
			if err == nil {
				err = fmt.Errorf("agent: containerd stopped before it was ready")
			}
			return err
		case <-ctx.Done():
			return nil
		}
		endpoint = sup.Endpoint()
	}
	rt, err := cri.Dial(ctx, endpoint)
	if err != nil {
		return err
	}
	defer rt.Close()
	return a.run(ctx, rt, endpoint, pauseBinary, sandboxImage, a.config.RuntimeEndpoint == "")
}

// streamingRuntime is the runtime with its streaming calls, which the
// node API needs; *cri.Client is one.
type streamingRuntime interface {
	cri.Runtime
	cri.Streamer
}

// pauseBinary returns the pause program to build the pause image from
// (Config.PauseBinary, or navarch's embedded one written into the data
// dir) and the image tag that goes with it.
func (a *Agent) pauseBinary() (path, tag string, err error) {
	if a.config.PauseBinary != "" {
		tag, err := images.PauseTag(a.config.PauseBinary)
		return a.config.PauseBinary, tag, err
	}
	return images.WriteEmbeddedPause(filepath.Join(a.config.DataDir, "bin"))
}

// run is Start after the runtime is reachable. ownNetwork says whether
// the agent writes the CNI config (it does for its own containerd).
func (a *Agent) run(ctx context.Context, rt streamingRuntime, endpoint, pauseBinary, sandboxImage string, ownNetwork bool) error {
	logger := klog.FromContext(ctx)
	version, err := rt.Version(ctx)
	if err != nil {
		return err
	}
	if sandboxImage == "" {
		if sandboxImage, err = runtimeSandboxImage(ctx, rt); err != nil {
			return err
		}
	}
	spec := images.PauseSpec(pauseBinary, sandboxImage)
	built, err := images.Ensure(ctx, rt, a.newImporter(endpoint), spec)
	if err != nil {
		return fmt.Errorf("agent: pause image %s: %w", sandboxImage, err)
	}
	if built {
		logger.Info("built the pause image", "image", sandboxImage)
	}

	facts, err := gatherHostFacts(a.config.DataDir, a.config.NodeIP)
	if err != nil {
		return err
	}

	// The node API listens before the Node is registered, so the Node
	// can publish its port.
	podInformer, factory, err := a.newPodInformer()
	if err != nil {
		return err
	}
	caPEM, err := a.clientCA(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	// The stats summary behind kubectl top: sampled every few seconds,
	// served on the node API like the kubelet's /stats/summary.
	summary, err := stats.New(stats.Config{NodeName: a.config.NodeName, Runtime: rt})
	if err != nil {
		return err
	}
	go func() { _ = summary.Start(ctx) }()
	extra := map[string]http.Handler{"GET /stats/summary": summary, "GET /pods": podListHandler(podInformer.GetStore())}
	maps.Copy(extra, a.config.NodeAPIHandlers)
	api, err := nodeapi.New(nodeapi.Config{
		Address: a.config.KubeletAddress, CertDir: a.config.nodeAPICertDir(),
		Hosts:    []string{facts.ip.String(), a.config.NodeName, facts.hostname},
		ClientCA: caPEM, Runtime: rt, Extra: extra,
		Pods: nodeapi.PodGetterFunc(func(namespace, name string) (*corev1.Pod, bool) {
			obj, ok, err := podInformer.GetIndexer().GetByKey(namespace + "/" + name)
			if err != nil || !ok {
				return nil, false
			}
			return obj.(*corev1.Pod), true
		}),
	})
	if err != nil {
		return err
	}
	kubeletPort, err := api.Listen()
	if err != nil {
		return fmt.Errorf("agent: node API on %s: %w", a.config.KubeletAddress, err)
	}
	apiCtx, stopAPI := context.WithCancel(ctx)
	apiDone := make(chan struct{})
	go func() {
		defer close(apiDone)
		if err := api.Start(apiCtx); err != nil {
			logger.Error(err, "node API stopped; logs, exec and port-forward are not served")
		}
	}()
	defer func() {
		stopAPI()
		<-apiDone
	}()

	reporter := &nodeReporter{
		client: a.client, clock: clock.RealClock{}, facts: facts,
		leaseDuration: 4 * a.config.LeaseRenewInterval,
		spec: nodeSpec{
			name: a.config.NodeName, podCIDR: a.config.PodCIDR, maxPods: a.config.MaxPods,
			runtimeVersion: version.RuntimeName + "://" + version.RuntimeVersion,
			annotations:    map[string]string{volume.LocalPathDirAnnotation: a.config.storageDir()},
			kubeletPort:    int32(kubeletPort),
		},
	}
	node, err := reporter.register(ctx)
	if err != nil {
		return err
	}
	podCIDR, err := podCIDROf(node)
	if err != nil {
		return err
	}
	if ownNetwork {
		network := cni.Network{Name: networkName, Bridge: a.config.Bridge, PodCIDR: podCIDR, IPAMDataDir: a.config.ipamDir()}
		if err := network.Write(a.config.cniConfDir()); err != nil {
			return err
		}
		if err := network.EnsureMasquerade(ctx); err != nil {
			return err
		}
	}
	if err := waitNetworkReady(ctx, rt, networkReadyTimeout); err != nil {
		if ownNetwork {
			return err
		}
		logger.Error(err, "the runtime's pod network is not ready; pods will wait for it")
	}
	logger.Info("node registered", "node", a.config.NodeName, "podCIDR", podCIDR, "runtime", reporter.spec.runtimeVersion, "kubeletPort", kubeletPort)

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: a.client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: a.config.NodeName})
	recorder.Eventf(&corev1.ObjectReference{Kind: "Node", Name: node.Name, UID: node.UID},
		corev1.EventTypeNormal, "Starting", "Starting kubelet.")

	allocatable := node.Status.Allocatable.DeepCopy()
	memory := allocatable[corev1.ResourceMemory]
	volumes, err := volume.New(volume.Config{
		Root: a.config.volumeDir(), NodeName: a.config.NodeName, ClusterDomain: a.config.ClusterDomain,
		Allocatable: allocatable, ResyncInterval: a.config.VolumeResyncInterval,
	}, a.client, recorder)
	if err != nil {
		return err
	}
	syncer := (&podSyncer{
		runtime: rt, client: a.client, recorder: recorder, objects: apiObjects{a.client}, volumes: volumes,
		nodeName: a.config.NodeName, hostIP: facts.ip.String(), runtimeName: version.RuntimeName,
		logRoot: a.config.podLogDir(), seccompRoot: a.config.seccompDir(),
		dns: dnsSettings{
			clusterDNS: a.config.ClusterDNS, clusterDomain: a.config.ClusterDomain,
			host: readHostResolv(a.config.ResolvConf),
		},
		allocatable: allocatable, memoryCapacity: memory.Value(),
	}).init()
	return a.runPods(ctx, rt, syncer, podInformer, factory, func() { reporter.run(ctx, node, a.config.LeaseRenewInterval, a.config.NodeStatusInterval) })
}

// newPodInformer returns the informer of the pods bound to this node
// (indexed by UID too) and its factory, not started yet.
func (a *Agent) newPodInformer() (cache.SharedIndexInformer, informers.SharedInformerFactory, error) {
	factory := informers.NewSharedInformerFactoryWithOptions(a.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", a.config.NodeName).String()
		}))
	podInformer := factory.Core().V1().Pods().Informer()
	if err := podInformer.AddIndexers(cache.Indexers{uidIndex: func(obj any) ([]string, error) {
		if pod, ok := obj.(*corev1.Pod); ok {
			return []string{string(pod.UID)}, nil
		}
		return nil, nil
	}}); err != nil {
		return nil, nil, fmt.Errorf("agent: %w", err)
	}
	return podInformer, factory, nil
}

// clientCA returns the cluster CA the node API verifies callers against:
// Config.ClientCAFile, or the ca.crt of kube-system/kube-root-ca.crt,
// waited for until the API server has published it (or ctx ends).
func (a *Agent) clientCA(ctx context.Context) ([]byte, error) {
	if a.config.ClientCAFile != "" {
		data, err := os.ReadFile(a.config.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("agent: client CA: %w", err)
		}
		return data, nil
	}
	logged := false
	for {
		cm, err := a.client.CoreV1().ConfigMaps(metav1.NamespaceSystem).Get(ctx, rootCAConfigMap, metav1.GetOptions{})
		if err == nil && cm.Data[rootCAKey] != "" {
			return []byte(cm.Data[rootCAKey]), nil
		}
		if !logged {
			klog.FromContext(ctx).Info("waiting for the cluster CA in ConfigMap "+metav1.NamespaceSystem+"/"+rootCAConfigMap, "err", err)
			logged = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// runPods runs the pod informer, the workers and the relister (and
// background, for the node heartbeats) until ctx ends.
func (a *Agent) runPods(ctx context.Context, rt cri.Runtime, syncer *podSyncer, podInformer cache.SharedIndexInformer, factory informers.SharedInformerFactory, background func()) error {
	podByUID := func(uid types.UID) *corev1.Pod {
		objs, err := podInformer.GetIndexer().ByIndex(uidIndex, string(uid))
		if err != nil || len(objs) == 0 {
			return nil
		}
		return objs[0].(*corev1.Pod)
	}

	workers := newPodWorkers(func(ctx context.Context, uid types.UID) (syncResult, bool, error) {
		pod := podByUID(uid)
		if pod == nil {
			err := syncer.cleanupPod(ctx, uid, a.forgetGrace(uid))
			return syncResult{}, err == nil, err
		}
		a.rememberGrace(pod)
		result, err := syncer.syncPod(ctx, pod)
		return result, false, err
	})
	// A probe result that changes syncs its pod at once (readiness into
	// the status, a failed liveness probe into a restart).
	probes := prober.NewManager(ctx, prober.Config{
		Runner: rt, Recorder: syncer.recorder,
		OnChange: func(uid types.UID) { workers.wake(ctx, uid) },
	})
	defer probes.Stop()
	syncer.probes = probes
	wake := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if pod, ok := obj.(*corev1.Pod); ok {
			workers.wake(ctx, pod.UID)
		}
	}
	if _, err := podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    wake,
		UpdateFunc: func(_, obj any) { wake(obj) },
		DeleteFunc: wake,
	}); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), podInformer.HasSynced) {
		workers.wait()
		return nil
	}
	var wg sync.WaitGroup
	if syncer.volumes != nil {
		cleanupOrphanVolumes(ctx, rt, syncer.volumes, func(uid types.UID) bool { return podByUID(uid) != nil })
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := syncer.volumes.Run(ctx); err != nil {
				klog.FromContext(ctx).Error(err, "local-path volume cleanup stopped")
			}
		}()
	}
	wg.Add(2)
	go func() { defer wg.Done(); background() }()
	// The first relist wakes every pod the runtime holds: running ones
	// are adopted (their sync finds nothing to do), those whose pod
	// object is gone are cleaned up.
	rel := &relister{runtime: rt, wake: func(uid types.UID) { workers.wake(ctx, uid) }}
	go func() { defer wg.Done(); rel.run(ctx) }()
	<-ctx.Done()
	wg.Wait()
	workers.wait()
	return nil
}

func (a *Agent) rememberGrace(pod *corev1.Pod) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lastGrace[pod.UID] = gracePeriod(pod)
}

// forgetGrace returns and forgets a pod's last known grace period
// (minimumGracePeriod if unknown).
func (a *Agent) forgetGrace(uid types.UID) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	g, ok := a.lastGrace[uid]
	delete(a.lastGrace, uid)
	if !ok {
		return minimumGracePeriod
	}
	return g
}

// runtimeSandboxImage asks the runtime which pause image it runs
// sandboxes from (containerd reports its CRI config in verbose status).
func runtimeSandboxImage(ctx context.Context, rt cri.Runtime) (string, error) {
	status, err := rt.Status(ctx, true)
	if err != nil {
		return "", err
	}
	var config struct {
		SandboxImage string `json:"sandboxImage"`
	}
	if raw := status.GetInfo()["config"]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &config); err != nil {
			return "", fmt.Errorf("agent: runtime config: %w", err)
		}
	}
	if config.SandboxImage == "" {
		return "", fmt.Errorf("agent: the runtime does not report its sandbox image")
	}
	return config.SandboxImage, nil
}

// waitNetworkReady polls the runtime until it reports NetworkReady.
func waitNetworkReady(ctx context.Context, rt cri.Runtime, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		status, err := rt.Status(ctx, false)
		if err == nil {
			for _, c := range status.GetStatus().GetConditions() {
				if c.Type == runtimeapi.NetworkReady && c.Status {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("agent: the runtime's network is not ready after %v", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
