package agent

import (
	"encoding/json"
	"net/http"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
)

// podListHandler serves the kubelet's /pods on the node API: the pods
// bound to this node as the agent knows them (its informer's cache), as
// a v1 PodList in JSON. Log shippers and monitoring agents read it to
// learn a node's pods without asking the API server.
func podListHandler(pods cache.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		list := corev1.PodList{}
		list.Kind, list.APIVersion = "PodList", "v1"
		for _, obj := range pods.List() {
			if pod, ok := obj.(*corev1.Pod); ok {
				list.Items = append(list.Items, *pod)
			}
		}
		sort.Slice(list.Items, func(i, j int) bool {
			a, b := &list.Items[i], &list.Items[j]
			if a.Namespace != b.Namespace {
				return a.Namespace < b.Namespace
			}
			return a.Name < b.Name
		})
		if list.Items == nil {
			list.Items = []corev1.Pod{}
		}
		data, err := json.Marshal(&list)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(data)
	})
}
