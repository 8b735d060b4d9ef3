// Package endpointslice is the registry entry of discovery.k8s.io/v1
// EndpointSlice: its defaults (port protocol TCP, empty port name), the
// generation bump on every change, validation (address type, endpoint
// addresses of that type, node names, hostnames, hints, ports) and the
// kubectl get columns.
package endpointslice
