package garbagecollector

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// Index names of every monitor's cache.
const (
	uidIndex   = "uid"
	ownerIndex = "ownerUID"
)

// monitor is the metadata informer of one resource.
type monitor struct {
	resource schema.GroupVersionResource
	informer cache.SharedIndexInformer
	// stop ends the informer; nil until it runs.
	stop context.CancelFunc
}

// indexers index objects by their UID and by their owners' UIDs.
var indexers = cache.Indexers{
	uidIndex: func(obj interface{}) ([]string, error) {
		m, ok := obj.(*metav1.PartialObjectMetadata)
		if !ok {
			return nil, nil
		}
		return []string{string(m.UID)}, nil
	},
	ownerIndex: func(obj interface{}) ([]string, error) {
		m, ok := obj.(*metav1.PartialObjectMetadata)
		if !ok {
			return nil, nil
		}
		out := make([]string, 0, len(m.OwnerReferences))
		for _, ref := range m.OwnerReferences {
			out = append(out, string(ref.UID))
		}
		return out, nil
	},
}

// syncMonitors reads discovery, refreshes the kind map and starts or
// stops monitors so that exactly the deletable resources are watched.
// Groups that fail discovery keep their monitors.
func (c *Controller) syncMonitors(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	_, all, err := c.discovery.ServerGroupsAndResources()
	partial := discovery.IsGroupDiscoveryFailedError(err)
	if err != nil && !partial {
		return fmt.Errorf("garbagecollector: discovery: %w", err)
	}
	kinds := map[schema.GroupVersionKind]kindInfo{}
	for _, list := range all {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range list.APIResources {
			if isSubresource(r.Name) {
				continue
			}
			kinds[gv.WithKind(r.Kind)] = kindInfo{resource: gv.WithResource(r.Name), namespaced: r.Namespaced}
		}
	}
	preferred, err := c.discovery.ServerPreferredResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return fmt.Errorf("garbagecollector: discovery: %w", err)
	}
	failedGroups := sets.New[string]()
	if failed, ok := err.(*discovery.ErrGroupDiscoveryFailed); ok {
		for gv := range failed.Groups {
			failedGroups.Insert(gv.Group)
		}
	}
	wanted := c.deletableResources(preferred)

	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastDiscovery = time.Now()
	for gvk, info := range kinds {
		c.kinds[gvk] = info
	}
	for gvr, m := range c.monitors {
		if !wanted.Has(gvr) && !failedGroups.Has(gvr.Group) {
			logger.V(2).Info("Garbage collector: no longer watching", "resource", gvr.String())
			if m.stop != nil {
				m.stop()
			}
			delete(c.monitors, gvr)
		}
	}
	for _, gvr := range wanted.UnsortedList() {
		if _, ok := c.monitors[gvr]; ok {
			continue
		}
		m := c.newMonitor(gvr)
		c.monitors[gvr] = m
		if c.ctx != nil {
			c.runMonitor(m)
		}
		logger.V(2).Info("Garbage collector: watching", "resource", gvr.String())
	}
	return nil
}

// minRediscoveryInterval spaces the discovery reads that owner
// references to unknown kinds trigger.
const minRediscoveryInterval = 5 * time.Second

// refreshDiscovery rereads discovery for an owner reference to an unknown
// kind, unless that was done less than minRediscoveryInterval ago.
func (c *Controller) refreshDiscovery(ctx context.Context) error {
	c.mu.Lock()
	recent := time.Since(c.lastDiscovery) < minRediscoveryInterval
	c.mu.Unlock()
	if recent {
		return nil
	}
	return c.syncMonitors(ctx)
}

// deletableResources picks, from the preferred version of each group,
// the resources that can be listed, watched and deleted and are not
// ignored.
func (c *Controller) deletableResources(lists []*metav1.APIResourceList) sets.Set[schema.GroupVersionResource] {
	out := sets.New[schema.GroupVersionResource]()
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range list.APIResources {
			if isSubresource(r.Name) {
				continue
			}
			verbs := sets.New(r.Verbs...)
			if !verbs.HasAll("list", "watch", "delete") {
				continue
			}
			if slices.Contains(c.cfg.IgnoredResources, schema.GroupResource{Group: gv.Group, Resource: r.Name}) {
				continue
			}
			out.Insert(gv.WithResource(r.Name))
		}
	}
	return out
}

