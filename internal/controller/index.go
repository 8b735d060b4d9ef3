package controller

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// PodControllerUIDIndex is the name of the pod index AddPodControllerUIDIndexer
// adds: pods by the UID of their controller, orphans by namespace.
const PodControllerUIDIndex = "podControllerUID"

// orphanKey is the index value of a pod without controller in namespace.
// A UID never contains "/", so the two kinds of values cannot collide.
func orphanKey(namespace string) string { return "orphan/" + namespace }

// AddPodControllerUIDIndexer adds PodControllerUIDIndex to a pod informer
// unless it is there already, so every controller sharing the informer
// may call it. Call it before the informer starts.
func AddPodControllerUIDIndexer(informer cache.SharedIndexInformer) error {
	if _, exists := informer.GetIndexer().GetIndexers()[PodControllerUIDIndex]; exists {
		return nil
	}
	err := informer.AddIndexers(cache.Indexers{PodControllerUIDIndex: func(obj interface{}) ([]string, error) {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return nil, nil
		}
		if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
			return []string{string(ref.UID)}, nil
		}
		return []string{orphanKey(pod.Namespace)}, nil
	}})
	if err != nil {
		return fmt.Errorf("controller: adding pod index: %w", err)
	}
	return nil
}

// PodsOwnedOrOrphaned returns the pods in namespace whose controller has
// ownerUID, followed by the pods there without a controller: the
// candidates a controller claims from. Without PodControllerUIDIndex on
// the indexer (it could not be added) it scans the namespace instead.
func PodsOwnedOrOrphaned(indexer cache.Indexer, namespace string, ownerUID types.UID) ([]*corev1.Pod, error) {
	var pods []*corev1.Pod
	if _, indexed := indexer.GetIndexers()[PodControllerUIDIndex]; !indexed {
		err := cache.ListAllByNamespace(indexer, namespace, labels.Everything(), func(obj interface{}) {
			pod, ok := obj.(*corev1.Pod)
			if !ok {
				return
			}
			if ref := metav1.GetControllerOfNoCopy(pod); ref == nil || ref.UID == ownerUID {
				pods = append(pods, pod)
			}
		})
		if err != nil {
			return nil, fmt.Errorf("controller: listing pods: %w", err)
		}
		return pods, nil
	}
	for _, value := range []string{string(ownerUID), orphanKey(namespace)} {
		objs, err := indexer.ByIndex(PodControllerUIDIndex, value)
		if err != nil {
			return nil, fmt.Errorf("controller: pods by controller: %w", err)
		}
		for _, obj := range objs {
			if pod, ok := obj.(*corev1.Pod); ok && pod.Namespace == namespace {
				pods = append(pods, pod)
			}
		}
	}
	return pods, nil
}
