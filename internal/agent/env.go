package agent

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/navarch/navarch/internal/agent/volume"
)

// expand replaces each $(NAME) in s with lookup(NAME), as Kubernetes
// expands env values, command and args: "$$" is a literal "$", a name
// lookup does not know is left as written ("$(NAME)"), and a "$" not
// followed by "(" or "$" is kept.
func expand(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				// Unterminated reference: kept as written.
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok && name != "" {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// envVar is one resolved environment variable.
type envVar struct{ name, value string }

// envList is an ordered set of variables: setting a name again replaces
// its value in place.
type envList struct {
	vars  []envVar
	index map[string]int
}

func (l *envList) set(name, value string) {
	if l.index == nil {
		l.index = map[string]int{}
	}
	if i, ok := l.index[name]; ok {
		l.vars[i].value = value
		return
	}
	l.index[name] = len(l.vars)
	l.vars = append(l.vars, envVar{name, value})
}

func (l *envList) lookup(name string) (string, bool) {
	i, ok := l.index[name]
	if !ok {
		return "", false
	}
	return l.vars[i].value, true
}

// objectSource reads the ConfigMaps, Secrets and Services env refers to.
type objectSource interface {
	configMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	services(ctx context.Context, pod *corev1.Pod) ([]corev1.Service, error)
}

// apiObjects reads them from the API server.
type apiObjects struct{ client kubernetes.Interface }

func (a apiObjects) configMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	return a.client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (a apiObjects) secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return a.client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
}

// envContext is what env values may refer to besides the pod itself.
type envContext struct {
	podIP, hostIP string
	// allocatable is the node's allocatable resources: the value of a
	// resourceFieldRef limit the container does not set.
	allocatable corev1.ResourceList
	objects     objectSource
}

// errConfig marks a container whose configuration cannot be built from
// the pod (a missing ConfigMap, Secret or key): its waiting reason is
// CreateContainerConfigError and it is retried at later syncs.
type errConfig struct{ msg string }

func (e errConfig) Error() string { return e.msg }

// makeEnv resolves a container's environment as the kubelet does: the
// Service variables ({SVC}_SERVICE_HOST...) of the Services that exist
// now, then envFrom sources, then env entries in order, each value
// expanded against the variables defined before it.
func makeEnv(ctx context.Context, pod *corev1.Pod, c *corev1.Container, ec envContext) ([]envVar, error) {
	var env envList
	services, err := ec.objects.services(ctx, pod)
	if err != nil {
		return nil, fmt.Errorf("agent: listing services for the environment: %w", err)
	}
	for _, v := range serviceEnv(services) {
		env.set(v.name, v.value)
	}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, err := ec.objects.configMap(ctx, pod.Namespace, from.ConfigMapRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && ptrTrue(from.ConfigMapRef.Optional) {
					continue
				}
				return nil, objectError(err, "configmap", from.ConfigMapRef.Name)
			}
			for _, k := range sortedKeys(cm.Data) {
				env.set(from.Prefix+k, cm.Data[k])
			}
		case from.SecretRef != nil:
			s, err := ec.objects.secret(ctx, pod.Namespace, from.SecretRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && ptrTrue(from.SecretRef.Optional) {
					continue
				}
				return nil, objectError(err, "secret", from.SecretRef.Name)
			}
			for _, k := range sortedKeys(s.Data) {
				env.set(from.Prefix+k, string(s.Data[k]))
			}
		}
	}
	for _, v := range c.Env {
		if v.ValueFrom == nil {
			env.set(v.Name, expand(v.Value, env.lookup))
			continue
		}
		value, ok, err := envValueFrom(ctx, pod, c, v.ValueFrom, ec)
		if err != nil {
			return nil, err
		}
		if ok {
			env.set(v.Name, value)
		}
	}
	return env.vars, nil
}

// envValueFrom resolves a valueFrom; ok is false for an optional
// reference that does not resolve (the variable is then not set).
func envValueFrom(ctx context.Context, pod *corev1.Pod, c *corev1.Container, from *corev1.EnvVarSource, ec envContext) (string, bool, error) {
	switch {
	case from.FieldRef != nil:
		v, err := podFieldValue(pod, from.FieldRef.FieldPath, ec)
		return v, err == nil, err
	case from.ResourceFieldRef != nil:
		v, err := resourceFieldValue(pod, c, from.ResourceFieldRef, ec.allocatable)
		return v, err == nil, err
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		cm, err := ec.objects.configMap(ctx, pod.Namespace, ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && ptrTrue(ref.Optional) {
				return "", false, nil
			}
			return "", false, objectError(err, "configmap", ref.Name)
		}
		if v, ok := cm.Data[ref.Key]; ok {
			return v, true, nil
		}
		if v, ok := cm.BinaryData[ref.Key]; ok {
			return string(v), true, nil
		}
		if ptrTrue(ref.Optional) {
			return "", false, nil
		}
		return "", false, errConfig{fmt.Sprintf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)}
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		s, err := ec.objects.secret(ctx, pod.Namespace, ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && ptrTrue(ref.Optional) {
				return "", false, nil
			}
			return "", false, objectError(err, "secret", ref.Name)
		}
		if v, ok := s.Data[ref.Key]; ok {
			return string(v), true, nil
		}
		if ptrTrue(ref.Optional) {
			return "", false, nil
		}
		return "", false, errConfig{fmt.Sprintf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)}
	}
	return "", false, nil
}

// objectError turns a failed ConfigMap/Secret read into the kubelet's
// message ("configmap \"x\" not found").
func objectError(err error, kind, name string) error {
	if apierrors.IsNotFound(err) {
		return errConfig{fmt.Sprintf("%s %q not found", kind, name)}
	}
	return fmt.Errorf("agent: reading %s %s: %w", kind, name, err)
}

func ptrTrue(b *bool) bool { return b != nil && *b }

// podFieldValue resolves a downward API field path of an env var.
func podFieldValue(pod *corev1.Pod, path string, ec envContext) (string, error) {
	if key, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[key], nil
	}
	if key, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[key], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.hostIPs":
		return ec.hostIP, nil
	case "status.podIP", "status.podIPs":
		return ec.podIP, nil
	}
	return "", errConfig{fmt.Sprintf("unsupported fieldRef %q", path)}
}

// subscript parses "prefix['key']" and returns key.
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok || !strings.HasSuffix(rest, "']") {
		return "", false
	}
	return strings.TrimSuffix(rest, "']"), true
}

// resourceFieldValue resolves a resourceFieldRef: a container's limit
// (the node's allocatable when unset) or request, divided by the divisor
// and rounded up, as the kubelet does.
func resourceFieldValue(pod *corev1.Pod, c *corev1.Container, ref *corev1.ResourceFieldSelector, allocatable corev1.ResourceList) (string, error) {
	target := c
	if ref.ContainerName != "" && ref.ContainerName != c.Name {
		target = nil
		for i := range pod.Spec.Containers {
			if pod.Spec.Containers[i].Name == ref.ContainerName {
				target = &pod.Spec.Containers[i]
			}
		}
		if target == nil {
			return "", errConfig{fmt.Sprintf("container %q not found for resourceFieldRef", ref.ContainerName)}
		}
	}
	v, err := volume.ResourceFieldValue(target, ref, allocatable)
	if err != nil {
		return "", errConfig{err.Error()}
	}
	return v, nil
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
