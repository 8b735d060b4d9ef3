package builtin

import (
	"github.com/navarch/navarch/internal/registry"
	"github.com/navarch/navarch/internal/registry/controllerrevision"
	"github.com/navarch/navarch/internal/registry/cronjob"
	"github.com/navarch/navarch/internal/registry/daemonset"
	"github.com/navarch/navarch/internal/registry/deployment"
	"github.com/navarch/navarch/internal/registry/endpointslice"
	"github.com/navarch/navarch/internal/registry/eventsv1"
	"github.com/navarch/navarch/internal/registry/ingress"
	"github.com/navarch/navarch/internal/registry/ingressclass"
	"github.com/navarch/navarch/internal/registry/job"
	"github.com/navarch/navarch/internal/registry/lease"
	"github.com/navarch/navarch/internal/registry/replicaset"
	"github.com/navarch/navarch/internal/registry/statefulset"
	"github.com/navarch/navarch/internal/registry/storageclass"
)

// moreKinds returns the kinds of the groups other than core/v1, grouped by
// API group in the order discovery lists the groups.
func moreKinds() []*registry.Kind {
	return []*registry.Kind{
		// apps/v1
		deployment.Kind(),
		replicaset.Kind(),
		statefulset.Kind(),
		daemonset.Kind(),
		controllerrevision.Kind(),
		// batch/v1
		job.Kind(),
		cronjob.Kind(),
		// networking.k8s.io/v1
		ingress.Kind(),
		ingressclass.Kind(),
		// storage.k8s.io/v1
		storageclass.Kind(),
		// coordination.k8s.io/v1
		lease.Kind(),
		// discovery.k8s.io/v1
		endpointslice.Kind(),
		// events.k8s.io/v1
		eventsv1.Kind(),
	}
}
