package ingress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// ClassName and ControllerName identify this ingress implementation.
const (
	ClassName      = "navarch"
	ControllerName = "navarch.io/ingress"
	// defaultClassAnnotation marks the cluster's default IngressClass.
	defaultClassAnnotation = "ingressclass.kubernetes.io/is-default-class"
)

// Config configures the ingress controller.
type Config struct {
	// HTTPAddr and HTTPSAddr are where it listens (":80", ":443").
	HTTPAddr, HTTPSAddr string
	// StatusAddress is written into Ingress status (the node's address).
	StatusAddress string
}

// Controller serves Ingresses.
type Controller struct {
	cfg       Config
	client    kubernetes.Interface
	ingresses networkinglisters.IngressLister
	classes   networkinglisters.IngressClassLister
	builder   *builder
	proxy     *Proxy
	certs     *certStore
	synced    []cache.InformerSynced
	changed   chan struct{}

	// addrs are the listeners' addresses once serving (tests use ":0").
	httpAddr, httpsAddr string
	ready               chan struct{}
}

// New returns the controller, fed by the factory's Ingress, IngressClass,
// Service, EndpointSlice and Secret informers.
func New(cfg Config, client kubernetes.Interface, factory informers.SharedInformerFactory) (*Controller, error) {
	ing := factory.Networking().V1().Ingresses()
	classes := factory.Networking().V1().IngressClasses()
	svcs := factory.Core().V1().Services()
	slices := factory.Discovery().V1().EndpointSlices()
	secrets := factory.Core().V1().Secrets()
	proxy := NewProxy()
	certs, err := newCertStore(secrets.Lister(), proxy)
	if err != nil {
		return nil, err
	}
	c := &Controller{
		cfg: cfg, client: client,
		ingresses: ing.Lister(), classes: classes.Lister(),
		builder: &builder{services: svcs.Lister(), slices: slices.Lister()},
		proxy:   proxy, certs: certs,
		synced: []cache.InformerSynced{ing.Informer().HasSynced, classes.Informer().HasSynced, svcs.Informer().HasSynced,
			slices.Informer().HasSynced, secrets.Informer().HasSynced},
		changed: make(chan struct{}, 1),
		ready:   make(chan struct{}),
	}
	poke := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(interface{}) { c.poke() },
		UpdateFunc: func(_, _ interface{}) { c.poke() },
		DeleteFunc: func(interface{}) { c.poke() },
	}
	for _, inf := range []cache.SharedIndexInformer{ing.Informer(), classes.Informer(), svcs.Informer(), slices.Informer()} {
		_, _ = inf.AddEventHandler(poke)
	}
	// Secrets are read at handshake time; touching the informer registers it.
	_ = secrets.Informer()
	return c, nil
}

func (c *Controller) poke() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// Handler is the proxy (for tests and for embedding).
func (c *Controller) Handler() http.Handler { return c.proxy }

// Ready is closed once both listeners serve.
func (c *Controller) Ready() <-chan struct{} { return c.ready }

// Addrs returns the HTTP and HTTPS listen addresses once Ready.
func (c *Controller) Addrs() (string, string) { return c.httpAddr, c.httpsAddr }

// Start ensures the IngressClass, serves HTTP and HTTPS, and rebuilds the
// routing table on every change until ctx ends.
func (c *Controller) Start(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("ingress: caches did not sync")
	}
	if err := c.ensureClass(ctx); err != nil {
		logger.Error(err, "ensuring the navarch IngressClass")
	}
	httpLn, err := net.Listen("tcp", c.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("ingress: %w", err)
	}
	httpsLn, err := net.Listen("tcp", c.cfg.HTTPSAddr)
	if err != nil {
		httpLn.Close()
		return fmt.Errorf("ingress: %w", err)
	}
	c.httpAddr, c.httpsAddr = httpLn.Addr().String(), httpsLn.Addr().String()
	// The fast path serves HTTP/1.1 itself and hands everything else to
	// net/http (frontend.go).
	httpSrv := newFrontServer(c.proxy, nil, logger)
	httpsSrv := newFrontServer(c.proxy, &tls.Config{GetCertificate: c.certs.GetCertificate,
		NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12}, logger)
	errc := make(chan error, 2)
	go func() { errc <- httpSrv.Serve(httpLn) }()
	go func() { errc <- httpsSrv.Serve(httpsLn) }()
	c.rebuild(ctx)
	close(c.ready)
	logger.Info("ingress serving", "http", c.httpAddr, "https", c.httpsAddr)
	defer func() {
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = httpSrv.Shutdown(shutdown)
		_ = httpsSrv.Shutdown(shutdown)
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return fmt.Errorf("ingress: %w", err)
		case <-c.changed:
			c.rebuild(ctx)
		}
	}
}

// rebuild recomputes the routing table and the Ingress statuses.
func (c *Controller) rebuild(ctx context.Context) {
	all, err := c.ingresses.List(labels.Everything())
	if err != nil {
		return
	}
	var ours []*networkingv1.Ingress
	for _, ing := range all {
		if c.isOurs(ing) {
			ours = append(ours, ing)
		}
	}
	c.proxy.SetTable(c.builder.build(ours))
	for _, ing := range ours {
		if err := c.updateStatus(ctx, ing); err != nil {
			klog.FromContext(ctx).V(2).Info("updating ingress status", "ingress", klog.KObj(ing), "err", err)
		}
	}
}

// isOurs: the Ingress names our class, or names none while ours is the
// default class.
func (c *Controller) isOurs(ing *networkingv1.Ingress) bool {
	if ing.Spec.IngressClassName != nil {
		return *ing.Spec.IngressClassName == ClassName
	}
	if cls, err := c.classes.Get(ClassName); err == nil {
		return cls.Annotations[defaultClassAnnotation] == "true"
	}
	return true
}

func (c *Controller) updateStatus(ctx context.Context, ing *networkingv1.Ingress) error {
	if c.cfg.StatusAddress == "" {
		return nil
	}
	want := []networkingv1.IngressLoadBalancerIngress{{IP: c.cfg.StatusAddress}}
	if apiequality.Semantic.DeepEqual(ing.Status.LoadBalancer.Ingress, want) {
		return nil
	}
	updated := ing.DeepCopy()
	updated.Status.LoadBalancer.Ingress = want
	_, err := c.client.NetworkingV1().Ingresses(ing.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	return err
}

// ensureClass creates the navarch IngressClass, marked default, if it
// does not exist.
func (c *Controller) ensureClass(ctx context.Context) error {
	cls := &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: ClassName, Annotations: map[string]string{defaultClassAnnotation: "true"}},
		Spec:       networkingv1.IngressClassSpec{Controller: ControllerName},
	}
	_, err := c.client.NetworkingV1().IngressClasses().Create(ctx, cls, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}
