// Package inprocess carries HTTP requests of clients inside the server's
// process (the controllers, the scheduler, the local node agent, the
// cluster DNS and the ingress controller) straight to the API server's
// handler: no socket, no TLS, no HTTP framing. A client-go rest.Config
// whose Transport is a *Transport sends the same requests with the same
// protobuf or JSON bodies as over the network, and the handler sees the
// same kind of *http.Request, so admission, defaulting, managedFields,
// resourceVersions and watches behave exactly as for outside clients.
//
// # Identity
//
// Each Transport carries one apiserver.User. It puts that user into the
// context of every request it hands to the handler, under a key of this
// package that nothing else can set; Authenticator, placed first in the
// API server's authenticator chain, reads it from there. No header, no
// address and nothing else a network request carries can claim an
// in-process identity: requests from the network reach the handler with
// contexts made by net/http, which never hold the key.
//
// # What the handler sees
//
// The request: Method, URL (path and query, as a server parses them from
// the request line), RequestURI, Host, the client's headers as they are
// (Content-Type, Accept, User-Agent...), ContentLength, a non-nil Body,
// RemoteAddr RemoteAddr, Proto HTTP/1.1 and TLS nil. Its context ends
// when the client's request context ends, when the client closes the
// response body, or when the handler returns.
//
// The response writer: headers, status, writes and http.Flusher (also
// FlushError and EnableFullDuplex for http.ResponseController). Written
// bytes are readable by the client at once; a write blocks while more
// than a buffer's worth (64 KiB) is waiting to be read, as a socket would.
// It does not implement http.Hijacker, http.CloseNotifier or read and
// write deadlines: upgrades (exec, attach, port-forward, proxy upgrades)
// answer the handler's usual "cannot hijack" error, and
// http.ResponseController reports http.ErrNotSupported for the rest. No
// in-process client uses any of them (the local agent is the target of
// exec and port-forward, never a client of them).
//
// # Streaming and cancellation
//
// A long-running request (every request, unless Transport.LongRunning
// says otherwise) runs its handler on a goroutine of its own. RoundTrip
// returns as soon as the handler flushes, returns, or has written 64 KiB:
// as net/http's server, which holds a small body in its buffer until
// then, and sends nothing at a WriteHeader alone. So a response the
// handler finishes carries its Content-Length, and the client wakes once
// for it. After that, written bytes are readable at once, flushed or not:
// watch events stream as the handler writes them. Closing the response
// body or cancelling the request's context cancels the handler's context
// and makes its pending and later writes fail, so a handler that honours
// its context returns; the request holds that one goroutine until then.
//
// With Transport.LongRunning set (apiserver.LongRunning), only the
// requests it names long-running (watches, logs, exec, attach,
// port-forward, proxies) are served so. The others, nearly all of a
// controller's, run their handler on the caller's goroutine: RoundTrip
// returns once the handler has returned, the whole answer buffered (its
// writes never block, its flushes start nothing). That spares a
// goroutine, two hand-overs between goroutines and the new goroutine's
// stack growth per request. Cancelling the context still ends the
// handler's context, and RoundTrip returns the context's error.
package inprocess
