package apiserver

import (
	"net/http"
	"net/http/pprof"
)

// serveProfiling answers /debug/pprof/<rest> with the runtime's profiles
// (the paths `go tool pprof https://host/debug/pprof/profile` expects).
func serveProfiling(w http.ResponseWriter, r *http.Request, rest []string) {
	name := ""
	if len(rest) > 0 {
		name = rest[0]
	}
	switch name {
	case "cmdline":
		pprof.Cmdline(w, r)
	case "profile":
		pprof.Profile(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	case "trace":
		pprof.Trace(w, r)
	case "":
		pprof.Index(w, r)
	default:
		// Named profiles: heap, goroutine, allocs, block, mutex, threadcreate.
		pprof.Handler(name).ServeHTTP(w, r)
	}
}
