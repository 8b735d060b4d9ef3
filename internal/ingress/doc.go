// Package ingress is Navarch's built-in Ingress controller: an HTTP and
// HTTPS reverse proxy serving the networking.k8s.io/v1 Ingresses of class
// "navarch" (the default class) on the node's ports 80 and 443.
//
//   - routes.go builds an immutable routing table from the informers:
//     host rules (exact and "*.example.com" wildcards), paths (Exact,
//     Prefix, ImplementationSpecific as Prefix), the default backend, and
//     per backend the ready endpoints taken straight from EndpointSlices.
//   - certs.go picks the TLS certificate by SNI from the Ingresses' TLS
//     Secrets (re-read when a Secret changes), with a self-signed default.
//   - frontend.go owns the listeners: per accepted connection (on 443
//     after the TLS handshake, unless ALPN picked "h2") one goroutine
//     reads one request head at a time into pooled buffers. A head that
//     h1parse.go's strict parser takes is proxied by h1proxy.go; any
//     other (HTTP/1.0, Expect, Upgrade/WebSocket, CONNECT, absolute or
//     asterisk targets, percent-escaped paths, obs-fold, bare LF or CR,
//     both Content-Length and Transfer-Encoding, a Transfer-Encoding
//     other than exactly "chunked", repeated Host or Content-Length,
//     declared trailers, heads over 8 KiB...) hands the connection, with
//     the bytes already read, to a net/http server with the Proxy as its
//     handler, which serves it from then on; so do HTTP/2 connections.
//     Since the fast path only takes what net/http reads the same way,
//     and re-frames every body it forwards, no request can be framed
//     differently by the proxy and the backend. Shutdown closes idle
//     connections and lets requests in flight finish ("Connection:
//     close").
//   - h1parse.go parses request and response heads into byte slices of
//     the read buffer, and chunked bodies (FuzzParseRequestHead checks
//     the parser against net/http's).
//   - h1proxy.go forwards what the fast path took as
//     httputil.ReverseProxy would: hop-by-hop headers removed both ways,
//     Host kept, X-Forwarded-For/-Host/-Proto set (the client's own
//     dropped, as ReverseProxy's Rewrite mode does), the status line,
//     Date, sniffed Content-Type and bodiless answers (HEAD, 1xx, 204,
//     304) as net/http's server writes them, answers of unknown length
//     re-framed chunked, 404/503/502 answered as http.Error does.
//     Instead of net/http's background read per request, a read from the
//     backend that blocks for a second checks whether the client is still
//     there (upstream.go's upReader); a client gone, like a body cut off
//     either way, closes the backend connection instead of pooling it.
//     Kept-alive clients idle for 120 s are closed, heads must come
//     whole within 30 s.
//   - proxy.go is the net/http handler (httputil.ReverseProxy) for the
//     connections handed off: HTTP/2, WebSocket upgrades, everything
//     outside the fast path's subset. Both paths route with the same
//     table, round-robin over endpoints, retry another endpoint when a
//     connection cannot be made, and answer 404/503 with the reason.
//   - upstream.go is the HTTP/1.1 client to endpoints of both paths:
//     keep-alive connections pooled per endpoint, each request written
//     and answered on the goroutine serving the client (net/http's
//     Transport only for upgrades).
//   - rawio_linux.go: the fast path's client connections and every
//     connection to an endpoint read and write with raw system calls on
//     their non-blocking sockets, through the netpoller's RawConn (its
//     deadlines, readiness waits and Close guard kept). Go's net.Conn
//     enters each call as one that may block; a write to a local peer,
//     which runs the peer's TCP receive path inside the call, lasts long
//     enough for sysmon to hand the P to another thread and to go back
//     to 20 us wake-ups, which cost the proxy about a fifth of its cpu per
//     request (bench/README.md, 2026-11-22).
//   - controller.go keeps the table current (swapped atomically, so
//     in-flight requests finish on the table they started with), writes
//     Ingress status and ensures the IngressClass exists.
package ingress
