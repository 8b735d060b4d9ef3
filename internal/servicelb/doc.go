// Package servicelb is the built-in load balancer for Services of type
// LoadBalancer, like k3s' ServiceLB: it gives each such Service an
// ingress address in status.loadBalancer — an address from a configured
// pool, or else the InternalIP of every Ready node — and the service proxy
// on each node answers on that address and port.
package servicelb
