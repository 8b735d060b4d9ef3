// Package dns is Navarch's cluster DNS: a DNS server (miekg/dns) that
// answers for the cluster domain (cluster.local) from Service and
// EndpointSlice informers, as CoreDNS's kubernetes plugin does, and
// forwards every other name to the host's resolvers.
//
// Records served:
//
//   - SVC.NS.svc.DOMAIN: A/AAAA of the cluster IP; for a headless Service,
//     of every ready endpoint; CNAME for an ExternalName Service.
//   - HOSTNAME.SVC.NS.svc.DOMAIN: an endpoint with a hostname (StatefulSet
//     pods of a headless Service).
//   - _PORT._PROTO.SVC.NS.svc.DOMAIN: SRV for named ports.
//   - A-B-C-D.NS.pod.DOMAIN: the pod address itself (as "pods insecure").
//
// Names in the cluster domain that match nothing get NXDOMAIN; a name that
// exists with no record of the asked type gets an empty NOERROR answer.
package dns
