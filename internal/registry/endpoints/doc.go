// Package endpoints is the registry entry of core/v1 Endpoints: the TCP
// default of ports, validation of addresses and ports, and the kubectl get
// columns.
package endpoints
