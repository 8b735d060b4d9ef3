package agent

import (
	"context"
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

// statusPatches counts the status writes the syncer sent, and fails the
// test on a status update (the agent only patches).
func statusPatches(t *testing.T, h *syncHarness) int {
	t.Helper()
	n := 0
	for _, a := range h.client.Actions() {
		if a.GetSubresource() != "status" {
			continue
		}
		switch a.GetVerb() {
		case "patch":
			if pt := a.(clienttesting.PatchAction).GetPatchType(); pt != types.StrategicMergePatchType {
				t.Errorf("status patch of type %s, want strategic merge", pt)
			}
			n++
		case "update":
			t.Errorf("status written with an update (a stale resourceVersion conflicts), want a patch")
		}
	}
	return n
}

// TestWriteStatusAlongsideOtherWriters: a sync computed from a pod the
// informer has not refreshed since someone else changed it (a label, a
// condition the agent does not own) still writes the status, and keeps
// what the other writer wrote.
func TestWriteStatusAlongsideOtherWriters(t *testing.T) {
	h := newSyncHarness(t)
	h.runtime.AddImage("localhost/app:1")
	pod := h.createPod(testPod("busy"))
	h.sync(pod)
	stale, err := h.client.CoreV1().Pods("default").Get(context.Background(), "busy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if stale.Status.Phase != corev1.PodRunning {
		t.Fatalf("phase %s after the first sync, want Running", stale.Status.Phase)
	}
	// Another writer labels the pod and adds a condition of its own.
	other := stale.DeepCopy()
	other.Labels["team"] = "blue"
	if other, err = h.client.CoreV1().Pods("default").Update(context.Background(), other, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	other.Status.Conditions = append(other.Status.Conditions, corev1.PodCondition{Type: "example.com/gate", Status: corev1.ConditionTrue})
	if _, err = h.client.CoreV1().Pods("default").UpdateStatus(context.Background(), other, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.client.ClearActions()

	// The container exits and is restarted at once (the first restart
	// has no back-off).
	if err := h.runtime.Exit(h.containerID("app"), 1, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.syncer.syncPod(context.Background(), stale); err != nil {
		t.Fatalf("syncPod from a stale pod: %v", err)
	}
	got, err := h.client.CoreV1().Pods("default").Get(context.Background(), "busy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cs := got.Status.ContainerStatuses; len(cs) != 1 || cs[0].RestartCount != 1 || cs[0].State.Running == nil ||
		cs[0].LastTerminationState.Terminated == nil || cs[0].LastTerminationState.Terminated.ExitCode != 1 {
		t.Errorf("container statuses %+v, want running after 1 restart, last state exit 1", cs)
	}
	if got.Labels["team"] != "blue" {
		t.Errorf("labels %v: the other writer's label is gone", got.Labels)
	}
	if c := condition(got, "example.com/gate"); c.Status != corev1.ConditionTrue {
		t.Errorf("conditions %+v: the other writer's condition is gone", got.Status.Conditions)
	}
	if n := statusPatches(t, h); n != 1 {
		t.Errorf("%d status patches, want 1", n)
	}
	// The informer still lags: another sync from the same stale pod
	// neither undoes nor repeats the write.
	if _, err := h.syncer.syncPod(context.Background(), stale); err != nil {
		t.Fatalf("syncPod: %v", err)
	}
	if n := statusPatches(t, h); n != 1 {
		t.Errorf("%d status patches after a sync with nothing new, want still 1", n)
	}
	// Once the informer catches up, its pod is the base again.
	if _, err := h.syncer.syncPod(context.Background(), got); err != nil {
		t.Fatalf("syncPod: %v", err)
	}
	if n := statusPatches(t, h); n != 1 {
		t.Errorf("%d status patches after the informer caught up, want still 1", n)
	}
}

// TestWriteStatusUIDPrecondition: the status of a pod deleted and
// recreated under the same name is never written onto the new pod.
func TestWriteStatusUIDPrecondition(t *testing.T) {
	h := newSyncHarness(t)
	h.runtime.AddImage("localhost/app:1")
	// As the API server: a status patch whose metadata.uid is not the
	// stored pod's conflicts.
	h.client.PrependReactor("patch", "pods", func(action clienttesting.Action) (bool, runtime.Object, error) {
		pa := action.(clienttesting.PatchAction)
		var patch struct {
			Metadata struct {
				UID types.UID `json:"uid"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(pa.GetPatch(), &patch); err != nil {
			return true, nil, apierrors.NewBadRequest(err.Error())
		}
		obj, err := h.client.Tracker().Get(corev1.SchemeGroupVersion.WithResource("pods"), pa.GetNamespace(), pa.GetName())
		if err != nil {
			return true, nil, err
		}
		if stored := obj.(*corev1.Pod).UID; patch.Metadata.UID != stored {
			return true, nil, apierrors.NewConflict(corev1.Resource("pods"), pa.GetName(),
				&uidMismatch{patch.Metadata.UID, stored})
		}
		return false, nil, nil
	})
	old := h.createPod(testPod("same"))
	h.sync(old)
	if err := h.client.CoreV1().Pods("default").Delete(context.Background(), "same", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	recreated := testPod("same")
	recreated.UID = "uid-same-2"
	h.createPod(recreated)

	if err := h.runtime.Exit(h.containerID("app"), 1, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.syncer.syncPod(context.Background(), old); err != nil {
		t.Fatalf("syncPod of the old pod: %v, want the conflict taken as the pod being gone", err)
	}
	got, err := h.client.CoreV1().Pods("default").Get(context.Background(), "same", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.UID != "uid-same-2" || len(got.Status.ContainerStatuses) != 0 || got.Status.Phase != "" {
		t.Errorf("recreated pod %s has status %+v, want none (the old pod's status must not land on it)", got.UID, got.Status)
	}
}

type uidMismatch struct{ sent, stored types.UID }

func (e *uidMismatch) Error() string {
	return "Precondition failed: UID in precondition: " + string(e.sent) + ", UID in object meta: " + string(e.stored)
}

// TestSyncPodDeletionWritesFinalStatus: a pod being deleted keeps its
// status current until its object goes: its containers show as
// terminated with their exit codes, it is no longer ready, and its phase
// is terminal when the agent deletes the object.
func TestSyncPodDeletionWritesFinalStatus(t *testing.T) {
	h := newSyncHarness(t)
	h.runtime.AddImage("localhost/app:1")
	pod := h.createPod(testPod("ending"))
	running, _ := h.sync(pod)
	if !podIsReady(running) {
		t.Fatalf("pod not ready before deletion: %+v", running.Status)
	}
	// As the API server's graceful deletion: the object stays, with a
	// deletionTimestamp, until the agent deletes it with grace 0.
	running.DeletionTimestamp = &metav1.Time{Time: h.clock.Now()}
	running.DeletionGracePeriodSeconds = ptr.To(int64(5))
	deleting, err := h.client.CoreV1().Pods("default").Update(context.Background(), running, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var last *corev1.Pod
	h.client.PrependReactor("delete", "pods", func(action clienttesting.Action) (bool, runtime.Object, error) {
		da := action.(clienttesting.DeleteAction)
		obj, err := h.client.Tracker().Get(corev1.SchemeGroupVersion.WithResource("pods"), da.GetNamespace(), da.GetName())
		if err == nil {
			last = obj.(*corev1.Pod).DeepCopy()
		}
		return false, nil, nil
	})
	h.client.ClearActions()
	if _, err := h.syncer.syncPod(context.Background(), deleting); err != nil {
		t.Fatalf("syncPod: %v", err)
	}
	if last == nil {
		t.Fatal("the pod object was not deleted")
	}
	if last.DeletionTimestamp == nil {
		t.Errorf("the pod lost its deletionTimestamp")
	}
	cs := last.Status.ContainerStatuses
	if len(cs) != 1 || cs[0].State.Terminated == nil || cs[0].Ready {
		t.Fatalf("container statuses before the object went: %+v, want app terminated, not ready", cs)
	}
	if term := cs[0].State.Terminated; term.ExitCode != 137 || term.Reason != "Error" || term.FinishedAt.IsZero() {
		t.Errorf("app terminated %+v, want exit code 137, reason Error, a finish time", term)
	}
	if c := condition(last, corev1.PodReady); c.Status != corev1.ConditionFalse {
		t.Errorf("Ready condition %+v, want False", c)
	}
	if last.Status.Phase != corev1.PodFailed {
		t.Errorf("phase %s before the object went, want Failed (the app was killed)", last.Status.Phase)
	}
	if n := statusPatches(t, h); n != 1 {
		t.Errorf("%d status patches while terminating, want 1 (nothing changed before the kill)", n)
	}
}
