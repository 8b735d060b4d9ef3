package apiserver

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/navarch/navarch/internal/apiserver/metrics"
	"github.com/navarch/navarch/internal/storage"
)

// metricsObjects reads the nodes and pods of the metrics.k8s.io group
// straight from storage (metrics.Objects).
type metricsObjects struct {
	store storage.Interface
	nodes *resource
	pods  *resource
}

var _ metrics.Objects = metricsObjects{}

// newMetrics builds the metrics.k8s.io handler over stats; the server
// must serve nodes and pods.
func (s *Server) newMetrics(stats metrics.NodeStats) (*metrics.Server, error) {
	objects := metricsObjects{
		store: s.store,
		nodes: s.resources[schema.GroupVersionResource{Version: "v1", Resource: "nodes"}],
		pods:  s.resources[schema.GroupVersionResource{Version: "v1", Resource: "pods"}],
	}
	if objects.nodes == nil || objects.pods == nil {
		return nil, errors.New("apiserver: metrics.k8s.io needs nodes and pods to be served")
	}
	return metrics.New(metrics.Config{Stats: stats, Objects: objects})
}

func (o metricsObjects) ListNodes(ctx context.Context, selector labels.Selector) ([]*corev1.Node, error) {
	list := &corev1.NodeList{}
	if err := o.list(ctx, o.nodes, "", selector, list); err != nil {
		return nil, err
	}
	out := make([]*corev1.Node, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

func (o metricsObjects) GetNode(ctx context.Context, name string) (*corev1.Node, error) {
	node := &corev1.Node{}
	if err := o.store.Get(ctx, o.nodes.key("", name), storage.GetOptions{}, node); err != nil {
		return nil, storageError(err, o.nodes.gr, name)
	}
	return node, nil
}

func (o metricsObjects) ListPods(ctx context.Context, namespace string, selector labels.Selector) ([]*corev1.Pod, error) {
	list := &corev1.PodList{}
	if err := o.list(ctx, o.pods, namespace, selector, list); err != nil {
		return nil, err
	}
	out := make([]*corev1.Pod, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

func (o metricsObjects) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	pod := &corev1.Pod{}
	if err := o.store.Get(ctx, o.pods.key(namespace, name), storage.GetOptions{}, pod); err != nil {
		return nil, storageError(err, o.pods.gr, name)
	}
	return pod, nil
}

// list reads the objects of res in namespace whose labels match selector
// into list (a *NodeList or *PodList: nodes and pods are stored as
// served).
func (o metricsObjects) list(ctx context.Context, res *resource, namespace string, selector labels.Selector, list runtime.Object) error {
	opts := storage.ListOptions{Predicate: storage.Predicate{Label: selector, GetAttrs: res.attrs}}
	if err := o.store.List(ctx, res.listPrefix(namespace), opts, list); err != nil {
		return storageError(err, res.gr, "")
	}
	return nil
}
