package builtin

import (
	"github.com/navarch/navarch/internal/registry"
	"github.com/navarch/navarch/internal/registry/configmap"
	"github.com/navarch/navarch/internal/registry/endpoints"
	"github.com/navarch/navarch/internal/registry/event"
	"github.com/navarch/navarch/internal/registry/namespace"
	"github.com/navarch/navarch/internal/registry/node"
	"github.com/navarch/navarch/internal/registry/persistentvolume"
	"github.com/navarch/navarch/internal/registry/persistentvolumeclaim"
	"github.com/navarch/navarch/internal/registry/pod"
	"github.com/navarch/navarch/internal/registry/secret"
	"github.com/navarch/navarch/internal/registry/service"
	"github.com/navarch/navarch/internal/registry/serviceaccount"
)

// coreKinds returns the core/v1 kinds, in the order upstream's discovery
// lists them (by resource name).
func coreKinds() []*registry.Kind {
	return []*registry.Kind{
		configmap.Kind(),
		endpoints.Kind(),
		event.Kind(),
		namespace.Kind(),
		node.Kind(),
		persistentvolumeclaim.Kind(),
		persistentvolume.Kind(),
		pod.Kind(),
		secret.Kind(),
		serviceaccount.Kind(),
		service.Kind(),
	}
}
