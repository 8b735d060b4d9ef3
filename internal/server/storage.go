package server

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/navarch/navarch/internal/api"
	"github.com/navarch/navarch/internal/storage"
	"github.com/navarch/navarch/internal/storage/embedded"
	"github.com/navarch/navarch/internal/storage/etcd3"
)

// openStorage connects to the configured etcd (starting the embedded one
// when no endpoints are given) and returns the store, a function that
// closes what was opened, and the storage's own runnables (compaction).
func openStorage(ctx context.Context, cfg Config) (storage.Interface, func(), []Runnable, error) {
	var client *clientv3.Client
	closeFn := func() {}
	if len(cfg.EtcdEndpoints) == 0 {
		etcd, err := embedded.Start(ctx, embedded.Config{DataDir: cfg.etcdDir(), ClientURL: cfg.EtcdListenClientURL})
		if err != nil {
			return nil, nil, nil, err
		}
		client = etcd.Client()
		closeFn = func() { _ = etcd.Close() }
	} else {
		c, err := clientv3.New(clientv3.Config{
			Endpoints:   cfg.EtcdEndpoints,
			DialTimeout: 5 * time.Second,
			Context:     ctx,
		})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("server: connecting to etcd %v: %w", cfg.EtcdEndpoints, err)
		}
		client = c
		closeFn = func() { _ = c.Close() }
	}
	store := etcd3.New(etcd3.Config{Client: client, Codec: etcd3.NewCodec(api.Scheme)})
	compactor := etcd3.NewCompactor(etcd3.CompactorConfig{Client: client})
	return store, closeFn, []Runnable{compactor}, nil
}
