package garbagecollector

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// Config tunes the garbage collector. Zero fields take the defaults of
// DefaultConfig.
type Config struct {
	// DiscoveryPeriod is how often discovery is reread to watch kinds
	// that appeared and stop watching those that went (upstream's 30 s).
	DiscoveryPeriod time.Duration
	// SyncTimeout bounds the wait for the informers' first sync; after
	// it the collector starts with those that synced.
	SyncTimeout time.Duration
	// DeleteWorkers is how many objects are checked for deletion at once
	// (upstream's --concurrent-gc-syncs is 20).
	DeleteWorkers int
	// IgnoredResources are never watched: their objects are neither
	// collected nor counted as owners. Nil means core and events.k8s.io
	// events, as upstream; an empty list ignores nothing.
	IgnoredResources []schema.GroupResource
}

// DefaultConfig returns the production settings.
func DefaultConfig() Config {
	return Config{
		DiscoveryPeriod: 30 * time.Second,
		SyncTimeout:     30 * time.Second,
		DeleteWorkers:   5,
		IgnoredResources: []schema.GroupResource{
			{Group: "", Resource: "events"},
			{Group: "events.k8s.io", Resource: "events"},
		},
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.DiscoveryPeriod <= 0 {
		c.DiscoveryPeriod = d.DiscoveryPeriod
	}
	if c.SyncTimeout <= 0 {
		c.SyncTimeout = d.SyncTimeout
	}
	if c.DeleteWorkers <= 0 {
		c.DeleteWorkers = d.DeleteWorkers
	}
	if c.IgnoredResources == nil {
		c.IgnoredResources = d.IgnoredResources
	}
	return c
}

// objectRef names one object of one resource; it is the work item of
// both queues. The UID tells incarnations of a name apart.
type objectRef struct {
	resource  schema.GroupVersionResource
	namespace string
	name      string
	uid       types.UID
}

// Controller is the garbage collector.
type Controller struct {
	cfg       Config
	discovery discovery.DiscoveryInterface
	metadata  metadata.Interface

	// deleteQueue holds objects to check: delete them if their owners are
	// gone, or finish their foreground deletion.
	deleteQueue workqueue.TypedRateLimitingInterface[objectRef]
	// orphanQueue holds owners with the orphan finalizer.
	orphanQueue workqueue.TypedRateLimitingInterface[objectRef]

	// mu guards monitors, kinds, ctx and lastDiscovery.
	mu sync.RWMutex
	// monitors holds the informer of every watched resource.
	monitors map[schema.GroupVersionResource]*monitor
	// kinds maps every served group/version/kind to its resource, to
	// find owners named in owner references.
	kinds map[schema.GroupVersionKind]kindInfo
	// ctx is Start's context, which monitors started later run under;
	// nil before Start.
	ctx context.Context
	// lastDiscovery is when discovery was last read.
	lastDiscovery time.Time

	// absentOwners remembers owner UIDs a live read found gone, sparing
	// more reads for their other dependents; UIDs never come back.
	absentOwners *uidSet
}

// kindInfo says where the objects of a kind live.
type kindInfo struct {
	resource   schema.GroupVersionResource
	namespaced bool
}

// New returns a garbage collector that finds kinds through client's
// discovery and reads, watches, patches and deletes objects through
// metadataClient (PartialObjectMetadata). It builds its own metadata
// informers; it takes none of the typed shared informers.
func New(client kubernetes.Interface, metadataClient metadata.Interface, cfg Config) *Controller {
	return &Controller{
		cfg:       cfg.withDefaults(),
		discovery: client.Discovery(),
		metadata:  metadataClient,
		deleteQueue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[objectRef](),
			workqueue.TypedRateLimitingQueueConfig[objectRef]{Name: "garbage_collector_attempt_to_delete"}),
		orphanQueue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[objectRef](),
			workqueue.TypedRateLimitingQueueConfig[objectRef]{Name: "garbage_collector_attempt_to_orphan"}),
		monitors:     map[schema.GroupVersionResource]*monitor{},
		kinds:        map[schema.GroupVersionKind]kindInfo{},
		absentOwners: newUIDSet(absentOwnerCacheSize),
	}
}

// Start reads discovery, starts a metadata informer per deletable
// resource, waits for them to sync, and then collects garbage until ctx
// ends, rereading discovery every DiscoveryPeriod. It returns nil when ctx
// ends; until discovery first answers it keeps asking.
func (c *Controller) Start(ctx context.Context) error {
	defer utilruntime.HandleCrashWithContext(ctx)
	defer c.deleteQueue.ShutDown()
	defer c.orphanQueue.ShutDown()
	logger := klog.FromContext(ctx)
	logger.Info("Starting garbage collector")
	defer logger.Info("Shutting down garbage collector")

	c.mu.Lock()
	c.ctx = ctx
	c.mu.Unlock()
	defer c.stopMonitors()

	// Until discovery answers there is nothing to watch; keep asking.
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		if err := c.syncMonitors(ctx); err != nil {
			logger.Info("Garbage collector: discovery failed, retrying", "err", err)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return nil // ctx ended
	}
	// A resource that cannot be listed must not stop all collection:
	// after a while, go on with what has synced, as upstream does.
	syncCtx, cancelSync := context.WithTimeout(ctx, c.cfg.SyncTimeout)
	synced := cache.WaitForNamedCacheSyncWithContext(syncCtx, c.monitorsSynced()...)
	cancelSync()
	switch {
	case ctx.Err() != nil:
		return nil
	case synced:
		logger.Info("Garbage collector: all resource monitors have synced")
	default:
		logger.Info("Garbage collector: not all resource monitors synced in time; collecting anyway", "timeout", c.cfg.SyncTimeout)
	}

	for range c.cfg.DeleteWorkers {
		go wait.UntilWithContext(ctx, func(ctx context.Context) {
			for c.processNext(ctx, c.deleteQueue, c.attemptToDelete) {
			}
		}, time.Second)
	}
	go wait.UntilWithContext(ctx, func(ctx context.Context) {
		for c.processNext(ctx, c.orphanQueue, c.attemptToOrphan) {
		}
	}, time.Second)
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := c.syncMonitors(ctx); err != nil {
			utilruntime.HandleErrorWithContext(ctx, err, "garbage collector: rereading discovery")
		}
	}, c.cfg.DiscoveryPeriod)
	return nil
}

func (c *Controller) processNext(ctx context.Context, queue workqueue.TypedRateLimitingInterface[objectRef], sync func(context.Context, objectRef) error) bool {
	item, quit := queue.Get()
	if quit {
		return false
	}
	defer queue.Done(item)
	if err := sync(ctx, item); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "garbage collector", "resource", item.resource.String(),
			"object", klog.KRef(item.namespace, item.name), "uid", item.uid)
		queue.AddRateLimited(item)
		return true
	}
	queue.Forget(item)
	return true
}
