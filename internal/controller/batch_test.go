package controller

import (
	"errors"
	"sync/atomic"
	"testing"
)

func TestSlowStartBatch(t *testing.T) {
	tests := []struct {
		name          string
		count         int
		failFromCall  int64 // calls numbered from 1; 0: never fail
		wantSuccesses int
		wantCallsMax  int64
		wantErr       bool
	}{
		{name: "nothing to do", count: 0, wantSuccesses: 0, wantCallsMax: 0},
		{name: "all succeed", count: 10, wantSuccesses: 10, wantCallsMax: 10},
		// Batches 1, 2, 4: the first failing call is the 1st: stop after it.
		{name: "first call fails", count: 10, failFromCall: 1, wantSuccesses: 0, wantCallsMax: 1, wantErr: true},
		// Batches 1, 2 succeed (3 calls), batch of 4 fails from its first call.
		{name: "fails in third batch", count: 10, failFromCall: 4, wantSuccesses: 3, wantCallsMax: 7, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			got, err := SlowStartBatch(tc.count, SlowStartInitialBatchSize, func() error {
				n := calls.Add(1)
				if tc.failFromCall != 0 && n >= tc.failFromCall {
					return errors.New("boom")
				}
				return nil
			})
			if got != tc.wantSuccesses {
				t.Errorf("successes = %d, want %d", got, tc.wantSuccesses)
			}
			if (err != nil) != tc.wantErr {
				t.Errorf("err = %v, want error %v", err, tc.wantErr)
			}
			if calls.Load() > tc.wantCallsMax {
				t.Errorf("calls = %d, want at most %d", calls.Load(), tc.wantCallsMax)
			}
		})
	}
}
