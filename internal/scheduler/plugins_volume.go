package scheduler

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	volumehelper "k8s.io/component-helpers/storage/volume"
)

// Reasons of volumeBinding, as upstream words them.
const (
	reasonUnboundImmediate = "pod has unbound immediate PersistentVolumeClaims"
	reasonVolumeNodeConfl  = "node(s) had volume node affinity conflict"
	reasonVolumeBindConfl  = "node(s) didn't find available persistent volumes to bind"
	reasonPVNotExist       = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
)

// AnnSelectedNode is the annotation the scheduler puts on an unbound
// WaitForFirstConsumer claim to tell the volume controller where the
// pod will run, so it binds or provisions a volume there.
const AnnSelectedNode = volumehelper.AnnSelectedNode

// annDefaultStorageClass marks the default StorageClass.
const annDefaultStorageClass = "storageclass.kubernetes.io/is-default-class"

// volumeBinding checks the pod's PersistentVolumeClaims: every claim must
// exist; a bound claim's volume must be reachable from the node (its
// nodeAffinity, e.g. a local volume); an unbound claim must wait for the
// first consumer (its class's volumeBindingMode), and then the node must
// either reach an available matching volume or be a place the class can
// provision on. An unbound claim that already names a selected node keeps
// the pod on that node while the volume controller works.
type volumeBinding struct{}

var (
	_ PreFilterPlugin = volumeBinding{}
	_ FilterPlugin    = volumeBinding{}
	_ reserver        = volumeBinding{}
)

func (volumeBinding) Name() string { return nameVolumeBinding }

// delayedClaim is an unbound WaitForFirstConsumer claim with its class.
type delayedClaim struct {
	claim *corev1.PersistentVolumeClaim
	class *storagev1.StorageClass
	// pinnedNode is the claim's selected node when that node exists.
	pinnedNode string
}

type volumeState struct {
	bound     []*corev1.PersistentVolume
	missingPV bool
	delayed   []delayedClaim
	volumes   []*corev1.PersistentVolume
}

func (volumeBinding) PreFilter(c *Cycle) *Status {
	pod := c.Pod
	var s *volumeState
	for _, v := range pod.Spec.Volumes {
		var claimName string
		ephemeral := false
		switch {
		case v.PersistentVolumeClaim != nil:
			claimName = v.PersistentVolumeClaim.ClaimName
		case v.Ephemeral != nil:
			claimName, ephemeral = pod.Name+"-"+v.Name, true
		default:
			continue
		}
		if s == nil {
			s = &volumeState{}
		}
		claim := c.State.PersistentVolumeClaim(pod.Namespace, claimName)
		switch {
		case claim == nil && ephemeral:
			return NewStatus(UnschedulableAndUnresolvable, fmt.Sprintf("waiting for ephemeral volume controller to create the persistentvolumeclaim %q", claimName))
		case claim == nil:
			return NewStatus(UnschedulableAndUnresolvable, fmt.Sprintf("persistentvolumeclaim %q not found", claimName))
		case claim.DeletionTimestamp != nil:
			return NewStatus(UnschedulableAndUnresolvable, fmt.Sprintf("persistentvolumeclaim %q is being deleted", claimName))
		}
		if claim.Spec.VolumeName != "" {
			pv := c.State.PersistentVolume(claim.Spec.VolumeName)
			if pv == nil {
				s.missingPV = true
			} else {
				s.bound = append(s.bound, pv)
			}
			continue
		}
		class := claimClass(c.State, claim)
		if class == nil || class.VolumeBindingMode == nil || *class.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer {
			return NewStatus(UnschedulableAndUnresolvable, reasonUnboundImmediate)
		}
		d := delayedClaim{claim: claim, class: class}
		if sel := claim.Annotations[AnnSelectedNode]; sel != "" && nodeExists(c.State, sel) {
			d.pinnedNode = sel
		}
		s.delayed = append(s.delayed, d)
	}
	if s != nil && len(s.delayed) > 0 {
		s.volumes = c.State.PersistentVolumes()
	}
	c.volumes = s
	return nil
}

// claimClass returns the class of a claim: the one it names, the default
// class when it names none (the volume controller will write that one
// in), nil for "" (no class) or a missing class.
func claimClass(state State, claim *corev1.PersistentVolumeClaim) *storagev1.StorageClass {
	if name := volumehelper.GetPersistentVolumeClaimClass(claim); name != "" {
		return state.StorageClass(name)
	}
	if claim.Spec.StorageClassName != nil {
		return nil
	}
	var def *storagev1.StorageClass
	for _, class := range state.StorageClasses() {
		if class.Annotations[annDefaultStorageClass] != "true" {
			continue
		}
		if def == nil || class.CreationTimestamp.After(def.CreationTimestamp.Time) {
			def = class
		}
	}
	return def
}

func nodeExists(state State, name string) bool {
	for _, ni := range state.Nodes() {
		if ni.Node().Name == name {
			return true
		}
	}
	return false
}

func (volumeBinding) Filter(c *Cycle, ni *NodeInfo) *Status {
	s := c.volumes
	if s == nil {
		return nil
	}
	node := ni.Node()
	if s.missingPV {
		return NewStatus(UnschedulableAndUnresolvable, reasonPVNotExist)
	}
	for _, pv := range s.bound {
		if err := volumehelper.CheckNodeAffinity(pv, node.Labels); err != nil {
			return NewStatus(UnschedulableAndUnresolvable, reasonVolumeNodeConfl)
		}
	}
	var taken map[string]*corev1.PersistentVolume
	for _, d := range s.delayed {
		if d.pinnedNode != "" {
			if d.pinnedNode != node.Name {
				return NewStatus(UnschedulableAndUnresolvable, reasonVolumeNodeConfl)
			}
			continue
		}
		claim := d.claim
		if claim.Spec.StorageClassName == nil {
			claim = claim.DeepCopy()
			claim.Spec.StorageClassName = &d.class.Name
		}
		if taken == nil {
			taken = map[string]*corev1.PersistentVolume{}
		}
		pv, err := volumehelper.FindMatchingVolume(claim, s.volumes, node, taken, false, true)
		if err == nil && pv != nil {
			taken[pv.Name] = pv
			continue
		}
		if !canProvision(d.class, node) {
			return NewStatus(UnschedulableAndUnresolvable, reasonVolumeBindConfl)
		}
	}
	return nil
}

// canProvision tells whether class can create a volume reachable from
// node: it has a provisioner and its allowed topologies admit the node.
func canProvision(class *storagev1.StorageClass, node *corev1.Node) bool {
	if class.Provisioner == volumehelper.NotSupportedProvisioner {
		return false
	}
	if len(class.AllowedTopologies) == 0 {
		return true
	}
	for _, term := range class.AllowedTopologies {
		ok := true
		for _, req := range term.MatchLabelExpressions {
			v, has := node.Labels[req.Key]
			if !has || !contains(req.Values, v) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// reserve hands the delayed claims to the caller, which selects the node
// on them.
func (volumeBinding) reserve(c *Cycle, _ *NodeInfo, r *Result) {
	s := c.volumes
	if s == nil {
		return
	}
	for _, d := range s.delayed {
		r.DelayedClaims = append(r.DelayedClaims, d.claim)
	}
}
