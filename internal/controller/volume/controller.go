package volume

import (
	"context"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	coreinformers "k8s.io/client-go/informers/core/v1"
	storageinformers "k8s.io/client-go/informers/storage/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/navarch/navarch/internal/controller"
)

// eventSource is the component name on the events this controller
// records, as upstream's PV controller names itself.
const eventSource = "persistentvolume-controller"

// DefaultStorageDir is where local-path volumes live on a node that does
// not advertise its own directory: the default data dir's storage/.
const DefaultStorageDir = "/var/lib/navarch/storage"

// Config tunes the controller.
type Config struct {
	// StorageDir is the directory under which local-path volumes are
	// created on nodes without the navarch.io/local-path-dir annotation;
	// empty means DefaultStorageDir. The server passes
	// <data-dir>/storage.
	StorageDir string
}

// Controller binds claims to volumes and provisions local-path volumes.
// Create it with New and run it with Start.
type Controller struct {
	client      kubernetes.Interface
	storageDir  string
	volumes     corelisters.PersistentVolumeLister
	claims      corelisters.PersistentVolumeClaimLister
	classes     storagelisters.StorageClassLister
	nodes       corelisters.NodeLister
	synced      []cache.InformerSynced
	claimQueue  workqueue.TypedRateLimitingInterface[string]
	volumeQueue workqueue.TypedRateLimitingInterface[string]

	// recorder is set by Start (or by tests).
	recorder record.EventRecorder
}

// New returns a controller fed by the PersistentVolume,
// PersistentVolumeClaim, StorageClass and Node informers of one shared
// factory. It registers its event handlers now; the factory must be
// started for Start to get past its cache sync.
func New(client kubernetes.Interface,
	volumeInformer coreinformers.PersistentVolumeInformer,
	claimInformer coreinformers.PersistentVolumeClaimInformer,
	classInformer storageinformers.StorageClassInformer,
	nodeInformer coreinformers.NodeInformer,
	cfg Config,
) *Controller {
	dir := cfg.StorageDir
	if dir == "" {
		dir = DefaultStorageDir
	}
	c := &Controller{
		client:     client,
		storageDir: filepath.Clean(dir),
		volumes:    volumeInformer.Lister(),
		claims:     claimInformer.Lister(),
		classes:    classInformer.Lister(),
		nodes:      nodeInformer.Lister(),
		synced: []cache.InformerSynced{
			volumeInformer.Informer().HasSynced, claimInformer.Informer().HasSynced,
			classInformer.Informer().HasSynced, nodeInformer.Informer().HasSynced,
		},
		claimQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "volume-claims"}),
		volumeQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "volume-volumes"}),
	}
	_, _ = claimInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.claimChanged,
		UpdateFunc: func(_, obj interface{}) { c.claimChanged(obj) },
		DeleteFunc: c.claimDeleted,
	})
	_, _ = volumeInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.volumeChanged,
		UpdateFunc: func(old, obj interface{}) {
			c.volumeChanged(obj)
			// A volume that became Available may fit a waiting claim.
			oldPV, ok1 := old.(*corev1.PersistentVolume)
			pv, ok2 := obj.(*corev1.PersistentVolume)
			if ok1 && ok2 && oldPV.Status.Phase != pv.Status.Phase && pv.Status.Phase == corev1.VolumeAvailable {
				c.enqueueUnboundClaims()
			}
		},
		DeleteFunc: c.volumeChanged,
	})
	_, _ = classInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(interface{}) { c.enqueueUnboundClaims() },
		UpdateFunc: func(_, _ interface{}) { c.enqueueUnboundClaims() },
	})
	return c
}

// Start waits for the caches, then binds and provisions until ctx ends.
// It returns nil when ctx ends, or an error if the caches never synced.
func (c *Controller) Start(ctx context.Context) error {
	if c.recorder == nil {
		recorder, stop := controller.NewEventRecorder(c.client, eventSource)
		defer stop()
		c.recorder = recorder
	}
	if err := controller.WaitForCaches(ctx, "volume", c.synced...); err != nil {
		c.claimQueue.ShutDown()
		c.volumeQueue.ShutDown()
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		controller.RunWorkers(ctx, c.volumeQueue, 2, c.syncVolume)
	}()
	controller.RunWorkers(ctx, c.claimQueue, 2, c.syncClaim)
	<-done
	return nil
}

func (c *Controller) claimChanged(obj interface{}) {
	claim, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return
	}
	c.claimQueue.Add(claim.Namespace + "/" + claim.Name)
	if claim.Spec.VolumeName != "" {
		c.volumeQueue.Add(claim.Spec.VolumeName)
	}
}

// claimDeleted requeues the volumes bound to a deleted claim: they are
// released now.
func (c *Controller) claimDeleted(obj interface{}) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	claim, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return
	}
	c.claimQueue.Add(claim.Namespace + "/" + claim.Name)
	if claim.Spec.VolumeName != "" {
		c.volumeQueue.Add(claim.Spec.VolumeName)
	}
	volumes, err := c.volumes.List(labels.Everything())
	if err != nil {
		return
	}
	for _, pv := range volumes {
		if ref := pv.Spec.ClaimRef; ref != nil && ref.Namespace == claim.Namespace && ref.Name == claim.Name {
			c.volumeQueue.Add(pv.Name)
		}
	}
}

func (c *Controller) volumeChanged(obj interface{}) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok {
		return
	}
	c.volumeQueue.Add(pv.Name)
	if ref := pv.Spec.ClaimRef; ref != nil {
		c.claimQueue.Add(ref.Namespace + "/" + ref.Name)
	}
}

// enqueueUnboundClaims requeues every claim still waiting for a volume:
// a new volume or class may serve it now.
func (c *Controller) enqueueUnboundClaims() {
	claims, err := c.claims.List(labels.Everything())
	if err != nil {
		return
	}
	for _, claim := range claims {
		if claim.Spec.VolumeName == "" {
			c.claimQueue.Add(claim.Namespace + "/" + claim.Name)
		}
	}
}
