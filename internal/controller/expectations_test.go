package controller

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/sets"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestControllerExpectations(t *testing.T) {
	const key = "ns/rs"
	tests := []struct {
		name    string
		steps   func(e *ControllerExpectations, clk *clocktesting.FakePassiveClock)
		want    bool
		wantAdd int64
		wantDel int64
	}{
		{name: "no record is satisfied", steps: func(*ControllerExpectations, *clocktesting.FakePassiveClock) {}, want: true},
		{
			name: "pending creations are not satisfied",
			steps: func(e *ControllerExpectations, _ *clocktesting.FakePassiveClock) {
				e.ExpectCreations(key, 3)
				e.CreationObserved(key)
			},
			want:    false,
			wantAdd: 2,
		},
		{
			name: "all creations observed",
			steps: func(e *ControllerExpectations, _ *clocktesting.FakePassiveClock) {
				e.ExpectCreations(key, 2)
				e.CreationObserved(key)
				e.CreationObserved(key)
			},
			want: true,
		},
		{
			name: "failed creates lowered",
			steps: func(e *ControllerExpectations, _ *clocktesting.FakePassiveClock) {
				e.ExpectCreations(key, 5)
				e.LowerExpectations(key, 4, 0)
				e.CreationObserved(key)
			},
			want: true,
		},
		{
			name: "raise adds to pending",
			steps: func(e *ControllerExpectations, _ *clocktesting.FakePassiveClock) {
				e.ExpectDeletions(key, 1)
				e.RaiseExpectations(key, 1, 1)
				e.DeletionObserved(key)
			},
			want:    false,
			wantAdd: 1,
			wantDel: 1,
		},
		{
			name: "expired record is satisfied",
			steps: func(e *ControllerExpectations, clk *clocktesting.FakePassiveClock) {
				e.ExpectCreations(key, 3)
				clk.SetTime(clk.Now().Add(ExpectationsTimeout + time.Second))
			},
			want:    true,
			wantAdd: 3,
		},
		{
			name: "deleted record is satisfied",
			steps: func(e *ControllerExpectations, _ *clocktesting.FakePassiveClock) {
				e.ExpectCreations(key, 3)
				e.DeleteExpectations(key)
			},
			want: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktesting.NewFakePassiveClock(time.Unix(1000, 0))
			e := NewControllerExpectationsWithClock(clk)
			tc.steps(e, clk)
			if got := e.SatisfiedExpectations(key); got != tc.want {
				t.Errorf("SatisfiedExpectations = %v, want %v", got, tc.want)
			}
			add, del, _ := e.GetExpectations(key)
			if add != tc.wantAdd || del != tc.wantDel {
				t.Errorf("GetExpectations = (%d, %d), want (%d, %d)", add, del, tc.wantAdd, tc.wantDel)
			}
		})
	}
}

func TestUIDTrackingExpectationsCountsEachPodOnce(t *testing.T) {
	const key = "ns/rs"
	e := NewUIDTrackingExpectations(NewControllerExpectations())
	e.ExpectDeletions(key, []string{"ns/a", "ns/b"})
	// a is seen twice (deletionTimestamp update, then delete), c is not ours.
	e.DeletionObserved(key, "ns/a")
	e.DeletionObserved(key, "ns/a")
	e.DeletionObserved(key, "ns/c")
	if e.SatisfiedExpectations(key) {
		t.Fatalf("satisfied with ns/b still pending")
	}
	if diff := cmp.Diff(sets.New("ns/b"), e.GetDeletionKeys(key)); diff != "" {
		t.Errorf("deletion keys (-want +got):\n%s", diff)
	}
	e.DeletionObserved(key, "ns/b")
	if !e.SatisfiedExpectations(key) {
		t.Errorf("not satisfied after every deletion observed")
	}
	e.DeleteExpectations(key)
	if got := e.GetDeletionKeys(key).Len(); got != 0 {
		t.Errorf("deletion keys after DeleteExpectations: got %d, want 0", got)
	}
}
