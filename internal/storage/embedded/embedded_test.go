package embedded

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// start starts an etcd in dir that logs into the returned observer and is
// closed when the test ends.
func start(t *testing.T, cfg Config) (*Etcd, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	cfg.Logger = zap.New(core)
	e, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e, logs
}

func put(t *testing.T, c *clientv3.Client, key, value string) {
	t.Helper()
	if _, err := c.Put(t.Context(), key, value); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func get(t *testing.T, c *clientv3.Client, key string) string {
	t.Helper()
	resp, err := c.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}

func TestStartServes(t *testing.T) {
	began := time.Now()
	e, _ := start(t, Config{DataDir: t.TempDir()})
	t.Logf("fresh start took %v", time.Since(began))
	put(t, e.Client(), "/k", "v")
	if got := get(t, e.Client(), "/k"); got != "v" {
		t.Errorf("get /k = %q, want %q", got, "v")
	}
	if got := e.Endpoints(); len(got) != 0 {
		t.Errorf("Endpoints() = %v, want none without a ClientURL", got)
	}
}

func TestStartNeedsDataDir(t *testing.T) {
	if _, err := Start(t.Context(), Config{}); err == nil {
		t.Fatal("Start without DataDir succeeded, want an error")
	}
}

func TestRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	first, err := Start(t.Context(), Config{DataDir: dir})
	if err != nil {
		t.Fatalf("first Start: %v", err)
	}
	put(t, first.Client(), "/kept", "yes")
	if err := first.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	second, _ := start(t, Config{DataDir: dir})
	if got := get(t, second.Client(), "/kept"); got != "yes" {
		t.Errorf("after restart get /kept = %q, want %q", got, "yes")
	}
}

func TestTwoInOneProcess(t *testing.T) {
	a, _ := start(t, Config{DataDir: t.TempDir()})
	b, _ := start(t, Config{DataDir: t.TempDir()})
	put(t, a.Client(), "/who", "a")
	put(t, b.Client(), "/who", "b")
	for _, tc := range []struct {
		name string
		etcd *Etcd
		want string
	}{
		{"a", a, "a"},
		{"b", b, "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := get(t, tc.etcd.Client(), "/who"); got != tc.want {
				t.Errorf("get /who = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestClientURLServesOverTCP(t *testing.T) {
	e, _ := start(t, Config{DataDir: t.TempDir(), ClientURL: "http://127.0.0.1:0"})
	endpoints := e.Endpoints()
	if len(endpoints) != 1 || !strings.HasPrefix(endpoints[0], "http://127.0.0.1:") || strings.HasSuffix(endpoints[0], ":0") {
		t.Fatalf("Endpoints() = %v, want one http://127.0.0.1:<bound port>", endpoints)
	}
	remote, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("clientv3.New: %v", err)
	}
	defer remote.Close()
	put(t, e.Client(), "/shared", "1")
	if got := get(t, remote, "/shared"); got != "1" {
		t.Errorf("remote get /shared = %q, want %q", got, "1")
	}
}

func TestInProcessWatch(t *testing.T) {
	e, _ := start(t, Config{DataDir: t.TempDir()})
	ctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(t.Context()), 10*time.Second)
	defer cancel()
	changes := e.Client().Watch(ctx, "/w/", clientv3.WithPrefix())
	put(t, e.Client(), "/w/x", "1")
	select {
	case resp := <-changes:
		if err := resp.Err(); err != nil {
			t.Fatalf("watch: %v", err)
		}
		if len(resp.Events) != 1 || string(resp.Events[0].Kv.Key) != "/w/x" {
			t.Errorf("watch events = %v, want one put of /w/x", resp.Events)
		}
	case <-ctx.Done():
		t.Fatal("no watch event before the deadline")
	}
}

func TestCloseLogsNothing(t *testing.T) {
	_, logs := start(t, Config{DataDir: t.TempDir(), ClientURL: "http://127.0.0.1:0"})
	// start registered Close as cleanup; run a nested test whose cleanup
	// closes a second member, then look at that member's log.
	var closedLogs *observer.ObservedLogs
	t.Run("member", func(t *testing.T) {
		_, closedLogs = start(t, Config{DataDir: filepath.Join(t.TempDir(), "etcd"), ClientURL: "http://127.0.0.1:0"})
	})
	if n := closedLogs.Len(); n != 0 {
		t.Errorf("closing logged %d entries, want none; first: %q %v", n, closedLogs.All()[0].Message, closedLogs.All()[0].Context)
	}
	if n := logs.Len(); n != 0 {
		t.Errorf("a running member logged %d entries, want none; first: %q", n, logs.All()[0].Message)
	}
}

// BenchmarkStart measures a fresh start and close of a member.
func BenchmarkStart(b *testing.B) {
	for b.Loop() {
		e, err := Start(b.Context(), Config{DataDir: b.TempDir(), Logger: zap.NewNop()})
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
