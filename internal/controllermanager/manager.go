package controllermanager

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/navarch/navarch/internal/controller"
)

// Lease timings, as kube-controller-manager's defaults: a dead leader is
// replaced within LeaseDuration.
const (
	LeaseDuration = 15 * time.Second
	RenewDeadline = 10 * time.Second
	RetryPeriod   = 2 * time.Second
	leaseName     = "navarch-controller-manager"
)

// Controller is one controller (or the scheduler): Start blocks until ctx
// ends.
type Controller interface {
	Start(ctx context.Context) error
}

// Clients are what controllers are built from: API clients and the
// shared informer factory of the current leadership term.
type Clients struct {
	Kube      kubernetes.Interface
	Dynamic   dynamic.Interface
	Metadata  metadata.Interface
	Informers informers.SharedInformerFactory
	// CreatePod, when set, is how controllers create pods: the API
	// server of this process, without the HTTP round trip.
	CreatePod controller.PodCreator
	// BindPod, when set, is how the scheduler binds pods, likewise.
	BindPod func(ctx context.Context, namespace string, binding *corev1.Binding) error
}

// NewControllerFunc builds a controller. It is called each time the
// manager starts leading, before the informer factory starts.
type NewControllerFunc func(c Clients) (Controller, error)

// Named pairs a controller constructor with its name (for logs).
type Named struct {
	Name string
	New  NewControllerFunc
}

// LocalSource is where the informers of one kind read, instead of
// through the API client: the API server in this process
// (apiserver.Server.LocalListerWatcher).
type LocalSource struct {
	// Object is an empty object of the kind, as informer factories key
	// their informers (&corev1.Pod{}).
	Object runtime.Object
	// ListerWatcher lists and watches every object of the kind.
	ListerWatcher cache.ListerWatcher
}

// Manager runs controllers while it holds the lease.
type Manager struct {
	clients     Clients
	client      kubernetes.Interface
	controllers []Named
	identity    string
	local       []LocalSource
}

// New returns a manager for the given controllers (clients.Informers is
// ignored: each leadership term gets a fresh factory).
func New(clients Clients, controllers []Named) *Manager {
	host, _ := os.Hostname()
	return &Manager{clients: clients, client: clients.Kube, controllers: controllers, identity: host + "_" + string(uuid.NewUUID())}
}

// ReadLocally makes the informers of the kinds of sources read from
// them. Call it before Start.
func (m *Manager) ReadLocally(sources ...LocalSource) {
	m.local = append(m.local, sources...)
}

// Start campaigns for the lease and runs the controllers while leading.
// Losing the lease stops them; the manager then campaigns again. It
// returns when ctx ends.
func (m *Manager) Start(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metaFor(leaseName),
		Client:     m.client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: m.identity},
	}
	for ctx.Err() == nil {
		elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   LeaseDuration,
			RenewDeadline:   RenewDeadline,
			RetryPeriod:     RetryPeriod,
			ReleaseOnCancel: true,
			Name:            leaseName,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					logger.Info("leading: starting controllers", "identity", m.identity)
					if err := m.runControllers(ctx); err != nil {
						logger.Error(err, "controllers stopped")
					}
				},
				OnStoppedLeading: func() { logger.Info("no longer leading", "identity", m.identity) },
			},
		})
		if err != nil {
			return fmt.Errorf("controllermanager: %w", err)
		}
		elector.Run(ctx)
	}
	return nil
}

// runControllers starts every controller on one informer factory and
// waits for ctx to end.
func (m *Manager) runControllers(ctx context.Context) error {
	factory := informers.NewSharedInformerFactory(m.client, 0)
	for _, src := range m.local {
		// The factory makes an informer per kind once: registered first,
		// this one is what every controller gets, with the namespace
		// index the factory's own informers have.
		factory.InformerFor(src.Object, func(kubernetes.Interface, time.Duration) cache.SharedIndexInformer {
			return cache.NewSharedIndexInformer(src.ListerWatcher, src.Object, 0,
				cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
		})
	}
	clients := m.clients
	clients.Informers = factory
	var started []Controller
	for _, n := range m.controllers {
		c, err := n.New(clients)
		if err != nil {
			return fmt.Errorf("controllermanager: %s: %w", n.Name, err)
		}
		started = append(started, c)
	}
	factory.Start(ctx.Done())
	var wg sync.WaitGroup
	for i, c := range started {
		wg.Add(1)
		go func(name string, c Controller) {
			defer wg.Done()
			if err := c.Start(ctx); err != nil {
				klog.FromContext(ctx).Error(err, "controller failed", "controller", name)
			}
		}(m.controllers[i].Name, c)
	}
	<-ctx.Done()
	wg.Wait()
	factory.Shutdown()
	return nil
}
