package pod

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Default values upstream's defaulters and admission plugins give a pod.
const (
	defaultTerminationGracePeriodSeconds int64 = 30
	defaultSchedulerName                       = "default-scheduler"
	defaultServiceAccountName                  = "default"
	defaultTerminationMessagePath              = "/dev/termination-log"
	// defaultVolumeFileMode is 0644, the mode of files projected from
	// configMaps, secrets and the downward API.
	defaultVolumeFileMode int32 = 0o644
	// defaultTolerationSeconds is how long a pod stays bound to a node
	// that became not-ready or unreachable (DefaultTolerationSeconds
	// admission).
	defaultTolerationSeconds int64 = 300
)

// Taints the node lifecycle controller puts on failing nodes; every pod
// tolerates them for defaultTolerationSeconds unless it says otherwise.
const (
	taintNodeNotReady    = "node.kubernetes.io/not-ready"
	taintNodeUnreachable = "node.kubernetes.io/unreachable"
)

// DefaultPodSpec fills the unset fields of a pod spec as upstream's v1
// defaulters do for pods and pod templates alike: restartPolicy Always,
// dnsPolicy ClusterFirst, securityContext {}, terminationGracePeriodSeconds
// 30, schedulerName default-scheduler, and the defaults of every container
// (termination message, image pull policy, port protocol, probes, env
// field references) and volume (file modes, emptyDir when no source is
// set), and fills serviceAccountName and its deprecated alias
// serviceAccount from each other. It does not set what upstream sets only
// on Pod objects (enableServiceLinks, requests copied from limits, host
// ports of a host-network pod) nor what admission adds on pod creation;
// the pod strategy does those.
func DefaultPodSpec(spec *corev1.PodSpec) {
	if spec.DNSPolicy == "" {
		spec.DNSPolicy = corev1.DNSClusterFirst
	}
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = corev1.RestartPolicyAlways
	}
	// serviceAccount is the deprecated name of serviceAccountName; upstream
	// fills one from the other on every write.
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = spec.DeprecatedServiceAccount
	}
	spec.DeprecatedServiceAccount = spec.ServiceAccountName
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	if spec.TerminationGracePeriodSeconds == nil {
		grace := defaultTerminationGracePeriodSeconds
		spec.TerminationGracePeriodSeconds = &grace
	}
	if spec.SchedulerName == "" {
		spec.SchedulerName = defaultSchedulerName
	}
	for i := range spec.InitContainers {
		defaultContainer(&spec.InitContainers[i])
	}
	for i := range spec.Containers {
		defaultContainer(&spec.Containers[i])
	}
	for i := range spec.EphemeralContainers {
		defaultContainer((*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon))
	}
	for i := range spec.Volumes {
		defaultVolume(&spec.Volumes[i])
	}
}

// defaultPod adds to DefaultPodSpec what upstream defaults only on Pod
// objects, not on templates, and keeps the singular and plural IP fields
// of the status in step as upstream's conversion does.
func defaultPod(pod *corev1.Pod) {
	DefaultPodSpec(&pod.Spec)
	if pod.Spec.HostNetwork {
		defaultHostNetworkPorts(pod.Spec.InitContainers)
		defaultHostNetworkPorts(pod.Spec.Containers)
	}
	syncStatusIPs(&pod.Status)
	for i := range pod.Spec.InitContainers {
		defaultRequestsFromLimits(&pod.Spec.InitContainers[i].Resources)
	}
	for i := range pod.Spec.Containers {
		defaultRequestsFromLimits(&pod.Spec.Containers[i].Resources)
	}
	if pod.Spec.Resources != nil {
		defaultRequestsFromLimits(pod.Spec.Resources)
	}
	if pod.Spec.EnableServiceLinks == nil {
		enable := corev1.DefaultEnableServiceLinks
		pod.Spec.EnableServiceLinks = &enable
	}
}

// syncStatusIPs makes podIPs[0] the podIP and hostIPs[0] the hostIP. When
// both are given and differ, the singular field wins: older agents set
// only that one.
func syncStatusIPs(status *corev1.PodStatus) {
	if status.PodIP != "" && (len(status.PodIPs) == 0 || status.PodIPs[0].IP != status.PodIP) {
		status.PodIPs = []corev1.PodIP{{IP: status.PodIP}}
	}
	if len(status.PodIPs) > 0 {
		status.PodIP = status.PodIPs[0].IP
	}
	if status.HostIP != "" && (len(status.HostIPs) == 0 || status.HostIPs[0].IP != status.HostIP) {
		status.HostIPs = []corev1.HostIP{{IP: status.HostIP}}
	}
	if len(status.HostIPs) > 0 {
		status.HostIP = status.HostIPs[0].IP
	}
}

// defaultRequestsFromLimits sets each unset request to its limit, so that a
// container with only limits is scheduled by what it may use.
func defaultRequestsFromLimits(r *corev1.ResourceRequirements) {
	if r.Limits == nil {
		return
	}
	if r.Requests == nil {
		r.Requests = corev1.ResourceList{}
	}
	for name, limit := range r.Limits {
		if _, set := r.Requests[name]; !set {
			r.Requests[name] = limit.DeepCopy()
		}
	}
}

