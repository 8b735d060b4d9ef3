package controller

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/workqueue"
)

func TestRunWorkersRetriesFailedKeys(t *testing.T) {
	tests := []struct {
		name      string
		failures  []error // returned by the first syncs of the key, in order
		wantCalls int
	}{
		{name: "success once", wantCalls: 1},
		{name: "error then success", failures: []error{errors.New("boom")}, wantCalls: 2},
		{name: "conflicts are retried too", failures: []error{apierrors.NewConflict(schema.GroupResource{Resource: "pods"}, "p", errors.New("stale")), errors.New("boom")}, wantCalls: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			queue := workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Millisecond, 10*time.Millisecond))
			var mu sync.Mutex
			calls := 0
			synced := make(chan struct{})
			syncKey := func(_ context.Context, key string) error {
				mu.Lock()
				defer mu.Unlock()
				calls++
				if calls <= len(tc.failures) {
					return tc.failures[calls-1]
				}
				close(synced)
				return nil
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { RunWorkers(ctx, queue, 2, syncKey); close(done) }()
			queue.Add("ns/a")
			select {
			case <-synced:
			case <-time.After(10 * time.Second):
				t.Fatalf("key never synced successfully")
			}
			cancel()
			<-done
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff(tc.wantCalls, calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if got := queue.NumRequeues("ns/a"); got != 0 {
				t.Errorf("requeues after success = %d, want 0 (forgotten)", got)
			}
		})
	}
}
