package embedded

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// memberName names the one member; a restart must use the same name to
// find itself in the data directory.
const memberName = "navarch"

// Raft timing. A single member elects itself after one election timeout,
// which is most of its start time, and has no peers to be slow on a short
// one; 10 ms ticks and a 100 ms timeout start it in well under a second.
const (
	tickMs     = 10
	electionMs = 100
)

const watchProgressInterval = 5 * time.Second

// Raft log kept in memory. etcd keeps every entry since its last snapshot
// plus SnapshotCatchUpEntries for slow followers: with its defaults (10,000
// and 5,000) up to 15,000 writes, 45 MiB when they are pods. A single
// member has no followers to catch up; a snapshot every 5,000 writes
// costs one backend commit, which happens every 100 ms anyway.
const (
	snapshotCount          = 5000
	snapshotCatchUpEntries = 500
)

// Config configures Start.
type Config struct {
	// DataDir holds etcd's data (member/wal and member/snap); required.
	// It is created if missing.
	DataDir string
	// ClientURL, when set, is an address etcd also serves clients on
	// (e.g. "http://127.0.0.1:2379"), so other servers can share this
	// etcd. Port 0 picks a free port; Endpoints reports it.
	ClientURL string
	// Logger receives etcd's error logs; nil means JSON on stderr.
	Logger *zap.Logger
}

// Etcd is a running embedded etcd member.
type Etcd struct {
	server    *embed.Etcd
	client    *clientv3.Client
	endpoints []string
	// closing tells the log filter that listener errors are now expected.
	closing   *atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// Start starts etcd and returns when it serves requests, or fails when
// etcd cannot start or ctx ends first. ctx bounds the start only: etcd
// runs until Close.
func Start(ctx context.Context, cfg Config) (*Etcd, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("embedded: Config.DataDir is required")
	}
	closing := new(atomic.Bool)
	logger := cfg.Logger
	if logger == nil {
		logger = newStderrLogger()
	}
	logger = logger.WithOptions(zap.IncreaseLevel(zapcore.ErrorLevel), zap.WrapCore(quietOnClose(closing)))

	ec := embed.NewConfig()
	ec.Name = memberName
	ec.Dir = cfg.DataDir
	ec.LogLevel = "error"
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(logger)
	ec.TickMs = tickMs
	ec.ElectionMs = electionMs
	// Nothing dials the peer URL of a single member; binding port 0 keeps
	// members from colliding, and the advertised URL names that port.
	peer := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	ec.ListenPeerUrls = []url.URL{peer}
	ec.AdvertisePeerUrls = []url.URL{peer}
	ec.InitialCluster = ec.InitialClusterFromName(memberName)
	ec.ListenClientUrls, ec.AdvertiseClientUrls = nil, nil
	if cfg.ClientURL != "" {
		u, err := url.Parse(cfg.ClientURL)
		if err != nil {
			return nil, fmt.Errorf("embedded: client URL: %w", err)
		}
		ec.ListenClientUrls = []url.URL{*u}
		ec.AdvertiseClientUrls = []url.URL{*u}
	}
	// Navarch talks gRPC only; the JSON gateway would be one more handler
	// on the client port.
	ec.EnableGRPCGateway = false
	// How often etcd tells an idle watch how far it has seen the store, so
	// the bookmarks the API server sends carry a recent revision; 5 s is
	// what Kubernetes recommends (etcd's default is 10 min).
	ec.WatchProgressNotifyInterval = watchProgressInterval
	ec.SnapshotCount = snapshotCount
	ec.SnapshotCatchUpEntries = snapshotCatchUpEntries

	server, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("embedded: start etcd in %s: %w", cfg.DataDir, err)
	}
	select {
	case <-server.Server.ReadyNotify():
	case err := <-server.Err():
		closing.Store(true)
		server.Close()
		return nil, fmt.Errorf("embedded: etcd in %s: %w", cfg.DataDir, err)
	case <-ctx.Done():
		closing.Store(true)
		server.Close()
		return nil, fmt.Errorf("embedded: start etcd in %s: %w", cfg.DataDir, ctx.Err())
	}
	e := &Etcd{
		server:  server,
		client:  v3client.New(server.Server),
		closing: closing,
	}
	for i, l := range server.Clients {
		e.endpoints = append(e.endpoints, ec.ListenClientUrls[i].Scheme+"://"+l.Addr().String())
	}
	return e, nil
}

// Client returns the in-process client. It is closed by Close; callers
// must not close it.
func (e *Etcd) Client() *clientv3.Client { return e.client }

// Endpoints returns the URLs etcd serves clients on, with the ports it
// bound; empty when Config.ClientURL was not set.
func (e *Etcd) Endpoints() []string { return e.endpoints }

// Close stops etcd after closing the in-process client; watches on it end.
// It is safe to call more than once.
func (e *Etcd) Close() error {
	e.closeOnce.Do(func() {
		e.closing.Store(true)
		// The in-process client reports its own cancellation as the error.
		if err := e.client.Close(); err != nil && !errors.Is(err, context.Canceled) {
			e.closeErr = fmt.Errorf("embedded: close client: %w", err)
		}
		e.server.Close()
	})
	return e.closeErr
}
