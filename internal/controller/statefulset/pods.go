package statefulset

import (
	"fmt"
	"regexp"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/controller"
)

// podNamePattern splits "<parent>-<ordinal>".
var podNamePattern = regexp.MustCompile(`^(.*)-([0-9]+)$`)

// podOrdinal returns the parent name and ordinal of a pod named like a
// StatefulSet's, or ok false.
func podOrdinal(pod *corev1.Pod) (parent string, ordinal int, ok bool) {
	m := podNamePattern.FindStringSubmatch(pod.Name)
	if m == nil {
		return "", 0, false
	}
	ordinal, err := strconv.Atoi(m[2])
	if err != nil {
		return "", 0, false
	}
	return m[1], ordinal, true
}

// isMember reports whether a pod is named as one of set's.
func isMember(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	parent, _, ok := podOrdinal(pod)
	return ok && parent == set.Name
}

// podName is the name of the pod of an ordinal.
func podName(set *appsv1.StatefulSet, ordinal int) string {
	return fmt.Sprintf("%s-%d", set.Name, ordinal)
}

// claimName is the name of a template's claim for an ordinal.
func claimName(set *appsv1.StatefulSet, claim *corev1.PersistentVolumeClaim, ordinal int) string {
	return fmt.Sprintf("%s-%s-%d", claim.Name, set.Name, ordinal)
}

// startOrdinal is the first ordinal of the set.
func startOrdinal(set *appsv1.StatefulSet) int {
	if set.Spec.Ordinals != nil {
		return int(set.Spec.Ordinals.Start)
	}
	return 0
}

// newPod builds the pod of ordinal from template (of revision revName).
func newPod(set *appsv1.StatefulSet, template *corev1.PodTemplateSpec, revName string, ordinal int) (*corev1.Pod, error) {
	pod, err := controller.PodFromTemplate(template, set, metav1.NewControllerRef(set, controllerKind))
	if err != nil {
		return nil, fmt.Errorf("statefulset: %w", err)
	}
	pod.GenerateName = ""
	pod.Name = podName(set, ordinal)
	pod.Namespace = set.Namespace
	setIdentity(set, pod, ordinal)
	setStorage(set, pod, ordinal)
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[appsv1.StatefulSetRevisionLabel] = revName
	return pod, nil
}

// setIdentity gives a pod its stable network identity and labels.
func setIdentity(set *appsv1.StatefulSet, pod *corev1.Pod, ordinal int) {
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[appsv1.StatefulSetPodNameLabel] = pod.Name
	pod.Labels[appsv1.PodIndexLabel] = strconv.Itoa(ordinal)
	pod.Spec.Hostname = pod.Name
	pod.Spec.Subdomain = set.Spec.ServiceName
}

// identityMatches reports whether a pod's labels name it right (its
// hostname and subdomain cannot change after creation).
func identityMatches(set *appsv1.StatefulSet, pod *corev1.Pod, ordinal int) bool {
	return pod.Labels[appsv1.StatefulSetPodNameLabel] == pod.Name &&
		pod.Labels[appsv1.PodIndexLabel] == strconv.Itoa(ordinal)
}

// setStorage points the pod's volumes of the claim templates at the
// ordinal's claims, adding volumes the template lacks.
func setStorage(set *appsv1.StatefulSet, pod *corev1.Pod, ordinal int) {
	claims := map[string]string{}
	for i := range set.Spec.VolumeClaimTemplates {
		tmpl := &set.Spec.VolumeClaimTemplates[i]
		claims[tmpl.Name] = claimName(set, tmpl, ordinal)
	}
	var volumes []corev1.Volume
	for _, v := range pod.Spec.Volumes {
		if _, ok := claims[v.Name]; ok {
			continue
		}
		volumes = append(volumes, v)
	}
	for i := range set.Spec.VolumeClaimTemplates {
		tmpl := &set.Spec.VolumeClaimTemplates[i]
		volumes = append(volumes, corev1.Volume{
			Name: tmpl.Name,
			VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
				ClaimName: claims[tmpl.Name],
			}},
		})
	}
	pod.Spec.Volumes = volumes
}

// newClaims returns the claims the pod of ordinal needs, named and
// labelled as upstream does.
func newClaims(set *appsv1.StatefulSet, ordinal int) []*corev1.PersistentVolumeClaim {
	var out []*corev1.PersistentVolumeClaim
	for i := range set.Spec.VolumeClaimTemplates {
		tmpl := &set.Spec.VolumeClaimTemplates[i]
		claim := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{
				Name:        claimName(set, tmpl, ordinal),
				Namespace:   set.Namespace,
				Labels:      map[string]string{},
				Annotations: tmpl.Annotations,
			},
			Spec: *tmpl.Spec.DeepCopy(),
		}
		for k, v := range tmpl.Labels {
			claim.Labels[k] = v
		}
		if set.Spec.Selector != nil {
			for k, v := range set.Spec.Selector.MatchLabels {
				claim.Labels[k] = v
			}
		}
		if retention := set.Spec.PersistentVolumeClaimRetentionPolicy; retention != nil && retention.WhenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
			claim.OwnerReferences = append(claim.OwnerReferences, metav1.OwnerReference{
				APIVersion: controllerKind.GroupVersion().String(), Kind: controllerKind.Kind,
				Name: set.Name, UID: set.UID, BlockOwnerDeletion: ptr.To(true),
			})
		}
		out = append(out, claim)
	}
	return out
}

// Pod states, as the controller reads them.

func isCreated(pod *corev1.Pod) bool { return pod.Status.Phase != "" }

func isTerminating(pod *corev1.Pod) bool { return pod.DeletionTimestamp != nil }

func isFailed(pod *corev1.Pod) bool { return pod.Status.Phase == corev1.PodFailed }

func isSucceeded(pod *corev1.Pod) bool { return pod.Status.Phase == corev1.PodSucceeded }

func isRunningAndReady(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodRunning && controller.IsPodReady(pod)
}

func isHealthy(pod *corev1.Pod) bool { return isRunningAndReady(pod) && !isTerminating(pod) }
