package controller

import (
	"sync"
)

// SlowStartInitialBatchSize is the first batch SlowStartBatch runs.
const SlowStartInitialBatchSize = 1

// SlowStartBatch calls fn count times, in batches that start at
// initialBatchSize and double after each batch that fully succeeds; the
// calls of one batch run in parallel. It stops after the first batch with
// an error, so a controller whose creates all fail (quota, admission)
// makes one or two failing calls rather than count. It returns how many
// calls succeeded and the first error.
func SlowStartBatch(count, initialBatchSize int, fn func() error) (int, error) {
	remaining := count
	successes := 0
	for batch := min(remaining, initialBatchSize); batch > 0; batch = min(2*batch, remaining) {
		errs := make(chan error, batch)
		var wg sync.WaitGroup
		wg.Add(batch)
		for i := 0; i < batch; i++ {
			go func() {
				defer wg.Done()
				if err := fn(); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		failed := len(errs)
		successes += batch - failed
		if failed > 0 {
			return successes, <-errs
		}
		remaining -= batch
	}
	return successes, nil
}
