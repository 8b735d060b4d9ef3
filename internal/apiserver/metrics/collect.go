package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"

	"k8s.io/klog/v2"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// summaryPath is what the agents serve the Summary at; the query asks
// for the CPU and memory part only, as metrics-server did.
const summaryPath = "/stats/summary?only_cpu_and_memory=true"

// maxSummaryBytes bounds a summary read from a node.
const maxSummaryBytes = 32 << 20

// summaries asks the named nodes for their Summary, all at once (at
// most MaxConcurrent in flight) and within Timeout, and returns those
// that answered. Failures are logged at V(2) and leave the node out.
func (s *Server) summaries(ctx context.Context, nodeNames []string) map[string]*statsapi.Summary {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	logger := klog.FromContext(ctx)
	var (
		mu  sync.Mutex
		out = make(map[string]*statsapi.Summary, len(nodeNames))
		wg  sync.WaitGroup
	)
	slots := make(chan struct{}, s.cfg.MaxConcurrent)
	for _, name := range nodeNames {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			logger.V(2).Info("No time left to ask the node for its stats", "node", name)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			summary, err := s.summary(ctx, name)
			if err != nil {
				logger.V(2).Info("Leaving a node out of the metrics", "node", name, "err", err)
				return
			}
			mu.Lock()
			out[name] = summary
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// summary fetches and decodes one node's Summary.
func (s *Server) summary(ctx context.Context, nodeName string) (*statsapi.Summary, error) {
	resp, err := s.cfg.Stats.Do(ctx, nodeName, http.MethodGet, summaryPath)
	if err != nil {
		return nil, fmt.Errorf("metrics: node %s: %w", nodeName, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("metrics: node %s answered %s: %s", nodeName, resp.Status, body)
	}
	var summary statsapi.Summary
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxSummaryBytes)).Decode(&summary); err != nil {
		return nil, fmt.Errorf("metrics: node %s: decoding its summary: %w", nodeName, err)
	}
	return &summary, nil
}
