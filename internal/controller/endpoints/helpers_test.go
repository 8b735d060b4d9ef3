package endpoints

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
)

type runtimeObject = runtime.Object

func toRuntime(objects []runtimeObject) []runtime.Object { return objects }

func mustAdd(t *testing.T, indexer cache.Indexer, obj interface{}) {
	t.Helper()
	if err := indexer.Add(obj); err != nil {
		t.Fatalf("adding to the cache: %v", err)
	}
}

func sorted(keys []string) []string {
	if len(keys) == 0 {
		return nil
	}
	slices.Sort(keys)
	return keys
}
