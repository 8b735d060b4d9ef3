package proxy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// Defaults of Config.
const (
	// DefaultMinSyncInterval coalesces bursts of changes into one
	// transaction: a change reaches the kernel at most this long after it
	// arrives, plus the transaction itself.
	DefaultMinSyncInterval = 50 * time.Millisecond
	// DefaultFullSyncInterval is how often every rule is rewritten,
	// healing drift (rules someone else changed or removed).
	DefaultFullSyncInterval = 5 * time.Minute
	// DefaultRetryInterval is the wait after a failed sync.
	DefaultRetryInterval = time.Second
)

// Config is what a Proxier needs besides its informers.
type Config struct {
	// NodeName is this node's name: endpoints whose EndpointSlice entry
	// names it serve the Local traffic policies. "": no endpoint is local.
	NodeName string
	// Table is the nftables table (family ip) the proxier owns. Default
	// TableName; tests use their own.
	Table string
	// MinSyncInterval, FullSyncInterval, RetryInterval: zero means the
	// default.
	MinSyncInterval, FullSyncInterval, RetryInterval time.Duration
	// RefreshChunk is how many chains each transaction of a periodic
	// full sync rewrites; zero means DefaultRefreshChunk.
	RefreshChunk int
}

func (c *Config) defaults() {
	if c.Table == "" {
		c.Table = TableName
	}
	if c.MinSyncInterval <= 0 {
		c.MinSyncInterval = DefaultMinSyncInterval
	}
	if c.FullSyncInterval <= 0 {
		c.FullSyncInterval = DefaultFullSyncInterval
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = DefaultRetryInterval
	}
	if c.RefreshChunk <= 0 {
		c.RefreshChunk = DefaultRefreshChunk
	}
}

// sliceServiceIndex indexes EndpointSlices by "ns/service".
const sliceServiceIndex = "navarch.io/proxy-service"

// Proxier keeps the proxy's nftables table equal to what the Services and
// EndpointSlices ask for.
//
// The first sync after Start and a sync after a failed one are full:
// every chain and map is rewritten in place in one transaction and
// objects nobody wants are removed (the table is replaced whole only
// when its layout is not ours, which empties session affinity). Every
// FullSyncInterval the same rewrite runs as a refresh (refresh.go): a
// chunk of services per transaction, with partial syncs going on between
// the chunks, so that changes are not held up for the seconds a whole
// rewrite of a large table takes. Every other sync is partial: it rebuilds only the Services that changed since
// the last sync and sends one transaction with just the difference (a
// netlink batch with NftCommand, falling back to nft). Both
// read the informer caches when they run, so the rules converge to the
// latest state however many changes arrive meanwhile.
type Proxier struct {
	cfg         Config
	services    corelisters.ServiceLister
	slices      discoverylisters.EndpointSliceLister
	sliceByName cache.Indexer // nil if the index could not be added
	synced      []cache.InformerSynced
	nft         NFT

	// changed wakes the loop; dirty holds the "ns/name" of Services whose
	// rules may have changed since the last sync.
	changed chan struct{}
	mu      sync.Mutex
	dirty   map[string]bool // guarded by mu

	// Owned by the loop (Start):
	// desired is the table the caches ask for; applied is what the last
	// successful transaction left in the kernel; pending names the
	// services in which they may differ.
	desired, applied *ruleset
	pending          map[string]bool
	// refresh is the periodic full sync in progress, or nil.
	refresh *refresh

	// afterSync, when set (tests, benchmarks), is called by the loop after
	// each successful sync that sent a transaction.
	afterSync func(syncReport)
	// refreshNow, when set (benchmarks), starts a periodic full sync as
	// the FullSyncInterval ticker does.
	refreshNow chan struct{}
}

// syncReport describes one successful sync.
type syncReport struct {
	full     bool
	services []string // for a partial sync: the services it rewrote
	start    time.Time
	duration time.Duration
	// For a periodic full sync done in chunks (full is set too): its
	// transactions, the longest of them and the last one (maps and base
	// chains, through nft).
	chunked         bool
	transactions    int
	longest, finish time.Duration
}

