package controller

import (
	"fmt"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func TestPodsOwnedOrOrphaned(t *testing.T) {
	for _, indexed := range []bool{true, false} {
		t.Run(fmt.Sprintf("indexed=%v", indexed), func(t *testing.T) {
			testPodsOwnedOrOrphaned(t, indexed)
		})
	}
}

func testPodsOwnedOrOrphaned(t *testing.T, indexed bool) {
	factory := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	informer := factory.Core().V1().Pods().Informer()
	// Twice: the second call must be a no-op, as for a second controller.
	for i := 0; indexed && i < 2; i++ {
		if err := AddPodControllerUIDIndexer(informer); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	other := func(p *corev1.Pod) { p.Namespace = "other" }
	for _, pod := range []*corev1.Pod{
		newPod("mine", ownedBy("owner-uid")),
		newPod("orphan"),
		newPod("theirs", ownedBy("other-uid")),
		newPod("orphan-elsewhere", other),
	} {
		if err := informer.GetIndexer().Add(pod); err != nil {
			t.Fatal(err)
		}
	}
	pods, err := PodsOwnedOrOrphaned(informer.GetIndexer(), "ns", "owner-uid")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pods {
		got = append(got, p.Name)
	}
	sort.Strings(got)
	if diff := cmp.Diff([]string{"mine", "orphan"}, got); diff != "" {
		t.Errorf("pods (-want +got):\n%s", diff)
	}
}
