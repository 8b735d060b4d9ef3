package scheduler

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
)

// TestBindWorkers runs the scheduler on more pods than bindings may be in
// flight, with the first bindings held up: it starts no more than
// maxBindsInFlight workers, a refused binding is reported and retried, every
// pod ends bound, and the workers are gone once Start returns.
func TestBindWorkers(t *testing.T) {
	const pods = maxBindsInFlight + 86
	client := fake.NewClientset(makeNode("a"), makeNode("b"), makeNode("c"))
	for i := range pods {
		if _, err := client.CoreV1().Pods("default").Create(t.Context(), makePod(fmt.Sprintf("p-%d", i)), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	release := make(chan struct{})
	var mu sync.Mutex
	bound := map[string]bool{}
	refused := false
	// The fake client runs reactors under its lock: the first binding
	// waits for release, and every other binding waits behind it.
	client.PrependReactor("create", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "binding" {
			return false, nil, nil
		}
		<-release
		b := a.(clienttesting.CreateAction).GetObject().(*corev1.Binding)
		mu.Lock()
		defer mu.Unlock()
		if b.Name == "p-7" && !refused {
			refused = true
			return true, nil, apierrors.NewInternalError(fmt.Errorf("etcd is down"))
		}
		bound[b.Name] = true
		return true, nil, nil
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	s := New(client, factory)
	recorder := record.NewFakeRecorder(10 * pods)
	s.recorder = recorder
	factory.Start(t.Context().Done())
	stop := runScheduler(t, s)

	waitUntil(t, "the bind workers to reach the limit", func() (bool, error) {
		return s.liveWorkers.Load() == maxBindsInFlight, nil
	})
	close(release)
	waitUntil(t, "every pod bound", func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return len(bound) == pods, nil
	})
	if n := s.liveWorkers.Load(); n != maxBindsInFlight {
		t.Errorf("%d bind workers, want %d (workers live until Start ends)", n, maxBindsInFlight)
	}
	var failed, scheduled int
	for len(recorder.Events) > 0 {
		e := <-recorder.Events
		switch {
		case strings.HasPrefix(e, "Warning FailedScheduling Binding rejected"):
			failed++
		case strings.HasPrefix(e, "Normal Scheduled"):
			scheduled++
		}
	}
	if failed != 1 || scheduled != pods {
		t.Errorf("events: %d FailedScheduling, %d Scheduled; want 1 and %d", failed, scheduled, pods)
	}

	stop()
	if n := s.liveWorkers.Load(); n != 0 {
		t.Errorf("%d bind workers left after Start returned", n)
	}
}