func isSubresource(name string) bool {
	return strings.Contains(name, "/")
}

// newMonitor builds (does not start) the informer of one resource.
// Call with mu held.
func (c *Controller) newMonitor(gvr schema.GroupVersionResource) *monitor {
	informer := metadatainformer.NewFilteredMetadataInformer(c.metadata, gvr, metav1.NamespaceAll, 0, indexers, nil).Informer()
	m := &monitor{resource: gvr, informer: informer}
	_, _ = informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { c.objectChanged(gvr, nil, obj) },
		UpdateFunc: func(oldObj, newObj interface{}) {
			c.objectChanged(gvr, oldObj, newObj)
		},
		DeleteFunc: func(obj interface{}) { c.objectDeleted(gvr, obj) },
	})
	return m
}

// runMonitor starts a monitor's informer under Start's context. Call
// with mu held.
func (c *Controller) runMonitor(m *monitor) {
	ctx, cancel := context.WithCancel(c.ctx)
	m.stop = cancel
	go m.informer.RunWithContext(ctx)
}

// monitorsSynced returns the HasSynced of every current monitor.
func (c *Controller) monitorsSynced() []cache.InformerSynced {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []cache.InformerSynced
	for _, m := range c.monitors {
		out = append(out, m.informer.HasSynced)
	}
	return out
}

func (c *Controller) stopMonitors() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.monitors {
		if m.stop != nil {
			m.stop()
		}
	}
}

// cachedByUID returns the cached object with uid and its resource.
func (c *Controller) cachedByUID(uid types.UID) (*metav1.PartialObjectMetadata, schema.GroupVersionResource, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for gvr, m := range c.monitors {
		objs, err := m.informer.GetIndexer().ByIndex(uidIndex, string(uid))
		if err != nil || len(objs) == 0 {
			continue
		}
		if obj, ok := objs[0].(*metav1.PartialObjectMetadata); ok {
			return obj, gvr, true
		}
	}
	return nil, schema.GroupVersionResource{}, false
}

// dependent is a cached object with an owner reference to some owner.
type dependent struct {
	ref  objectRef
	meta *metav1.PartialObjectMetadata
	// owner is its reference to the owner asked about.
	owner metav1.OwnerReference
}

// cachedDependents returns the cached objects that name uid as an owner.
func (c *Controller) cachedDependents(uid types.UID) []dependent {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []dependent
	for gvr, m := range c.monitors {
		objs, err := m.informer.GetIndexer().ByIndex(ownerIndex, string(uid))
		if err != nil {
			continue
		}
		for _, obj := range objs {
			meta, ok := obj.(*metav1.PartialObjectMetadata)
			if !ok {
				continue
			}
			for _, owner := range meta.OwnerReferences {
				if owner.UID == uid {
					out = append(out, dependent{ref: refOf(gvr, meta), meta: meta, owner: owner})
					break
				}
			}
		}
	}
	return out
}

// kindOf returns where objects of an owner reference's kind live.
func (c *Controller) kindOf(apiVersion, kind string) (kindInfo, bool) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return kindInfo{}, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	info, ok := c.kinds[gv.WithKind(kind)]
	return info, ok
}

func refOf(gvr schema.GroupVersionResource, m *metav1.PartialObjectMetadata) objectRef {
	return objectRef{resource: gvr, namespace: m.Namespace, name: m.Name, uid: m.UID}
}

// metadataOf unwraps an informer event's object.
func metadataOf(obj interface{}) *metav1.PartialObjectMetadata {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	m, _ := obj.(*metav1.PartialObjectMetadata)
	return m
}

// uidSet is a bounded set of UIDs, emptied when full; safe for
// concurrent use.
type uidSet struct {
	mu    sync.Mutex
	limit int
	// uids is guarded by mu.
	uids map[types.UID]struct{}
}

// absentOwnerCacheSize bounds the remembered absent owners.
const absentOwnerCacheSize = 500

func newUIDSet(limit int) *uidSet {
	return &uidSet{limit: limit, uids: map[types.UID]struct{}{}}
}

func (s *uidSet) add(uid types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.uids) >= s.limit {
		clear(s.uids)
	}
	s.uids[uid] = struct{}{}
}

func (s *uidSet) has(uid types.UID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.uids[uid]
	return ok
}
