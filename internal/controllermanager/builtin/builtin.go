// Package builtin is the one list of the controllers `navarch server`
// runs. It is its own package so that the server and the test framework
// import no controller: a controller's own integration tests start the
// API server alone and run just that controller.
package builtin

import (
	"context"

	"github.com/navarch/navarch/internal/controller/cronjob"
	"github.com/navarch/navarch/internal/controller/daemonset"
	"github.com/navarch/navarch/internal/controller/deployment"
	"github.com/navarch/navarch/internal/controller/endpoints"
	"github.com/navarch/navarch/internal/controller/endpointslice"
	"github.com/navarch/navarch/internal/controller/garbagecollector"
	"github.com/navarch/navarch/internal/controller/job"
	"github.com/navarch/navarch/internal/controller/namespace"
	"github.com/navarch/navarch/internal/controller/nodelifecycle"
	"github.com/navarch/navarch/internal/controller/replicaset"
	"github.com/navarch/navarch/internal/controller/rootcacert"
	"github.com/navarch/navarch/internal/controller/serviceaccount"
	"github.com/navarch/navarch/internal/controller/statefulset"
	"github.com/navarch/navarch/internal/controller/storageprotection"
	"github.com/navarch/navarch/internal/controller/volume"
	cm "github.com/navarch/navarch/internal/controllermanager"
	"github.com/navarch/navarch/internal/scheduler"
	"github.com/navarch/navarch/internal/servicelb"
)

// Config is what the controllers need beyond API clients.
type Config struct {
	// StorageDir is where local-path volumes live on the nodes.
	StorageDir string
	// LoadBalancerPool is servicelb's address pool ("" for node addresses).
	LoadBalancerPool string
}

// Controllers returns the controllers of a server, in start order.
func Controllers(cfg Config) []cm.Named {
	return []cm.Named{
		{Name: "namespace", New: func(c cm.Clients) (cm.Controller, error) {
			return namespace.New(c.Kube, c.Dynamic, c.Informers.Core().V1().Namespaces()), nil
		}},
		{Name: "serviceaccount", New: func(c cm.Clients) (cm.Controller, error) {
			f := c.Informers.Core().V1()
			return serviceaccount.New(c.Kube, f.Namespaces(), f.ServiceAccounts()), nil
		}},
		{Name: "root-ca-cert-publisher", New: func(c cm.Clients) (cm.Controller, error) {
			f := c.Informers.Core().V1()
			return rootcacert.New(c.Kube, f.Namespaces(), f.ConfigMaps()), nil
		}},
		{Name: "garbagecollector", New: func(c cm.Clients) (cm.Controller, error) {
			return garbagecollector.New(c.Kube, c.Metadata, garbagecollector.DefaultConfig()), nil
		}},
		{Name: "replicaset", New: func(c cm.Clients) (cm.Controller, error) {
			rs := replicaset.New(c.Kube, c.Informers.Apps().V1().ReplicaSets(), c.Informers.Core().V1().Pods())
			if c.CreatePod != nil {
				rs.CreatePodsWith(c.CreatePod)
			}
			return rs, nil
		}},
		{Name: "deployment", New: func(c cm.Clients) (cm.Controller, error) {
			a := c.Informers.Apps().V1()
			return deployment.New(c.Kube, a.Deployments(), a.ReplicaSets(), c.Informers.Core().V1().Pods()), nil
		}},
		{Name: "statefulset", New: func(c cm.Clients) (cm.Controller, error) {
			a, core := c.Informers.Apps().V1(), c.Informers.Core().V1()
			return statefulset.New(c.Kube, core.Pods(), a.StatefulSets(), core.PersistentVolumeClaims(), a.ControllerRevisions()), nil
		}},
		{Name: "daemonset", New: func(c cm.Clients) (cm.Controller, error) {
			a, core := c.Informers.Apps().V1(), c.Informers.Core().V1()
			ds := daemonset.New(c.Kube, core.Pods(), core.Nodes(), a.DaemonSets(), a.ControllerRevisions())
			if c.CreatePod != nil {
				ds.CreatePodsWith(c.CreatePod)
			}
			return ds, nil
		}},
		{Name: "job", New: func(c cm.Clients) (cm.Controller, error) {
			j := job.New(c.Kube, c.Informers.Core().V1().Pods(), c.Informers.Batch().V1().Jobs())
			if c.CreatePod != nil {
				j.CreatePodsWith(c.CreatePod)
			}
			return j, nil
		}},
		{Name: "cronjob", New: func(c cm.Clients) (cm.Controller, error) {
			b := c.Informers.Batch().V1()
			return cronjob.New(c.Kube, b.Jobs(), b.CronJobs()), nil
		}},
		{Name: "endpoints", New: func(c cm.Clients) (cm.Controller, error) {
			core := c.Informers.Core().V1()
			return endpoints.New(c.Kube, core.Pods(), core.Services(), core.Endpoints()), nil
		}},
		{Name: "endpointslice", New: func(c cm.Clients) (cm.Controller, error) {
			core := c.Informers.Core().V1()
			return endpointslice.New(c.Kube, core.Pods(), core.Services(), core.Nodes(), c.Informers.Discovery().V1().EndpointSlices()), nil
		}},
		{Name: "endpointslicemirroring", New: func(c cm.Clients) (cm.Controller, error) {
			core := c.Informers.Core().V1()
			return endpointslice.NewMirroring(c.Kube, core.Endpoints(), core.Services(), c.Informers.Discovery().V1().EndpointSlices()), nil
		}},
		{Name: "nodelifecycle", New: func(c cm.Clients) (cm.Controller, error) {
			core := c.Informers.Core().V1()
			return nodelifecycle.New(c.Kube, core.Nodes(), c.Informers.Coordination().V1().Leases(), core.Pods(), nodelifecycle.DefaultConfig()), nil
		}},
		{Name: "volume", New: func(c cm.Clients) (cm.Controller, error) {
			core := c.Informers.Core().V1()
			ctrl := volume.New(c.Kube, core.PersistentVolumes(), core.PersistentVolumeClaims(),
				c.Informers.Storage().V1().StorageClasses(), core.Nodes(), volume.Config{StorageDir: cfg.StorageDir})
			return startFunc(func(ctx context.Context) error {
				if err := volume.EnsureLocalPathStorageClass(ctx, c.Kube); err != nil && ctx.Err() == nil {
					return err
				}
				return ctrl.Start(ctx)
			}), nil
		}},
		{Name: "storageprotection", New: func(c cm.Clients) (cm.Controller, error) {
			core := c.Informers.Core().V1()
			return storageprotection.New(c.Kube, core.Pods(), core.PersistentVolumeClaims(), core.PersistentVolumes())
		}},
		{Name: "scheduler", New: func(c cm.Clients) (cm.Controller, error) {
			s := scheduler.New(c.Kube, c.Informers)
			if c.BindPod != nil {
				s.BindWith(c.BindPod)
			}
			return s, nil
		}},
		{Name: "servicelb", New: func(c cm.Clients) (cm.Controller, error) {
			return servicelb.New(servicelb.Config{Pool: cfg.LoadBalancerPool}, c.Kube, c.Informers)
		}},
	}
}

type startFunc func(ctx context.Context) error

func (f startFunc) Start(ctx context.Context) error { return f(ctx) }