// admitPod does on pod creation what upstream's ServiceAccount and
// DefaultTolerationSeconds admission plugins do.
func admitPod(pod *corev1.Pod) {
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = defaultServiceAccountName
		pod.Spec.DeprecatedServiceAccount = defaultServiceAccountName
	}
	toleratesNotReady, toleratesUnreachable := false, false
	for _, t := range pod.Spec.Tolerations {
		noExecute := t.Effect == corev1.TaintEffectNoExecute || t.Effect == ""
		if noExecute && (t.Key == taintNodeNotReady || t.Key == "") {
			toleratesNotReady = true
		}
		if noExecute && (t.Key == taintNodeUnreachable || t.Key == "") {
			toleratesUnreachable = true
		}
	}
	if !toleratesNotReady {
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, defaultToleration(taintNodeNotReady))
	}
	if !toleratesUnreachable {
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, defaultToleration(taintNodeUnreachable))
	}
}

func defaultToleration(key string) corev1.Toleration {
	seconds := defaultTolerationSeconds
	return corev1.Toleration{
		Key:               key,
		Operator:          corev1.TolerationOpExists,
		Effect:            corev1.TaintEffectNoExecute,
		TolerationSeconds: &seconds,
	}
}

// defaultHostNetworkPorts makes host ports equal container ports, since a
// host-network pod listens on the node itself.
func defaultHostNetworkPorts(containers []corev1.Container) {
	for i := range containers {
		for j := range containers[i].Ports {
			if containers[i].Ports[j].HostPort == 0 {
				containers[i].Ports[j].HostPort = containers[i].Ports[j].ContainerPort
			}
		}
	}
}

func defaultContainer(c *corev1.Container) {
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = defaultTerminationMessagePath
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = defaultPullPolicy(c.Image)
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = corev1.ProtocolTCP
		}
	}
	for i := range c.Env {
		if from := c.Env[i].ValueFrom; from != nil && from.FieldRef != nil && from.FieldRef.APIVersion == "" {
			from.FieldRef.APIVersion = "v1"
		}
	}
	defaultProbe(c.LivenessProbe)
	defaultProbe(c.ReadinessProbe)
	defaultProbe(c.StartupProbe)
	if c.Lifecycle != nil {
		defaultLifecycleHandler(c.Lifecycle.PostStart)
		defaultLifecycleHandler(c.Lifecycle.PreStop)
	}
}

// defaultPullPolicy is Always for an image tagged latest or not tagged at
// all (which means latest), IfNotPresent otherwise: a fixed tag or a
// digest is assumed not to move.
func defaultPullPolicy(image string) corev1.PullPolicy {
	tag, hasDigest := imageTag(image)
	if tag == "latest" || (tag == "" && !hasDigest) {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// imageTag returns the tag of an image reference ("" when none) and
// whether the reference pins a digest. A colon before the last slash
// belongs to a registry host's port, not to a tag.
func imageTag(image string) (tag string, hasDigest bool) {
	if at := strings.Index(image, "@"); at >= 0 {
		image, hasDigest = image[:at], true
	}
	lastSlash := strings.LastIndex(image, "/")
	if colon := strings.LastIndex(image, ":"); colon > lastSlash {
		return image[colon+1:], hasDigest
	}
	return "", hasDigest
}

func defaultProbe(p *corev1.Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	defaultHTTPGet(p.HTTPGet)
}

func defaultLifecycleHandler(h *corev1.LifecycleHandler) {
	if h != nil {
		defaultHTTPGet(h.HTTPGet)
	}
}

func defaultHTTPGet(h *corev1.HTTPGetAction) {
	if h == nil {
		return
	}
	if h.Path == "" {
		h.Path = "/"
	}
	if h.Scheme == "" {
		h.Scheme = corev1.URISchemeHTTP
	}
}

func defaultVolume(v *corev1.Volume) {
	s := &v.VolumeSource
	if *s == (corev1.VolumeSource{}) {
		s.EmptyDir = &corev1.EmptyDirVolumeSource{}
		return
	}
	mode := func(m **int32) {
		if *m == nil {
			defaultMode := defaultVolumeFileMode
			*m = &defaultMode
		}
	}
	switch {
	case s.ConfigMap != nil:
		mode(&s.ConfigMap.DefaultMode)
	case s.Secret != nil:
		mode(&s.Secret.DefaultMode)
	case s.DownwardAPI != nil:
		mode(&s.DownwardAPI.DefaultMode)
		for i := range s.DownwardAPI.Items {
			defaultFieldRef(s.DownwardAPI.Items[i].FieldRef)
		}
	case s.Projected != nil:
		mode(&s.Projected.DefaultMode)
		for i := range s.Projected.Sources {
			defaultProjection(&s.Projected.Sources[i])
		}
	case s.HostPath != nil:
		if s.HostPath.Type == nil {
			unset := corev1.HostPathUnset
			s.HostPath.Type = &unset
		}
	case s.ISCSI != nil:
		if s.ISCSI.ISCSIInterface == "" {
			s.ISCSI.ISCSIInterface = "default"
		}
	}
}

func defaultProjection(p *corev1.VolumeProjection) {
	if p.DownwardAPI != nil {
		for i := range p.DownwardAPI.Items {
			defaultFieldRef(p.DownwardAPI.Items[i].FieldRef)
		}
	}
	if p.ServiceAccountToken != nil && p.ServiceAccountToken.ExpirationSeconds == nil {
		// An hour, as upstream's defaulter gives projected tokens.
		seconds := int64(60 * 60)
		p.ServiceAccountToken.ExpirationSeconds = &seconds
	}
}

func defaultFieldRef(f *corev1.ObjectFieldSelector) {
	if f != nil && f.APIVersion == "" {
		f.APIVersion = "v1"
	}
}
