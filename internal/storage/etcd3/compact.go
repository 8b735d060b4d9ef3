package etcd3

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/klog/v2"
)

// DefaultCompactInterval is kube-apiserver's default compaction interval.
const DefaultCompactInterval = 5 * time.Minute

// compactRevKey is the key compactors agree through; kube-apiserver uses
// the same one, so it and Navarch never compact twice in one interval
// against a shared etcd either.
const compactRevKey = "compact_rev_key"

// CompactorConfig configures a Compactor.
type CompactorConfig struct {
	// Client reaches etcd; required. The Compactor does not close it.
	Client *clientv3.Client
	// Interval between compactions; zero means DefaultCompactInterval.
	Interval time.Duration
}

// Compactor trims etcd's history: every interval it compacts to the
// revision it saw one interval earlier, so a watch or a paged list may
// resume from any resourceVersion up to one interval old, and 410 Gone
// after that.
//
// Any number of API servers may run one against the same etcd: they
// agree through a compare-and-swap on compactRevKey, whose version counts
// the intervals, and only the one that wins an interval's swap compacts.
type Compactor struct {
	client   *clientv3.Client
	interval time.Duration
}

// NewCompactor returns a Compactor; it panics without cfg.Client.
func NewCompactor(cfg CompactorConfig) *Compactor {
	if cfg.Client == nil {
		panic("etcd3: CompactorConfig needs a Client")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultCompactInterval
	}
	return &Compactor{client: cfg.Client, interval: cfg.Interval}
}

// Start compacts every interval until ctx ends, then returns nil. A failed
// round is logged and retried at the next tick.
func (c *Compactor) Start(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithName("etcd-compactor")
	ticker := time.NewTicker(c.interval)
	defer ticker.Stop()
	var state compactState
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		next, err := compactOnce(ctx, c.client, state)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			logger.Error(err, "Compaction failed", "revision", state.rev)
		}
		state = next
	}
}

// compactState is what one compactor remembers between rounds.
type compactState struct {
	// version is the version of compactRevKey this compactor last saw:
	// the round number all compactors agree on.
	version int64
	// rev is the revision seen when that round began; the next round
	// compacts to it.
	rev int64
}

// compactOnce plays one round. If compactRevKey still has the version
// last seen, no other compactor has played this interval: this one
// advances the key and compacts to the revision of the previous round.
// Otherwise another compactor did (or will), and this one only adopts the
// new round. The first round never compacts: nothing was seen before it.
func compactOnce(ctx context.Context, client *clientv3.Client, last compactState) (compactState, error) {
	resp, err := client.Txn(ctx).
		If(clientv3.Compare(clientv3.Version(compactRevKey), "=", last.version)).
		Then(clientv3.OpPut(compactRevKey, strconv.FormatInt(last.rev, 10))).
		Else(clientv3.OpGet(compactRevKey)).
		Commit()
	if err != nil {
		return last, fmt.Errorf("etcd3: compaction round: %w", err)
	}
	next := compactState{version: last.version + 1, rev: resp.Header.Revision}
	if !resp.Succeeded {
		next.version = 0 // the key is gone: start over
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
			next.version = kvs[0].Version
		}
		return next, nil
	}
	if last.rev == 0 {
		return next, nil
	}
	if _, err := client.Compact(ctx, last.rev); err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
		return next, fmt.Errorf("etcd3: compact to %d: %w", last.rev, err)
	}
	return next, nil
}
