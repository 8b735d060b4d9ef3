package agent

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/navarch/navarch/internal/agent/cri"
)

// Annotations the agent keeps on containers (the kubelet's keys).
const (
	annotationRestartCount           = "io.kubernetes.container.restartCount"
	annotationTerminationMessagePath = "io.kubernetes.container.terminationMessagePath"
)

// containerLabels identify a container's pod and name.
func containerLabels(pod *corev1.Pod, name string) map[string]string {
	return map[string]string{
		cri.LabelPodName:       pod.Name,
		cri.LabelPodNamespace:  pod.Namespace,
		cri.LabelPodUID:        string(pod.UID),
		cri.LabelContainerName: name,
		cri.LabelManagedBy:     cri.ManagedByAgent,
	}
}

// containerConfig builds the CRI config of container c (attempt is its
// restart count) with the resolved env. Command and args are expanded
// against env, as the kubelet does.
func containerConfig(pod *corev1.Pod, c *corev1.Container, attempt uint32, env []envVar, image string, memoryCapacity int64) *runtimeapi.ContainerConfig {
	var list envList
	kvs := make([]*runtimeapi.KeyValue, 0, len(env))
	for _, v := range env {
		list.set(v.name, v.value)
		kvs = append(kvs, &runtimeapi.KeyValue{Key: v.name, Value: []byte(v.value)})
	}
	expandAll := func(in []string) []string {
		if in == nil {
			return nil
		}
		out := make([]string, len(in))
		for i, s := range in {
			out[i] = expand(s, list.lookup)
		}
		return out
	}
	cfg := &runtimeapi.ContainerConfig{
		Metadata:   &runtimeapi.ContainerMetadata{Name: c.Name, Attempt: attempt},
		Image:      &runtimeapi.ImageSpec{Image: image, UserSpecifiedImage: c.Image},
		Command:    expandAll(c.Command),
		Args:       expandAll(c.Args),
		WorkingDir: c.WorkingDir,
		Envs:       kvs,
		Labels:     containerLabels(pod, c.Name),
		Annotations: map[string]string{
			annotationRestartCount:           strconv.FormatUint(uint64(attempt), 10),
			annotationTerminationMessagePath: c.TerminationMessagePath,
		},
		LogPath:   containerLogPath(c.Name, attempt),
		Stdin:     c.Stdin,
		StdinOnce: c.StdinOnce,
		Tty:       c.TTY,
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources:       linuxResources(pod, c, memoryCapacity),
			SecurityContext: linuxSecurityContext(pod, c),
		},
	}
	cfg.Annotations[annotationTerminationMessagePolicy] = string(c.TerminationMessagePolicy)
	return cfg
}

// linuxResources turns requests and limits into cgroup settings, as the
// kubelet does on cgroupfs: CPU shares from the request, a CFS quota from
// the limit, the memory limit, and the OOM score adjustment of the pod's
// QoS class. The score is never negative: some kernels refuse a negative
// oom_score_adj, and containerd is told to clamp it anyway.
func linuxResources(pod *corev1.Pod, c *corev1.Container, memoryCapacity int64) *runtimeapi.LinuxContainerResources {
	r := &runtimeapi.LinuxContainerResources{}
	cpuRequest := c.Resources.Requests.Cpu()
	cpuLimit := c.Resources.Limits.Cpu()
	if cpuRequest.IsZero() && !cpuLimit.IsZero() {
		cpuRequest = cpuLimit
	}
	r.CpuShares = max(cpuRequest.MilliValue()*1024/1000, 2)
	if !cpuLimit.IsZero() {
		const period = 100000
		r.CpuPeriod = period
		r.CpuQuota = max(cpuLimit.MilliValue()*period/1000, 1000)
	}
	if limit := c.Resources.Limits.Memory(); !limit.IsZero() {
		r.MemoryLimitInBytes = limit.Value()
	}
	r.OomScoreAdj = oomScoreAdj(pod, c, memoryCapacity)
	return r
}

// oomScoreAdj follows the kubelet's QoS policy (Guaranteed -997,
// BestEffort 1000, Burstable 2..999 by memory request share), then
// clamps it to 0 or more.
func oomScoreAdj(pod *corev1.Pod, c *corev1.Container, memoryCapacity int64) int64 {
	switch podQOSClass(pod) {
	case corev1.PodQOSGuaranteed:
		return 0
	case corev1.PodQOSBestEffort:
		return 1000
	}
	request := c.Resources.Requests.Memory().Value()
	if memoryCapacity <= 0 {
		return 999
	}
	score := 1000 - (1000*request)/memoryCapacity
	return min(max(score, 2), 999)
}

// podQOSClass is the pod's QoS class: the one the API server stored, or
// computed as upstream does when it is missing.
func podQOSClass(pod *corev1.Pod) corev1.PodQOSClass {
	if pod.Status.QOSClass != "" {
		return pod.Status.QOSClass
	}
	requests, limits := false, false
	guaranteed := true
	for _, c := range pod.Spec.Containers {
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[res]
			lim, hasLim := c.Resources.Limits[res]
			if hasReq && !req.IsZero() {
				requests = true
			}
			if hasLim && !lim.IsZero() {
				limits = true
			}
			if !hasLim || lim.IsZero() || (hasReq && req.Cmp(lim) != 0) {
				guaranteed = false
			}
		}
	}
	switch {
	case !requests && !limits:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// linuxSecurityContext maps the container's (and pod's) security context
// onto CRI. Namespaces follow the pod's sandbox.
func linuxSecurityContext(pod *corev1.Pod, c *corev1.Container) *runtimeapi.LinuxContainerSecurityContext {
	sc := &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: podNamespaceOptions(pod)}
	if psc := pod.Spec.SecurityContext; psc != nil {
		if psc.RunAsUser != nil {
			sc.RunAsUser = &runtimeapi.Int64Value{Value: *psc.RunAsUser}
		}
		if psc.RunAsGroup != nil {
			sc.RunAsGroup = &runtimeapi.Int64Value{Value: *psc.RunAsGroup}
		}
		sc.SupplementalGroups = psc.SupplementalGroups
	}
	csc := c.SecurityContext
	if csc == nil {
		return sc
	}
	if csc.RunAsUser != nil {
		sc.RunAsUser = &runtimeapi.Int64Value{Value: *csc.RunAsUser}
	}
	if csc.RunAsGroup != nil {
		sc.RunAsGroup = &runtimeapi.Int64Value{Value: *csc.RunAsGroup}
	}
	if csc.Privileged != nil {
		sc.Privileged = *csc.Privileged
	}
	if csc.ReadOnlyRootFilesystem != nil {
		sc.ReadonlyRootfs = *csc.ReadOnlyRootFilesystem
	}
	if csc.AllowPrivilegeEscalation != nil {
		sc.NoNewPrivs = !*csc.AllowPrivilegeEscalation
	}
	if caps := csc.Capabilities; caps != nil {
		sc.Capabilities = &runtimeapi.Capability{}
		for _, a := range caps.Add {
			sc.Capabilities.AddCapabilities = append(sc.Capabilities.AddCapabilities, string(a))
		}
		for _, d := range caps.Drop {
			sc.Capabilities.DropCapabilities = append(sc.Capabilities.DropCapabilities, string(d))
		}
	}
	return sc
}
