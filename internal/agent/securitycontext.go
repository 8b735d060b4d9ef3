package agent

import (
	"fmt"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// verifyRunAsNonRoot refuses to start a container whose effective
// securityContext says runAsNonRoot but that would run as root, as the
// kubelet does: with runAsUser 0, or (runAsUser unset) with an image
// whose user is uid 0 or unset. An image user given by name cannot be
// checked and is refused too. image is the runtime's status of the
// container's image (nil: unknown, treated as root). The messages are
// the kubelet's.
func verifyRunAsNonRoot(pod *corev1.Pod, c *corev1.Container, image *runtimeapi.Image) error {
	nonRoot, user := effectiveRunAsNonRoot(pod, c)
	if !nonRoot {
		return nil
	}
	podName := fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
	if user != nil {
		if *user == 0 {
			return fmt.Errorf("container's runAsUser breaks non-root policy (pod: %q, container: %s)", podName, c.Name)
		}
		return nil
	}
	switch {
	case image.GetUid() != nil && image.GetUid().GetValue() != 0:
		return nil
	case image.GetUid() == nil && image.GetUsername() != "":
		return fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: %q, container: %s)", image.GetUsername(), podName, c.Name)
	default:
		return fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", podName, c.Name)
	}
}

// effectiveRunAsNonRoot merges the pod's and the container's
// runAsNonRoot and runAsUser, the container's winning.
func effectiveRunAsNonRoot(pod *corev1.Pod, c *corev1.Container) (nonRoot bool, user *int64) {
	if psc := pod.Spec.SecurityContext; psc != nil {
		nonRoot = psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
		user = psc.RunAsUser
	}
	if csc := c.SecurityContext; csc != nil {
		if csc.RunAsNonRoot != nil {
			nonRoot = *csc.RunAsNonRoot
		}
		if csc.RunAsUser != nil {
			user = csc.RunAsUser
		}
	}
	return nonRoot, user
}

// seccompProfile maps the container's seccompProfile (or else the pod's)
// onto CRI: RuntimeDefault and Unconfined as they are, Localhost as a
// file under seccompRoot (the kubelet's <root>/seccomp). Nil when
// neither sets one: the runtime's own default (containerd: unconfined,
// as upstream without SeccompDefault).
func seccompProfile(pod *corev1.Pod, c *corev1.Container, seccompRoot string) *runtimeapi.SecurityProfile {
	var p *corev1.SeccompProfile
	if psc := pod.Spec.SecurityContext; psc != nil {
		p = psc.SeccompProfile
	}
	if csc := c.SecurityContext; csc != nil && csc.SeccompProfile != nil {
		p = csc.SeccompProfile
	}
	if p == nil {
		return nil
	}
	switch p.Type {
	case corev1.SeccompProfileTypeRuntimeDefault:
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}
	case corev1.SeccompProfileTypeUnconfined:
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}
	case corev1.SeccompProfileTypeLocalhost:
		ref := ""
		if p.LocalhostProfile != nil {
			ref = filepath.Join(seccompRoot, filepath.Clean("/"+*p.LocalhostProfile))
		}
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: ref}
	}
	return nil
}
