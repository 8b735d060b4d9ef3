package daemonset

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	schedulinghelpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
)

// daemonTolerations are the tolerations every daemon pod gets, as
// upstream adds them: daemons run on nodes that are not ready, under
// pressure or cordoned.
func daemonTolerations(hostNetwork bool) []corev1.Toleration {
	out := []corev1.Toleration{
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	}
	if hostNetwork {
		out = append(out, corev1.Toleration{Key: corev1.TaintNodeNetworkUnavailable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
	}
	return out
}

// addDaemonTolerations adds the daemon tolerations a spec lacks.
func addDaemonTolerations(spec *corev1.PodSpec) {
	for _, want := range daemonTolerations(spec.HostNetwork) {
		found := false
		for _, have := range spec.Tolerations {
			if have.Key == want.Key && have.Effect == want.Effect && have.Operator == want.Operator && have.Value == want.Value {
				found = true
				break
			}
		}
		if !found {
			spec.Tolerations = append(spec.Tolerations, want)
		}
	}
}

// pinToNode replaces a pod spec's required node affinity with one term
// that matches only the node named nodeName (by metadata.name).
func pinToNode(spec *corev1.PodSpec, nodeName string) {
	term := corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{{
		Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{nodeName},
	}}}
	if spec.Affinity == nil {
		spec.Affinity = &corev1.Affinity{}
	}
	if spec.Affinity.NodeAffinity == nil {
		spec.Affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{term},
	}
}

// targetNode is the node a daemon pod runs on or is pinned to, or "".
func targetNode(pod *corev1.Pod) string {
	if pod.Spec.NodeName != "" {
		return pod.Spec.NodeName
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, req := range term.MatchFields {
			if req.Key == metav1.ObjectNameField && req.Operator == corev1.NodeSelectorOpIn && len(req.Values) == 1 {
				return req.Values[0]
			}
		}
	}
	return ""
}

// placement says whether a DaemonSet's pod should be created on a node
// (shouldRun) and whether one already there may stay (shouldContinue).
func placement(ds *appsv1.DaemonSet, node *corev1.Node) (shouldRun, shouldContinue bool) {
	spec := ds.Spec.Template.Spec.DeepCopy()
	addDaemonTolerations(spec)
	if spec.NodeName != "" && spec.NodeName != node.Name {
		return false, false
	}
	fits, err := nodeaffinity.NewRequiredNodeAffinity(spec.NodeSelector, spec.Affinity).Match(node)
	if err != nil || !fits {
		return false, false
	}
	logger := klog.Background()
	isSchedulingTaint := func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
	}
	if _, untolerated := schedulinghelpers.FindMatchingUntoleratedTaint(logger, node.Spec.Taints, spec.Tolerations, isSchedulingTaint, false); !untolerated {
		return true, true
	}
	isNoExecute := func(t *corev1.Taint) bool { return t.Effect == corev1.TaintEffectNoExecute }
	_, evicted := schedulinghelpers.FindMatchingUntoleratedTaint(logger, node.Spec.Taints, spec.Tolerations, isNoExecute, false)
	return false, !evicted
}

// podTemplate is the template of the daemon pod for node: the DaemonSet's
// template with the daemon tolerations, pinned to node, labelled with the
// revision hash and template generation.
func podTemplate(ds *appsv1.DaemonSet, hash, nodeName string) *corev1.PodTemplateSpec {
	template := ds.Spec.Template.DeepCopy()
	addDaemonTolerations(&template.Spec)
	pinToNode(&template.Spec, nodeName)
	if template.Labels == nil {
		template.Labels = map[string]string{}
	}
	template.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
	template.Labels[templateGenerationLabel] = fmt.Sprint(ds.Generation)
	return template
}

// templateGenerationLabel is upstream's (deprecated but still set) label
// of the DaemonSet generation a pod was made from.
const templateGenerationLabel = "pod-template-generation"
