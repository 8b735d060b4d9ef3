package server

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/apiserver"
)

// systemNamespaces exist in every cluster from the start.
var systemNamespaces = []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease}

// firstServiceIP is the first address of the service CIDR: the cluster IP
// of default/kubernetes.
func firstServiceIP(cidr string) string {
	if cidr == "" {
		cidr = apiserver.DefaultServiceCIDR
	}
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return ""
	}
	return p.Masked().Addr().Next().String()
}

// bootstrap creates what every cluster has: the system namespaces, the
// cluster CA published in kube-system/kube-root-ca.crt, and the
// default/kubernetes Service with endpoints at the API server's advertised
// address. It is idempotent, and corrects the endpoints when the address
// changed since the last start.
func bootstrap(ctx context.Context, client kubernetes.Interface, cfg Config, advertise net.IP, caPEM []byte) error {
	for _, name := range systemNamespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("server: creating namespace %s: %w", name, err)
		}
	}
	if err := publishRootCA(ctx, client, caPEM); err != nil {
		return err
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: firstServiceIP(cfg.ServiceCIDR),
			Ports: []corev1.ServicePort{{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443,
				TargetPort: intstr.FromInt32(int32(cfg.Port))}},
			SessionAffinity: corev1.ServiceAffinityNone,
		},
	}
	if _, err := client.CoreV1().Services(metav1.NamespaceDefault).Get(ctx, svc.Name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		if _, err := client.CoreV1().Services(metav1.NamespaceDefault).Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("server: creating the kubernetes service: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("server: reading the kubernetes service: %w", err)
	}
	if err := ensureDNSService(ctx, client, cfg); err != nil {
		return err
	}
	if advertise.IsLoopback() {
		// Endpoints may not point at loopback addresses (pods could not
		// reach them anyway): the kubernetes and kube-dns Services then
		// have none.
		klog.FromContext(ctx).Info("advertise address is a loopback address; default/kubernetes and kube-system/kube-dns get no endpoints", "address", advertise)
		return nil
	}
	dnsEndpoints := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: metav1.NamespaceSystem},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: advertise.String()}},
			Ports: []corev1.EndpointPort{{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
				{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP}},
		}},
	}
	if err := createOrReplaceEndpoints(ctx, client, dnsEndpoints); err != nil {
		return err
	}
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: advertise.String()}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: int32(cfg.Port), Protocol: corev1.ProtocolTCP}},
		}},
	}
	if err := createOrReplaceEndpoints(ctx, client, ep); err != nil {
		return err
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes", discoveryv1.LabelManagedBy: "navarch-apiserver"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{advertise.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(int32(cfg.Port)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	return createOrReplaceSlice(ctx, client, slice)
}

// Where the cluster CA is published: the server writes it in this
// ConfigMap of kube-system, where node agents joining with a token read
// it, and the root-ca-cert-publisher controller (controller/rootcacert)
// copies it to every other namespace, as upstream's.
const (
	rootCAConfigMap = "kube-root-ca.crt"
	rootCAKey       = "ca.crt"
)

// publishRootCA writes the cluster CA into kube-system/kube-root-ca.crt,
// creating the ConfigMap or correcting its ca.crt.
func publishRootCA(ctx context.Context, client kubernetes.Interface, caPEM []byte) error {
	cms := client.CoreV1().ConfigMaps(metav1.NamespaceSystem)
	existing, err := cms.Get(ctx, rootCAConfigMap, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: rootCAConfigMap, Namespace: metav1.NamespaceSystem},
			Data:       map[string]string{rootCAKey: string(caPEM)},
		}
		_, err = cms.Create(ctx, cm, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			err = nil
		}
	case err == nil && existing.Data[rootCAKey] != string(caPEM):
		existing = existing.DeepCopy()
		if existing.Data == nil {
			existing.Data = map[string]string{}
		}
		existing.Data[rootCAKey] = string(caPEM)
		_, err = cms.Update(ctx, existing, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("server: publishing the cluster CA: %w", err)
	}
	return nil
}

// dnsServiceIP is the tenth address of the service CIDR (10.43.0.10), as
// k3s and kubeadm place the cluster DNS.
func dnsServiceIP(cidr string) string {
	if cidr == "" {
		cidr = apiserver.DefaultServiceCIDR
	}
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return ""
	}
	a := p.Masked().Addr()
	for i := 0; i < 10; i++ {
		a = a.Next()
	}
	return a.String()
}

// ensureDNSService creates kube-system/kube-dns, the Service pods reach the
// cluster DNS through. It has no selector: the DNS runs in the server, and
// bootstrap points its Endpoints at the server's address.
func ensureDNSService(ctx context.Context, client kubernetes.Interface, cfg Config) error {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: metav1.NamespaceSystem,
			Labels: map[string]string{"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: dnsServiceIP(cfg.ServiceCIDR),
			Ports: []corev1.ServicePort{
				{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(53)},
				{Name: "dns-tcp", Protocol: corev1.ProtocolTCP, Port: 53, TargetPort: intstr.FromInt32(53)},
			},
		},
	}
	services := client.CoreV1().Services(metav1.NamespaceSystem)
	if _, err := services.Get(ctx, svc.Name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		if _, err := services.Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("server: creating the kube-dns service: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("server: reading the kube-dns service: %w", err)
	}
	return nil
}

func createOrReplaceEndpoints(ctx context.Context, client kubernetes.Interface, ep *corev1.Endpoints) error {
	eps := client.CoreV1().Endpoints(ep.Namespace) //nolint:staticcheck // the kubernetes Service still has Endpoints upstream
	existing, err := eps.Get(ctx, ep.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = eps.Create(ctx, ep, metav1.CreateOptions{})
	case err == nil:
		ep.ResourceVersion = existing.ResourceVersion
		_, err = eps.Update(ctx, ep, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("server: writing the kubernetes endpoints: %w", err)
	}
	return nil
}

func createOrReplaceSlice(ctx context.Context, client kubernetes.Interface, slice *discoveryv1.EndpointSlice) error {
	slices := client.DiscoveryV1().EndpointSlices(slice.Namespace)
	existing, err := slices.Get(ctx, slice.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = slices.Create(ctx, slice, metav1.CreateOptions{})
	case err == nil:
		slice.ResourceVersion = existing.ResourceVersion
		_, err = slices.Update(ctx, slice, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("server: writing the kubernetes endpointslice: %w", err)
	}
	return nil
}
