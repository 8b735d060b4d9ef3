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

// bootstrap creates what every cluster has: the system namespaces, and the
// default/kubernetes Service with endpoints at the API server's advertised
// address. It is idempotent, and corrects the endpoints when the address
// changed since the last start.
func bootstrap(ctx context.Context, client kubernetes.Interface, cfg Config, advertise net.IP) error {
	for _, name := range systemNamespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("server: creating namespace %s: %w", name, err)
		}
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
	if advertise.IsLoopback() {
		// Endpoints may not point at loopback addresses (pods could not
		// reach them anyway): the kubernetes Service then has none.
		klog.FromContext(ctx).Info("advertise address is a loopback address; default/kubernetes gets no endpoints", "address", advertise)
		return nil
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
