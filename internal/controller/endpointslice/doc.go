// Package endpointslice holds two controllers that keep
// discovery.k8s.io/v1 EndpointSlices, as upstream's endpointslice and
// endpointslicemirroring controllers do.
//
// Controller (managed-by endpointslice-controller.k8s.io) writes the
// slices of every Service with a selector from the pods it matches:
//   - one endpoint per pod with an IP that has not finished (terminating
//     pods included), with conditions ready (serving and not terminating,
//     or always with publishNotReadyAddresses), serving (the pod's Ready
//     condition) and terminating (deletionTimestamp set); its nodeName,
//     its zone (the node's topology.kubernetes.io/zone label), a
//     targetRef to the pod, and the hostname of pods whose subdomain
//     names the Service;
//   - pods are grouped by the ports they resolve (named target ports are
//     looked up per pod), one address type (IPv4/IPv6) per slice, at most
//     MaxEndpointsPerSlice endpoints per slice; existing slices are
//     updated in place and filled before new ones are made, as upstream
//     packs them; a Service without endpoints gets one empty placeholder;
//   - each slice carries the Service's labels, kubernetes.io/service-name,
//     the managed-by label, service.kubernetes.io/headless for headless
//     Services, the last-change-trigger-time annotation and a controller
//     owner reference to the Service, so the garbage collector deletes it
//     with the Service.
//
// MirroringController (managed-by endpointslicemirroring-controller.k8s.io)
// copies the hand-made Endpoints of Services without a selector into
// slices, one per address type and port set, at most 1000 addresses per
// subset, owned by the Endpoints object. Endpoints labelled
// endpointslice.kubernetes.io/skip-mirror=true (like default/kubernetes)
// are not mirrored; their mirrored slices, and those of Endpoints whose
// Service is gone or gained a selector, are deleted.
//
// Both controllers remember the generation of every slice they wrote, so
// a sync on an informer cache that has not caught up with their own
// writes is retried rather than acted on.
package endpointslice
