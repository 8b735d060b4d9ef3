package agent

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// services lists the Services a pod's environment describes: those of the
// pod's namespace (when enableServiceLinks is on, the default) and always
// default/kubernetes, as the kubelet does.
func (a apiObjects) services(ctx context.Context, pod *corev1.Pod) ([]corev1.Service, error) {
	var out []corev1.Service
	if pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks {
		list, err := a.client.CoreV1().Services(pod.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		out = append(out, list.Items...)
	}
	if pod.Namespace != metav1.NamespaceDefault || (pod.Spec.EnableServiceLinks != nil && !*pod.Spec.EnableServiceLinks) {
		k, err := a.client.CoreV1().Services(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})
		if err == nil {
			out = append(out, *k)
		}
	}
	return out, nil
}

// serviceEnv returns the variables that describe Services to a container,
// in the kubelet's format: {SVC}_SERVICE_HOST, {SVC}_SERVICE_PORT,
// {SVC}_SERVICE_PORT_{NAME}, and the Docker-link style {SVC}_PORT* ones.
// Services without a cluster IP (headless, ExternalName) are left out;
// when two Services give the same name, the first (by namespace order)
// wins, so the pod's own namespace comes before default/kubernetes.
func serviceEnv(services []corev1.Service) []envVar {
	var out []envVar
	seen := map[string]bool{}
	sorted := append([]corev1.Service(nil), services...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for _, svc := range sorted {
		ip := svc.Spec.ClusterIP
		if ip == "" || ip == corev1.ClusterIPNone || len(svc.Spec.Ports) == 0 {
			continue
		}
		prefix := strings.ToUpper(strings.ReplaceAll(svc.Name, "-", "_"))
		if seen[prefix] {
			continue
		}
		seen[prefix] = true
		add := func(name, value string) { out = append(out, envVar{name: name, value: value}) }
		first := svc.Spec.Ports[0]
		add(prefix+"_SERVICE_HOST", ip)
		add(prefix+"_SERVICE_PORT", strconv.Itoa(int(first.Port)))
		for _, p := range svc.Spec.Ports {
			if p.Name != "" {
				add(prefix+"_SERVICE_PORT_"+strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_")), strconv.Itoa(int(p.Port)))
			}
		}
		proto := func(p corev1.ServicePort) string {
			if p.Protocol == "" {
				return "tcp"
			}
			return strings.ToLower(string(p.Protocol))
		}
		add(prefix+"_PORT", fmt.Sprintf("%s://%s:%d", proto(first), ip, first.Port))
		for _, p := range svc.Spec.Ports {
			base := fmt.Sprintf("%s_PORT_%d_%s", prefix, p.Port, strings.ToUpper(proto(p)))
			add(base, fmt.Sprintf("%s://%s:%d", proto(p), ip, p.Port))
			add(base+"_PROTO", proto(p))
			add(base+"_PORT", strconv.Itoa(int(p.Port)))
			add(base+"_ADDR", ip)
		}
	}
	return out
}
