// Package ingress is Navarch's built-in Ingress controller: an HTTP and
// HTTPS reverse proxy (net/http/httputil) serving the networking.k8s.io/v1
// Ingresses of class "navarch" (the default class) on the node's ports 80
// and 443.
//
//   - routes.go builds an immutable routing table from the informers:
//     host rules (exact and "*.example.com" wildcards), paths (Exact,
//     Prefix, ImplementationSpecific as Prefix), the default backend, and
//     per backend the ready endpoints taken straight from EndpointSlices.
//   - certs.go picks the TLS certificate by SNI from the Ingresses' TLS
//     Secrets (re-read when a Secret changes), with a self-signed default.
//   - proxy.go forwards requests (HTTP/1.1, HTTP/2, WebSocket upgrades,
//     X-Forwarded-* headers), round-robin over endpoints, retrying another
//     endpoint when a connection cannot be made, and answers 404/503 with
//     the reason.
//   - upstream.go is its HTTP/1.1 client to endpoints: keep-alive
//     connections pooled per endpoint, each request written and answered
//     on the goroutine serving the client (net/http's Transport only for
//     upgrades).
//   - controller.go keeps the table current (swapped atomically, so
//     in-flight requests finish on the table they started with), writes
//     Ingress status and ensures the IngressClass exists.
package ingress