// New returns a proxier fed by the factory's Service and EndpointSlice
// informers (the caller starts the factory, after New).
func New(cfg Config, factory informers.SharedInformerFactory, nft NFT) *Proxier {
	cfg.defaults()
	svc := factory.Core().V1().Services()
	slices := factory.Discovery().V1().EndpointSlices()
	p := &Proxier{
		cfg:      cfg,
		services: svc.Lister(),
		slices:   slices.Lister(),
		synced:   []cache.InformerSynced{svc.Informer().HasSynced, slices.Informer().HasSynced},
		nft:      nft,
		changed:  make(chan struct{}, 1),
		dirty:    map[string]bool{},
		desired:  newRuleset(),
		applied:  newRuleset(),
		pending:  map[string]bool{},
	}
	// Finding a service's slices by index costs a map lookup; a label
	// selector scans the namespace. An informer that already runs takes
	// no index: then fall back to the selector.
	if err := slices.Informer().AddIndexers(cache.Indexers{sliceServiceIndex: sliceServiceKeys}); err == nil {
		p.sliceByName = slices.Informer().GetIndexer()
	}
	_, _ = svc.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { p.serviceChanged(obj) },
		UpdateFunc: func(_, obj interface{}) { p.serviceChanged(obj) },
		DeleteFunc: func(obj interface{}) { p.serviceChanged(obj) },
	})
	_, _ = slices.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { p.sliceChanged(obj) },
		UpdateFunc: func(old, obj interface{}) {
			p.sliceChanged(old) // the slice may have moved to another service
			p.sliceChanged(obj)
		},
		DeleteFunc: func(obj interface{}) { p.sliceChanged(obj) },
	})
	return p
}

// sliceServiceKeys is the index function of sliceServiceIndex.
func sliceServiceKeys(obj interface{}) ([]string, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || s.Labels[discoveryv1.LabelServiceName] == "" {
		return nil, nil
	}
	return []string{s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName]}, nil
}

func unwrapTombstone(obj interface{}) interface{} {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}

func (p *Proxier) serviceChanged(obj interface{}) {
	if svc, ok := unwrapTombstone(obj).(*corev1.Service); ok {
		p.markDirty(svc.Namespace + "/" + svc.Name)
	}
}

func (p *Proxier) sliceChanged(obj interface{}) {
	if keys, _ := sliceServiceKeys(unwrapTombstone(obj)); len(keys) > 0 {
		p.markDirty(keys[0])
	}
}

func (p *Proxier) markDirty(key string) {
	p.mu.Lock()
	p.dirty[key] = true
	p.mu.Unlock()
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

func (p *Proxier) takeDirty() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	keys := make([]string, 0, len(p.dirty))
	for k := range p.dirty {
		keys = append(keys, k)
	}
	p.dirty = map[string]bool{}
	return keys
}

// Start syncs the rules whenever something changed, at most once per
// MinSyncInterval, until ctx ends. Rules stay in place when it returns,
// so traffic keeps flowing while the agent restarts; the next Start
// reconciles them with what the API holds then. Cleanup removes them.
func (p *Proxier) Start(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), p.synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("proxy: caches did not sync")
	}
	logger := klog.FromContext(ctx)
	enableRouteLocalnet(ctx)
	fullTicker := time.NewTicker(p.cfg.FullSyncInterval)
	defer fullTicker.Stop()
	full, refreshDue := true, false
	for {
		started := time.Now()
		var err error
		switch {
		case full:
			err = p.syncFull(ctx)
		default:
			// Changes first; then the next step of a periodic full sync.
			err = p.syncPartial(ctx)
			if err == nil && refreshDue && p.refresh == nil {
				p.startRefresh(ctx)
			} else if err == nil && p.refresh != nil {
				err = p.refreshStep(ctx)
			}
			refreshDue = false
		}
		if ctx.Err() != nil {
			return nil
		}
		wait := p.cfg.MinSyncInterval - time.Since(started)
		full = err != nil
		if err != nil {
			p.refresh = nil
			logger.Error(err, "Syncing service rules failed; a full sync follows", "retryIn", p.cfg.RetryInterval)
			wait = p.cfg.RetryInterval
		}
		// Rate limit: changes that arrive meanwhile wait in dirty.
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
		if full || p.refresh != nil {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-p.changed:
		case <-fullTicker.C:
			refreshDue = true
		case <-p.refreshNow:
			refreshDue = true
		}
	}
}

// buildService computes the rules of one service from the caches; nil if
// it is gone or has none.
func (p *Proxier) buildService(key string) (*serviceRules, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil, err
	}
	svc, err := p.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	slices, err := p.slicesOf(svc)
	if err != nil {
		return nil, err
	}
	return buildServiceRules(BuildServicePorts(svc, slices, p.cfg.NodeName)), nil
}

