package volume

import (
	"fmt"
	"math"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// downwardAPIPayload builds the files of downward API items.
// allocatable stands in for limits a container does not set.
func downwardAPIPayload(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, defaultMode *int32, allocatable corev1.ResourceList, payload map[string]FileProjection) error {
	for _, item := range items {
		var value string
		var err error
		switch {
		case item.FieldRef != nil:
			value, err = podField(pod, item.FieldRef.FieldPath)
		case item.ResourceFieldRef != nil:
			value, err = containerResource(pod, item.ResourceFieldRef, allocatable)
		default:
			continue
		}
		if err != nil {
			return err
		}
		payload[item.Path] = FileProjection{Data: []byte(value), Mode: fileMode(item.Mode, defaultMode)}
	}
	return nil
}

// podField is the value of a downward API volume field path, formatted as
// upstream formats it: whole label and annotation maps are sorted
// key="value" lines.
func podField(pod *corev1.Pod, path string) (string, error) {
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
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	}
	return "", fmt.Errorf("unsupported fieldPath: %s", path)
}

// subscript parses "prefix['key']" and returns key.
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok || !strings.HasSuffix(rest, "']") {
		return "", false
	}
	return strings.TrimSuffix(rest, "']"), true
}

// formatMap writes key="value" lines sorted by key, without a trailing
// newline (upstream's fieldpath.FormatMap).
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	lines := make([]string, 0, len(keys))
	for _, k := range keys {
		lines = append(lines, fmt.Sprintf("%s=%q", k, m[k]))
	}
	return strings.Join(lines, "\n")
}

// containerResource is a resourceFieldRef's value: the named container's
// limit (the node's allocatable when unset) or request, divided by the
// divisor and rounded up. (The same rule as the agent's env vars.)
func containerResource(pod *corev1.Pod, ref *corev1.ResourceFieldSelector, allocatable corev1.ResourceList) (string, error) {
	var target *corev1.Container
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == ref.ContainerName {
				target = &list[i]
			}
		}
	}
	if target == nil {
		return "", fmt.Errorf("container %q not found in pod %s/%s", ref.ContainerName, pod.Namespace, pod.Name)
	}
	return ResourceFieldValue(target, ref, allocatable)
}

// ResourceFieldValue is the value of a resourceFieldRef on container
// target: its limit (the node's allocatable when unset) or request,
// divided by the divisor and rounded up, as the kubelet computes it for
// both env vars and downward API files.
func ResourceFieldValue(target *corev1.Container, ref *corev1.ResourceFieldSelector, allocatable corev1.ResourceList) (string, error) {
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("unsupported container resource : %v", ref.Resource)
	}
	res := corev1.ResourceName(name)
	var q resource.Quantity
	if kind == "limits" {
		v, set := target.Resources.Limits[res]
		if !set {
			v = allocatable[res]
		}
		q = v
	} else {
		q = target.Resources.Requests[res]
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	if res == corev1.ResourceCPU {
		return fmt.Sprint(int64(math.Ceil(float64(q.MilliValue()) / float64(divisor.MilliValue())))), nil
	}
	return fmt.Sprint(int64(math.Ceil(float64(q.Value()) / float64(divisor.Value())))), nil
}

// fileMode is an item's mode, else the volume's default, else 0644.
func fileMode(item, def *int32) int32 {
	if item != nil {
		return *item
	}
	if def != nil {
		return *def
	}
	return 0o644
}
