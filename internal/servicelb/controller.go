package servicelb

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Config configures the load balancer.
type Config struct {
	// Pool is a range of addresses to hand out, one per Service
	// ("192.0.2.100-192.0.2.150"); empty uses the nodes' addresses.
	Pool string
}

// Controller assigns load-balancer ingress addresses.
type Controller struct {
	client   kubernetes.Interface
	services corelisters.ServiceLister
	nodes    corelisters.NodeLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	pool     []netip.Addr
}

// New returns the controller; it uses the Service and Node informers.
func New(cfg Config, client kubernetes.Interface, factory informers.SharedInformerFactory) (*Controller, error) {
	pool, err := parsePool(cfg.Pool)
	if err != nil {
		return nil, err
	}
	svc := factory.Core().V1().Services()
	nodes := factory.Core().V1().Nodes()
	c := &Controller{
		client:   client,
		services: svc.Lister(),
		nodes:    nodes.Lister(),
		synced:   []cache.InformerSynced{svc.Informer().HasSynced, nodes.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "servicelb"}),
		pool: pool,
	}
	enqueue := func(obj interface{}) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	_, _ = svc.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, o interface{}) { enqueue(o) },
	})
	// Node addresses feed every LoadBalancer Service.
	requeueAll := func(interface{}) {
		all, _ := c.services.List(labels.Everything())
		for _, s := range all {
			if s.Spec.Type == corev1.ServiceTypeLoadBalancer {
				enqueue(s)
			}
		}
	}
	_, _ = nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: requeueAll, UpdateFunc: func(_, o interface{}) { requeueAll(o) }, DeleteFunc: requeueAll,
	})
	return c, nil
}

func parsePool(s string) ([]netip.Addr, error) {
	if s == "" {
		return nil, nil
	}
	first, last, found := strings.Cut(s, "-")
	if !found {
		last = first
	}
	a, err1 := netip.ParseAddr(first)
	b, err2 := netip.ParseAddr(last)
	if err1 != nil || err2 != nil || !a.Is4() || !b.Is4() || b.Less(a) {
		return nil, fmt.Errorf("servicelb: invalid pool %q (want FIRST-LAST IPv4 addresses)", s)
	}
	var out []netip.Addr
	for x := a; ; x = x.Next() {
		out = append(out, x)
		if x == b || len(out) > 65536 {
			break
		}
	}
	return out, nil
}

// Start runs the controller until ctx ends.
func (c *Controller) Start(ctx context.Context) error {
	defer utilruntime.HandleCrash()
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("servicelb: caches did not sync")
	}
	go wait.UntilWithContext(ctx, func(ctx context.Context) {
		for c.processNext(ctx) {
		}
	}, time.Second)
	<-ctx.Done()
	return nil
}

func (c *Controller) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	if err := c.sync(ctx, key); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "syncing load balancer", "service", key)
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

// sync gives one Service the ingress it should have.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var want []corev1.LoadBalancerIngress
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer && (svc.Spec.LoadBalancerClass == nil || *svc.Spec.LoadBalancerClass == "") {
		want, err = c.ingressFor(svc)
		if err != nil {
			return err
		}
	} else if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		return nil // another implementation's class
	}
	if apiequality.Semantic.DeepEqual(svc.Status.LoadBalancer.Ingress, want) {
		return nil
	}
	updated := svc.DeepCopy()
	updated.Status.LoadBalancer.Ingress = want
	_, err = c.client.CoreV1().Services(ns).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	return err
}

// ingressFor picks the addresses of a Service: its pool address (kept
// once given), or every Ready node's InternalIP.
func (c *Controller) ingressFor(svc *corev1.Service) ([]corev1.LoadBalancerIngress, error) {
	ipMode := corev1.LoadBalancerIPModeVIP
	if len(c.pool) > 0 {
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			if a, err := netip.ParseAddr(ing.IP); err == nil && c.inPool(a) {
				return []corev1.LoadBalancerIngress{{IP: a.String(), IPMode: &ipMode}}, nil
			}
		}
		used := map[netip.Addr]bool{}
		all, err := c.services.List(labels.Everything())
		if err != nil {
			return nil, err
		}
		for _, s := range all {
			for _, ing := range s.Status.LoadBalancer.Ingress {
				if a, err := netip.ParseAddr(ing.IP); err == nil {
					used[a] = true
				}
			}
		}
		for _, a := range c.pool {
			if !used[a] {
				return []corev1.LoadBalancerIngress{{IP: a.String(), IPMode: &ipMode}}, nil
			}
		}
		return nil, fmt.Errorf("servicelb: address pool exhausted")
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var ips []string
	for _, n := range nodes {
		if !nodeReady(n) {
			continue
		}
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				ips = append(ips, a.Address)
			}
		}
	}
	sort.Strings(ips)
	var out []corev1.LoadBalancerIngress
	for _, ip := range ips {
		out = append(out, corev1.LoadBalancerIngress{IP: ip, IPMode: &ipMode})
	}
	return out, nil
}

func (c *Controller) inPool(a netip.Addr) bool {
	return len(c.pool) > 0 && !a.Less(c.pool[0]) && !c.pool[len(c.pool)-1].Less(a)
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
