package server

import (
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/navarch/navarch/internal/controller/deployment"
	"github.com/navarch/navarch/internal/controller/namespace"
	"github.com/navarch/navarch/internal/controller/replicaset"
	"github.com/navarch/navarch/internal/controllermanager"
	"github.com/navarch/navarch/internal/servicelb"
)

// controllers is the one list of what the controller manager runs while
// this server holds the lease.
func controllers(dyn dynamic.Interface) []controllermanager.Named {
	return []controllermanager.Named{
		{Name: "namespace", New: func(client kubernetes.Interface, f informers.SharedInformerFactory) (controllermanager.Controller, error) {
			return namespace.New(client, dyn, f.Core().V1().Namespaces()), nil
		}},
		{Name: "replicaset", New: func(client kubernetes.Interface, f informers.SharedInformerFactory) (controllermanager.Controller, error) {
			return replicaset.New(client, f.Apps().V1().ReplicaSets(), f.Core().V1().Pods()), nil
		}},
		{Name: "deployment", New: func(client kubernetes.Interface, f informers.SharedInformerFactory) (controllermanager.Controller, error) {
			return deployment.New(client, f.Apps().V1().Deployments(), f.Apps().V1().ReplicaSets(), f.Core().V1().Pods()), nil
		}},
		{Name: "servicelb", New: func(client kubernetes.Interface, f informers.SharedInformerFactory) (controllermanager.Controller, error) {
			return servicelb.New(servicelb.Config{}, client, f)
		}},
	}
}
