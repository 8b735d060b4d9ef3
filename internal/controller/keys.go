package controller

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
)

// KeyFunc returns the "namespace/name" workqueue key of an object, also
// for the tombstones (cache.DeletedFinalStateUnknown) a delete handler may
// receive.
func KeyFunc(obj interface{}) (string, error) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return "", fmt.Errorf("controller: key of %T: %w", obj, err)
	}
	return key, nil
}

// SplitKey splits a "namespace/name" key (or a bare cluster-scoped name).
func SplitKey(key string) (namespace, name string, err error) {
	namespace, name, err = cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return "", "", fmt.Errorf("controller: %w", err)
	}
	return namespace, name, nil
}

// PodKey returns the "namespace/name" key of a pod; expectations track
// deletions by it.
func PodKey(pod *corev1.Pod) string {
	return pod.Namespace + "/" + pod.Name
}

// PodKeys returns the keys of pods, in order.
func PodKeys(pods []*corev1.Pod) []string {
	keys := make([]string, 0, len(pods))
	for _, pod := range pods {
		keys = append(keys, PodKey(pod))
	}
	return keys
}
