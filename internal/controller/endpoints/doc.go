// Package endpoints is the endpoints controller: it keeps one core/v1
// Endpoints object per Service that has a selector, listing the pods the
// selector matches, as upstream's endpoint-controller does.
//
// For each Service it lists the matching pods from the shared informer
// cache and builds the subsets:
//   - pods that have an IP, are not terminal (Succeeded/Failed) and are not
//     terminating appear; ready pods (Ready condition True) go into
//     addresses, the others into notReadyAddresses; with
//     publishNotReadyAddresses every such pod, terminating ones included,
//     goes into addresses;
//   - each address carries the pod's nodeName and a targetRef to the pod,
//     and its hostname when the pod sets hostname and a subdomain equal to
//     the Service's name;
//   - each Service port becomes an endpoint port; a named targetPort is
//     looked up per pod among its container ports (pods without that
//     name are left out of that port); a headless Service without ports
//     lists its pods without ports;
//   - subsets are packed in upstream's canonical form (addresses grouped
//     by the ports they share), so equal content compares equal and no
//     write happens.
//
// The Endpoints object gets the Service's labels plus
// service.kubernetes.io/headless for headless Services and
// endpoints.kubernetes.io/managed-by=endpoint-controller, and the
// endpoints.kubernetes.io/last-change-trigger-time annotation (the time of
// the oldest pod or Service change not yet reflected). More than 1000
// addresses are truncated and marked endpoints.kubernetes.io/over-capacity.
// Services without a selector and ExternalName Services are never
// touched: their Endpoints are written by hand. Deleting a Service deletes
// its Endpoints; at start, Endpoints marked managed-by this controller
// whose Service is gone are deleted too.
package endpoints