func (p *Proxier) slicesOf(svc *corev1.Service) ([]*discoveryv1.EndpointSlice, error) {
	if p.sliceByName == nil {
		return p.slices.EndpointSlices(svc.Namespace).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: svc.Name}))
	}
	objs, err := p.sliceByName.ByIndex(sliceServiceIndex, svc.Namespace+"/"+svc.Name)
	if err != nil {
		return nil, err
	}
	out := make([]*discoveryv1.EndpointSlice, 0, len(objs))
	for _, o := range objs {
		if s, ok := o.(*discoveryv1.EndpointSlice); ok {
			out = append(out, s)
		}
	}
	// Index order is map order: sort so the rules never depend on it.
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// syncPartial rebuilds the services that changed and applies the
// difference to the table.
func (p *Proxier) syncPartial(ctx context.Context) error {
	keys := p.takeDirty()
	if len(keys) > 0 {
		changed := make(map[string]*serviceRules, len(keys))
		for _, k := range keys {
			r, err := p.buildService(k)
			if err != nil {
				p.requeue(keys)
				return err
			}
			changed[k] = r
			p.pending[k] = true
		}
		p.desired = p.desired.with(changed)
	}
	if len(p.pending) == 0 {
		return nil
	}
	pending := make([]string, 0, len(p.pending))
	for k := range p.pending {
		pending = append(pending, k)
	}
	sort.Strings(pending)
	start := time.Now()
	d := computeDelta(p.applied, p.desired, pending)
	if d != nil {
		var err error
		if fast, ok := p.nft.(deltaApplier); ok {
			err = fast.applyDelta(ctx, p.cfg.Table, d)
		} else {
			err = p.nft.Apply(ctx, d.script(p.cfg.Table))
		}
		if err != nil {
			return err
		}
	}
	p.applied = p.desired
	p.pending = map[string]bool{}
	if d != nil && p.refresh != nil {
		p.refresh.noteDelta(d)
	}
	if d != nil && p.afterSync != nil {
		p.afterSync(syncReport{services: d.changedService, start: start, duration: time.Since(start)})
	}
	return nil
}

// requeue marks keys dirty again after a sync could not read them.
func (p *Proxier) requeue(keys []string) {
	for _, k := range keys {
		p.markDirty(k)
	}
}

// syncFull rebuilds every service from the caches and rewrites the whole
// table in place; if that fails (or the table's layout is not ours), it
// replaces the table.
func (p *Proxier) syncFull(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	p.refresh = nil // this rewrites everything
	p.takeDirty()   // everything is rebuilt below
	svcs, err := p.services.List(labels.Everything())
	if err != nil {
		return err
	}
	rs := newRuleset()
	for _, svc := range svcs {
		slices, err := p.slicesOf(svc)
		if err != nil {
			return err
		}
		if r := buildServiceRules(BuildServicePorts(svc, slices, p.cfg.NodeName)); r != nil {
			rs.services[svc.Namespace+"/"+svc.Name] = r
		}
	}
	p.desired = rs
	start := time.Now()
	objs, err := p.nft.Objects(ctx, p.cfg.Table)
	var s string
	if err == nil && compatible(objs) {
		s = fullScript(p.cfg.Table, rs, objs)
		err = p.nft.Apply(ctx, s)
		if err != nil {
			logger.Error(err, "Rewriting the service table in place failed; replacing it")
		}
	} else if err == nil {
		logger.Info("Service table has another layout; replacing it", "table", p.cfg.Table)
		err = errors.New("layout")
	}
	if err != nil {
		s = replaceScript(p.cfg.Table, rs)
		if err := p.nft.Apply(ctx, s); err != nil {
			return err
		}
	}
	p.applied = rs
	p.pending = map[string]bool{}
	if p.afterSync != nil {
		p.afterSync(syncReport{full: true, start: start, duration: time.Since(start)})
	}
	logger.V(2).Info("Synced all service rules", "services", len(rs.services), "elapsed", time.Since(start))
	return nil
}

// Cleanup removes the proxy's table (navarch agent --cleanup).
func Cleanup(ctx context.Context, applier Applier) error {
	return CleanupTable(ctx, applier, TableName)
}

// CleanupTable removes the named proxy table.
func CleanupTable(ctx context.Context, applier Applier, table string) error {
	if err := applier.Apply(ctx, fmt.Sprintf("add table ip %s\ndelete table ip %s\n", table, table)); err != nil {
		return fmt.Errorf("proxy: removing table %s: %w", table, err)
	}
	return nil
}

// enableRouteLocalnet lets NodePorts answer on 127.0.0.1, as kube-proxy
// does: DNAT of loopback traffic to a pod needs route_localnet.
func enableRouteLocalnet(ctx context.Context) {
	const path = "/proc/sys/net/ipv4/conf/all/route_localnet"
	if err := os.WriteFile(path, []byte("1"), 0o644); err != nil {
		klog.FromContext(ctx).V(2).Info("cannot enable route_localnet; NodePorts will not answer on 127.0.0.1", "err", err)
	}
}
