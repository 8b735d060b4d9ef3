package app

import (
	"net/http"
	"sync/atomic"
)

// Health is the state the health port reports: liveness and readiness,
// each toggled by a request to its /status path (as the course does to
// show probes at work), and readiness also dropped at shutdown.
type Health struct {
	unhealthy atomic.Bool
	unready   atomic.Bool
}

// SetReady sets readiness (false while shutting down).
func (h *Health) SetReady(ready bool) { h.unready.Store(!ready) }

// Handler serves /healthz, /readiness and their /status toggles.
func (h *Health) Handler() http.Handler {
	mux := http.NewServeMux()
	report := func(bad *atomic.Bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if bad.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusOK)
		}
	}
	toggle := func(bad *atomic.Bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			for {
				old := bad.Load()
				if bad.CompareAndSwap(old, !old) {
					break
				}
			}
			w.WriteHeader(http.StatusOK)
		}
	}
	mux.HandleFunc("/healthz", report(&h.unhealthy))
	mux.HandleFunc("/readiness", report(&h.unready))
	mux.HandleFunc("/healthz/status", toggle(&h.unhealthy))
	mux.HandleFunc("/readiness/status", toggle(&h.unready))
	return mux
}
