package controller

import (
	"context"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// WaitForCaches waits until every informer has synced. It returns nil if
// they did, ctx.Err() if ctx ended first.
func WaitForCaches(ctx context.Context, name string, synced ...cache.InformerSynced) error {
	if cache.WaitForNamedCacheSyncWithContext(ctx, synced...) {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return fmt.Errorf("controller: %s: caches did not sync", name)
}

// RunWorkers runs workers goroutines that take keys from queue and pass
// them to syncKey until ctx ends, then shuts the queue down and waits for
// them. A key whose sync fails is requeued with the queue's rate limit
// and the error reported once through utilruntime, except conflicts
// (409: the cache was behind a write), which are routine and only logged
// at V(4); a key that syncs is forgotten by the rate limiter.
func RunWorkers(ctx context.Context, queue workqueue.TypedRateLimitingInterface[string], workers int, syncKey func(ctx context.Context, key string) error) {
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer utilruntime.HandleCrashWithContext(ctx)
			for processNext(ctx, queue, syncKey) {
			}
		}()
	}
	<-ctx.Done()
	queue.ShutDown()
	wg.Wait()
}

func processNext(ctx context.Context, queue workqueue.TypedRateLimitingInterface[string], syncKey func(ctx context.Context, key string) error) bool {
	key, quit := queue.Get()
	if quit {
		return false
	}
	defer queue.Done(key)
	if err := syncKey(ctx, key); err != nil {
		if apierrors.IsConflict(err) {
			klog.FromContext(ctx).V(4).Info("sync conflicted, retrying", "key", key, "err", err)
		} else {
			utilruntime.HandleErrorWithContext(ctx, err, "sync failed", "key", key)
		}
		queue.AddRateLimited(key)
		return true
	}
	klog.FromContext(ctx).V(5).Info("synced", "key", key)
	queue.Forget(key)
	return true
}
