// Package integration drives an in-process Navarch control plane (real
// embedded etcd in a temp dir, real HTTPS) with client-go.
package integration
