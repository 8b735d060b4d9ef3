package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// minSyncInterval coalesces bursts of changes into one nft transaction;
// a change reaches the kernel at most this long after it arrives (plus the
// transaction itself, ~10 ms).
const minSyncInterval = 50 * time.Millisecond

// Applier loads an nft script as one transaction.
type Applier interface {
	Apply(ctx context.Context, script string) error
}

// NftCommand applies scripts with the nft command.
type NftCommand struct{ Path string }

// Apply implements Applier.
func (n NftCommand) Apply(ctx context.Context, script string) error {
	path := n.Path
	if path == "" {
		path = "nft"
	}
	cmd := exec.CommandContext(ctx, path, "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("proxy: nft -f: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// Proxier keeps the proxy's nftables table equal to what the Services and
// EndpointSlices ask for.
type Proxier struct {
	services corelisters.ServiceLister
	slices   discoverylisters.EndpointSliceLister
	synced   []cache.InformerSynced
	applier  Applier
	// Table is the nftables table (family ip) the proxier owns; set it
	// before Start. Default TableName.
	Table   string
	changed chan struct{}
	last    string
	// applied counts successful transactions (for tests and metrics).
	applied int
}

// New returns a proxier fed by the factory's Service and EndpointSlice
// informers (the caller starts the factory).
func New(factory informers.SharedInformerFactory, applier Applier) *Proxier {
	svc := factory.Core().V1().Services()
	slices := factory.Discovery().V1().EndpointSlices()
	p := &Proxier{
		services: svc.Lister(),
		slices:   slices.Lister(),
		synced:   []cache.InformerSynced{svc.Informer().HasSynced, slices.Informer().HasSynced},
		applier:  applier,
		Table:    TableName,
		changed:  make(chan struct{}, 1),
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(interface{}) { p.poke() },
		UpdateFunc: func(_, _ interface{}) { p.poke() },
		DeleteFunc: func(interface{}) { p.poke() },
	}
	_, _ = svc.Informer().AddEventHandler(handler)
	_, _ = slices.Informer().AddEventHandler(handler)
	return p
}

func (p *Proxier) poke() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// Start syncs the rules whenever something changed, and at least every
// minute (repairing rules someone else removed), until ctx ends. Rules
// stay in place when it returns, so traffic keeps flowing while the agent
// restarts; Cleanup removes them.
func (p *Proxier) Start(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), p.synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("proxy: caches did not sync")
	}
	enableRouteLocalnet(ctx)
	resync := time.NewTicker(time.Minute)
	defer resync.Stop()
	p.poke()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.changed:
		case <-resync.C:
			p.last = "" // rewrite even when nothing changed here
		}
		if err := p.sync(ctx); err != nil {
			klog.FromContext(ctx).Error(err, "syncing service rules")
			p.poke() // try again after the interval
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(minSyncInterval):
		}
	}
}

// sync renders the current state and applies it if it changed.
func (p *Proxier) sync(ctx context.Context) error {
	script, err := p.desired()
	if err != nil {
		return err
	}
	if script == p.last {
		return nil
	}
	if err := p.applier.Apply(ctx, script); err != nil {
		return err
	}
	p.last = script
	p.applied++
	return nil
}

// desired renders the rules for every Service.
func (p *Proxier) desired() (string, error) {
	svcs, err := p.services.List(labels.Everything())
	if err != nil {
		return "", err
	}
	var ports []ServicePort
	for _, svc := range svcs {
		slices, err := p.slices.EndpointSlices(svc.Namespace).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: svc.Name}))
		if err != nil {
			return "", err
		}
		ports = append(ports, BuildServicePorts(svc, slices)...)
	}
	return RenderTable(p.Table, ports), nil
}

// Cleanup removes the proxy's table (navarch agent --cleanup).
func Cleanup(ctx context.Context, applier Applier) error {
	return CleanupTable(ctx, applier, TableName)
}

// CleanupTable removes the named proxy table.
func CleanupTable(ctx context.Context, applier Applier, table string) error {
	return applier.Apply(ctx, fmt.Sprintf("add table ip %s\ndelete table ip %s\n", table, table))
}

// enableRouteLocalnet lets NodePorts answer on 127.0.0.1, as kube-proxy
// does: DNAT of loopback traffic to a pod needs route_localnet.
func enableRouteLocalnet(ctx context.Context) {
	const path = "/proc/sys/net/ipv4/conf/all/route_localnet"
	if err := os.WriteFile(path, []byte("1"), 0o644); err != nil {
		klog.FromContext(ctx).V(2).Info("cannot enable route_localnet; NodePorts will not answer on 127.0.0.1", "err", err)
	}
}
