package simnode

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// onPod queues a pod of a live simulated node that needs the kubelet's
// attention: one to start (report Running) or one to finish deleting. It
// also remembers the address of a pod that has one (after a restart).
func (s *Simulator) onPod(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	n := s.byName[pod.Spec.NodeName]
	if n == nil {
		return
	}
	if pod.Status.PodIP != "" && !pod.Spec.HostNetwork {
		n.ips.reserve(pod.UID, pod.Status.PodIP)
	}
	if n.stopped.Load() {
		return
	}
	if pod.DeletionTimestamp != nil || (!terminal(pod) && !isRunning(pod)) {
		key, err := cache.MetaNamespaceKeyFunc(pod)
		if err == nil {
			s.queue.Add(key)
		}
	}
}

// onPodDelete frees the address of a deleted pod.
func (s *Simulator) onPodDelete(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if n := s.byName[pod.Spec.NodeName]; n != nil {
		n.ips.release(pod.UID)
	}
}

func (s *Simulator) processNext(ctx context.Context) bool {
	key, quit := s.queue.Get()
	if quit {
		return false
	}
	defer s.queue.Done(key)
	if err := s.syncPod(ctx, key); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "syncing simulated pod", "pod", key)
		s.queue.AddRateLimited(key)
		return true
	}
	s.queue.Forget(key)
	return true
}

// syncPod does for one pod what the kubelet would: finish the deletion
// of a pod being deleted (its containers "stop" at once), or report a new
// pod Running and Ready with an address from the node's /24.
func (s *Simulator) syncPod(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := s.pods.Pods(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("simnode: reading pod %s: %w", key, err)
	}
	n := s.byName[pod.Spec.NodeName]
	if n == nil || n.stopped.Load() {
		return nil
	}
	pods := s.client.CoreV1().Pods(namespace)
	if pod.DeletionTimestamp != nil {
		zero := int64(0)
		uid := pod.UID
		err := pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("simnode: deleting pod %s: %w", key, err)
		}
		klog.FromContext(ctx).V(4).Info("finished pod deletion", "pod", klog.KObj(pod), "node", n.name)
		return nil
	}
	if terminal(pod) || isRunning(pod) {
		return nil
	}
	podIP := n.ip
	if !pod.Spec.HostNetwork {
		if podIP, err = n.ips.allocate(pod.UID); err != nil {
			return err
		}
	}
	// The status is new; the rest is the informer's, shared read-only
	// with the copy the update encodes.
	updated := new(corev1.Pod)
	*updated = *pod
	updated.Status = runningStatus(pod, n.ip, podIP, metav1.Now())
	if _, err := pods.UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			n.ips.release(pod.UID)
			return nil
		}
		return fmt.Errorf("simnode: reporting status of pod %s: %w", key, err)
	}
	klog.FromContext(ctx).V(4).Info("pod running", "pod", klog.KObj(pod), "node", n.name, "ip", podIP)
	return nil
}

func terminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// isRunning tells whether the pod already shows what runningStatus
// reports, so nothing needs writing.
func isRunning(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodRunning || pod.Status.PodIP == "" ||
		len(pod.Status.ContainerStatuses) != len(pod.Spec.Containers) {
		return false
	}
	want := map[corev1.PodConditionType]corev1.ConditionStatus{
		corev1.PodInitialized: corev1.ConditionTrue, corev1.ContainersReady: corev1.ConditionTrue,
		corev1.PodReady: readyStatus(pod),
	}
	for _, c := range pod.Status.Conditions {
		if w, ok := want[c.Type]; ok {
			if c.Status != w {
				return false
			}
			delete(want, c.Type)
		}
	}
	return len(want) == 0
}

// readyStatus is the pod's Ready condition once its containers are
// ready: true unless a readiness gate's condition is not (yet) true.
func readyStatus(pod *corev1.Pod) corev1.ConditionStatus {
	if unmetReadinessGate(pod) != "" {
		return corev1.ConditionFalse
	}
	return corev1.ConditionTrue
}

// unmetReadinessGate returns the first readiness gate whose condition is
// not true, "" when all are.
func unmetReadinessGate(pod *corev1.Pod) corev1.PodConditionType {
	for _, gate := range pod.Spec.ReadinessGates {
		met := false
		for _, c := range pod.Status.Conditions {
			if c.Type == gate.ConditionType && c.Status == corev1.ConditionTrue {
				met = true
			}
		}
		if !met {
			return gate.ConditionType
		}
	}
	return ""
}

// runningStatus is the status a kubelet reports once every container of
// the pod started: phase Running, host and pod addresses, start time,
// the pod conditions true (Ready subject to readiness gates), init
// containers completed (sidecars running) and containers running and
// ready with no restarts. It keeps what the pod's status already holds
// (QoS class, scheduling condition, start time).
func runningStatus(pod *corev1.Pod, hostIP, podIP string, now metav1.Time) corev1.PodStatus {
	st := *pod.Status.DeepCopy()
	st.Phase = corev1.PodRunning
	st.Reason, st.Message = "", ""
	st.HostIP, st.HostIPs = hostIP, []corev1.HostIP{{IP: hostIP}}
	st.PodIP, st.PodIPs = podIP, []corev1.PodIP{{IP: podIP}}
	st.ObservedGeneration = pod.Generation
	if st.StartTime == nil {
		st.StartTime = &now
	}
	setCondition(&st, corev1.PodCondition{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue}, now)
	setCondition(&st, corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}, now)
	ready := corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue}
	if gate := unmetReadinessGate(pod); gate != "" {
		ready.Status, ready.Reason = corev1.ConditionFalse, "ReadinessGatesNotReady"
		ready.Message = fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", gate)
	}
	setCondition(&st, ready, now)
	setCondition(&st, corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionTrue}, now)
	setCondition(&st, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, now)

	st.InitContainerStatuses = st.InitContainerStatuses[:0]
	for _, c := range pod.Spec.InitContainers {
		cs := containerStatus(pod, &c, now)
		if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			// A plain init container ran to completion.
			started := false
			cs.Started = &started
			cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now, ContainerID: cs.ContainerID,
			}}
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}
	if len(st.InitContainerStatuses) == 0 {
		st.InitContainerStatuses = nil
	}
	st.ContainerStatuses = make([]corev1.ContainerStatus, 0, len(pod.Spec.Containers))
	for _, c := range pod.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, containerStatus(pod, &c, now))
	}
	return st
}

// containerStatus is a container that started at now and is ready.
func containerStatus(pod *corev1.Pod, c *corev1.Container, now metav1.Time) corev1.ContainerStatus {
	id := sha256.Sum256([]byte(string(pod.UID) + "/" + c.Name))
	image := sha256.Sum256([]byte(c.Image))
	started := true
	return corev1.ContainerStatus{
		Name:         c.Name,
		Image:        c.Image,
		ImageID:      "sha256:" + hex.EncodeToString(image[:]),
		ContainerID:  "containerd://" + hex.EncodeToString(id[:]),
		Ready:        true,
		Started:      &started,
		RestartCount: 0,
		State:        corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
	}
}

// setCondition sets a pod condition, keeping its transition time when
// its status does not change.
func setCondition(st *corev1.PodStatus, c corev1.PodCondition, now metav1.Time) {
	c.LastTransitionTime = now
	for i := range st.Conditions {
		if st.Conditions[i].Type != c.Type {
			continue
		}
		if st.Conditions[i].Status == c.Status {
			c.LastTransitionTime = st.Conditions[i].LastTransitionTime
		}
		st.Conditions[i] = c
		return
	}
	st.Conditions = append(st.Conditions, c)
}
