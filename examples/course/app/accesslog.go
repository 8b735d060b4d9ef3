package app

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// AccessLog writes one line per request: time, client, method, path,
// status, bytes, duration.
type AccessLog struct {
	mu  sync.Mutex
	out io.Writer
}

// NewAccessLog logs to out (stdout in the programs).
func NewAccessLog(out io.Writer) *AccessLog { return &AccessLog{out: out} }

type recorder struct {
	http.ResponseWriter
	status, bytes int
}

func (r *recorder) WriteHeader(code int) { r.status = code; r.ResponseWriter.WriteHeader(code) }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

// Wrap logs every request h serves.
func (l *AccessLog) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		fmt.Fprintf(l.out, "%s %s %s %s %d %d %s\n", start.UTC().Format(time.RFC3339), r.RemoteAddr, r.Method,
			r.URL.RequestURI(), rec.status, rec.bytes, time.Since(start).Round(time.Microsecond))
	})
}
