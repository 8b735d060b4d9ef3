package etcd3

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// compacted reports whether etcd's history at rev is gone.
func compacted(t *testing.T, client *clientv3.Client, rev int64) bool {
	t.Helper()
	_, err := client.Get(t.Context(), "any", clientv3.WithRev(rev))
	switch {
	case err == nil:
		return false
	case errors.Is(err, rpctypes.ErrCompacted):
		return true
	default:
		t.Fatalf("get at revision %d: %v", rev, err)
		return false
	}
}

func put(t *testing.T, client *clientv3.Client) int64 {
	t.Helper()
	resp, err := client.Put(t.Context(), "/k", "v")
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	return resp.Header.Revision
}

// TestCompactOnceOneCompactorPerRound plays rounds of two compactors that
// share an etcd, as two API servers do, and checks that each round
// compacts once, to the revision of the round before, whoever plays first.
func TestCompactOnceOneCompactorPerRound(t *testing.T) {
	client := startEtcd(t, "").Client()
	ctx := t.Context()
	var a, b compactState
	play := func(name string, s *compactState) {
		t.Helper()
		next, err := compactOnce(ctx, client, *s)
		if err != nil {
			t.Fatalf("%s: compactOnce: %v", name, err)
		}
		*s = next
	}
	for range 3 {
		put(t, client)
	}

	// Round 1: nothing seen before, nothing compacted.
	play("a", &a)
	round1 := a.rev
	play("b", &b)
	if compacted(t, client, 1) {
		t.Fatal("round 1 compacted; the first round must not")
	}
	if a.version != b.version {
		t.Fatalf("after round 1 a is at version %d and b at %d, want them to agree", a.version, b.version)
	}

	for range 3 {
		put(t, client)
	}
	// Round 2, a first: a compacts to round 1's revision, b does nothing.
	play("a", &a)
	round2 := a.rev
	play("b", &b)
	if !compacted(t, client, round1-1) || compacted(t, client, round1) {
		t.Fatalf("after round 2 history before %d should be gone and %d kept", round1, round1)
	}

	for range 3 {
		put(t, client)
	}
	// Round 3, b first: b compacts, to the revision it saw in round 2,
	// which is the revision after a's round-2 write.
	play("b", &b)
	play("a", &a)
	if !compacted(t, client, round2-1) {
		t.Fatalf("after round 3 history before %d should be gone", round2)
	}
	if a.version != b.version || a.version != 3 {
		t.Errorf("after 3 rounds versions are a=%d b=%d, want both 3", a.version, b.version)
	}
}

func TestCompactorCompactsUntilStopped(t *testing.T) {
	client := startEtcd(t, "").Client()
	first := put(t, client)
	put(t, client)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- NewCompactor(CompactorConfig{Client: client, Interval: 20 * time.Millisecond}).Start(ctx)
	}()

	deadline := time.Now().Add(10 * time.Second)
	for !compacted(t, client, first) {
		if time.Now().After(deadline) {
			t.Fatalf("revision %d not compacted within 10s", first)
		}
		put(t, client)
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Start returned %v after its context ended, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Start did not return after its context ended")
	}
}
