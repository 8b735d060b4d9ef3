package agent

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/klog/v2"
)

// statusWrite is what the agent remembers of its last status write of a
// pod: the pod as the API returned it, and the resourceVersion of the
// pod the status was computed from.
type statusWrite struct {
	basedOn string
	pod     *corev1.Pod
}

// latestPod returns the newest view of pod the agent has: pod itself
// (the informer's copy), or, when the informer has not moved past the
// version the agent's last status write was computed from, pod with the
// status (and resourceVersion) the API answered that write with. Syncs
// computed from it neither undo nor repeat the agent's own last write
// while the informer lags behind.
func (s *podSyncer) latestPod(pod *corev1.Pod) *corev1.Pod {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.written[pod.UID]
	if !ok {
		return pod
	}
	if w.basedOn != pod.ResourceVersion {
		// The informer has seen a newer pod (the write, or later).
		delete(s.written, pod.UID)
		return pod
	}
	// Only the status (and the version it belongs to) is taken from the
	// write: the rest of the pod is the informer's, which at this
	// version is the same.
	fresh := pod.DeepCopy()
	fresh.Status = *w.pod.Status.DeepCopy()
	fresh.ResourceVersion = w.pod.ResourceVersion
	return fresh
}

// writeStatus writes status as pod's status if it differs from it, as
// the kubelet's status manager does: a strategic merge patch of the
// status subresource from pod.Status to status, so writers of the pod's
// metadata or of conditions the agent does not own (scheduler,
// controllers) never make it conflict. The patch carries the pod's UID
// as a precondition: a pod deleted and recreated under the same name is
// not written (the API server answers Conflict, like NotFound a no-op
// here: a patch carries no resourceVersion, and the API server retries
// its own write conflicts, so Conflict can only be the UID's).
func (s *podSyncer) writeStatus(ctx context.Context, pod *corev1.Pod, status corev1.PodStatus) error {
	if apiequality.Semantic.DeepEqual(pod.Status, status) {
		return nil
	}
	patch, err := statusPatch(pod.UID, pod.Status, status)
	if err != nil {
		return err
	}
	updated, err := s.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		klog.FromContext(ctx).V(2).Info("pod gone or replaced; status not written", "pod", klog.KObj(pod), "podUID", pod.UID, "err", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("agent: patching status of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	if updated.UID == pod.UID {
		s.mu.Lock()
		s.written[pod.UID] = statusWrite{basedOn: pod.ResourceVersion, pod: updated}
		s.mu.Unlock()
	}
	return nil
}

// statusPatch returns the strategic merge patch of a pod that turns old
// into new, with uid as metadata.uid (which the API server checks
// against the stored pod's).
func statusPatch(uid types.UID, old, new corev1.PodStatus) ([]byte, error) {
	before, err := json.Marshal(corev1.Pod{Status: old})
	if err != nil {
		return nil, fmt.Errorf("agent: status patch: %w", err)
	}
	after, err := json.Marshal(corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: uid}, Status: new})
	if err != nil {
		return nil, fmt.Errorf("agent: status patch: %w", err)
	}
	patch, err := strategicpatch.CreateTwoWayMergePatch(before, after, corev1.Pod{})
	if err != nil {
		return nil, fmt.Errorf("agent: status patch: %w", err)
	}
	return patch, nil
}
