package volume

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/test/poll"
)

// localPathVolume is a local-path PV of node at dir, being deleted.
func localPathVolume(name, node, dir string) *corev1.PersistentVolume {
	now := metav1.Now()
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, UID: types.UID("uid-" + name), DeletionTimestamp: &now,
			Finalizers:  []string{"kubernetes.io/pv-protection", LocalPathCleanupFinalizer},
			Annotations: map[string]string{annProvisionedBy: LocalPathProvisioner},
		},
		Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
				Path: dir, Type: ptr.To(corev1.HostPathDirectoryOrCreate)}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
			}}}},
		},
	}
}

func TestLocalPathCleanup(t *testing.T) {
	storage := t.TempDir()
	mkdir := func(name string) string {
		dir := filepath.Join(storage, name)
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o777); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	mine := localPathVolume("pvc-mine", "n1", mkdir("pvc-mine_default_data"))
	other := localPathVolume("pvc-other", "n2", mkdir("pvc-other_default_data"))
	odd := localPathVolume("pvc-odd", "n1", mkdir("not-a-claim"))
	alive := localPathVolume("pvc-alive", "n1", mkdir("pvc-alive_default_data"))
	alive.DeletionTimestamp = nil
	used := localPathVolume("pvc-used", "n1", mkdir("pvc-used_default_data"))
	claim, _ := boundClaim("used", "pvc-used")
	used.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "default", Name: "used", UID: claim.UID}
	claim.Status.Phase = corev1.ClaimBound
	m := newTestManager(t, mine, other, odd, alive, used, claim)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// A pod on this node uses pvc-used: its directory must wait.
	pod := testPod(claimVolume("data", "used", false))
	if _, err := m.SetUp(ctx, pod); err != nil {
		t.Fatal(err)
	}
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	finalizers := func(name string) []string {
		pv, err := m.client.CoreV1().PersistentVolumes().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return pv.Finalizers
	}
	poll.Until(t, 10*time.Second, "pvc-mine cleaned up", func() bool {
		return !slices.Contains(finalizers("pvc-mine"), LocalPathCleanupFinalizer)
	})
	if _, err := os.Stat(mine.Spec.HostPath.Path); !os.IsNotExist(err) {
		t.Errorf("directory of pvc-mine still exists (err %v)", err)
	}
	if got := finalizers("pvc-mine"); !slices.Equal(got, []string{"kubernetes.io/pv-protection"}) {
		t.Errorf("finalizers of pvc-mine = %v, want only the others'", got)
	}
	// Another node's volume, a path that is not a claim directory, a
	// volume not being deleted and one in use are left alone.
	for _, pv := range []*corev1.PersistentVolume{other, odd, alive, used} {
		if !slices.Contains(finalizers(pv.Name), LocalPathCleanupFinalizer) {
			t.Errorf("finalizer of %s removed", pv.Name)
		}
		if _, err := os.Stat(filepath.Join(pv.Spec.HostPath.Path, "data")); err != nil {
			t.Errorf("directory of %s touched: %v", pv.Name, err)
		}
	}

	// Once the pod is gone, the in-use volume goes too (on a retry).
	if err := m.TearDown(ctx, pod.UID); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "pvc-used cleaned up", func() bool {
		return !slices.Contains(finalizers("pvc-used"), LocalPathCleanupFinalizer)
	})
	if _, err := os.Stat(used.Spec.HostPath.Path); !os.IsNotExist(err) {
		t.Errorf("directory of pvc-used still exists (err %v)", err)
	}
}
