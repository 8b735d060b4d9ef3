package stats

import (
	"encoding/json"
	"net/http"

	"k8s.io/klog/v2"
)

var _ http.Handler = (*Provider)(nil)

// ServeHTTP answers GET (and HEAD) with the latest Summary in JSON, as
// the kubelet answers GET /stats/summary; the lead mounts it at that
// path. The query (only_cpu_and_memory) is accepted and changes nothing:
// the Summary carries only CPU and memory anyway. Other methods get 405;
// a failed sample gets 500 with the error as text.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "stats: method not allowed", http.StatusMethodNotAllowed)
		return
	}
	summary, err := p.Summary(r.Context())
	if err != nil {
		klog.FromContext(r.Context()).Error(err, "Serving the stats summary failed")
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	data, err := json.Marshal(summary)
	if err != nil {
		http.Error(w, "stats: encoding the summary: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(data)
	}
}
