package node

import (
	"net"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	fieldsel "k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/navarch/navarch/internal/registry"
)

// Kind returns the registry entry of core/v1 nodes, with their status
// subresource.
func Kind() *registry.Kind {
	return &registry.Kind{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "nodes",
		Singular:     "node",
		Kind:         "Node",
		ShortNames:   []string{"no"},
		Namespaced:   false,
		New:          func() runtime.Object { return &corev1.Node{} },
		NewList:      func() runtime.Object { return &corev1.NodeList{} },
		Strategy:     strategy{},
		Status:       statusStrategy{},
		Table:        table,
		Fields: func(obj runtime.Object) fieldsel.Set {
			return fieldsel.Set{"spec.unschedulable": strconv.FormatBool(obj.(*corev1.Node).Spec.Unschedulable)}
		},
	}
}

type strategy struct{}

var (
	_ registry.Strategy       = strategy{}
	_ registry.StatusStrategy = statusStrategy{}
)

// Default sets allocatable to capacity when the node reported only its
// capacity, as upstream's defaulter does.
func (strategy) Default(obj runtime.Object) {
	status := &obj.(*corev1.Node).Status
	if status.Allocatable == nil && status.Capacity != nil {
		status.Allocatable = status.Capacity.DeepCopy()
	}
}

// PrepareForCreate keeps the status: the node's agent registers the node
// with what it knows of itself.
func (strategy) PrepareForCreate(runtime.Object) {}

// PrepareForUpdate keeps the status from old.
func (strategy) PrepareForUpdate(obj, old runtime.Object) {
	obj.(*corev1.Node).Status = old.(*corev1.Node).Status
}

// Validate checks a new node.
func (strategy) Validate(obj runtime.Object) field.ErrorList {
	return validate(obj.(*corev1.Node))
}

// ValidateUpdate checks an update: pod CIDRs and the provider ID may be
// set once, never changed.
func (strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	return validateUpdate(obj.(*corev1.Node), old.(*corev1.Node))
}

type statusStrategy struct{}

// PrepareForStatusUpdate keeps the spec from old.
func (statusStrategy) PrepareForStatusUpdate(obj, old runtime.Object) {
	node := obj.(*corev1.Node)
	node.Spec = old.(*corev1.Node).Spec
	strategy{}.Default(node)
}

// ValidateStatusUpdate checks the reported resources and addresses.
func (statusStrategy) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	return validateUpdate(obj.(*corev1.Node), old.(*corev1.Node))
}

func validate(node *corev1.Node) field.ErrorList {
	metaPath := field.NewPath("metadata")
	errs := apivalidation.ValidateObjectMeta(&node.ObjectMeta, false, apivalidation.NameIsDNSSubdomain, metaPath)
	// Upstream reports taints under metadata; kubectl users see that path.
	errs = append(errs, validateTaints(node.Spec.Taints, metaPath.Child("taints"))...)
	errs = append(errs, validateResources(node)...)
	if len(node.Spec.PodCIDRs) > 0 {
		cidrsPath := field.NewPath("spec", "podCIDRs")
		for i, cidr := range node.Spec.PodCIDRs {
			errs = append(errs, validation.IsValidCIDR(cidrsPath.Index(i), cidr)...)
		}
		if len(node.Spec.PodCIDRs) > 1 && !dualStack(node.Spec.PodCIDRs) {
			errs = append(errs, field.Invalid(cidrsPath, node.Spec.PodCIDRs, "may specify no more than one CIDR for each IP family"))
		}
		seen := sets.New[string]()
		for i, cidr := range node.Spec.PodCIDRs {
			if seen.Has(cidr) {
				errs = append(errs, field.Duplicate(cidrsPath.Index(i), cidr))
			}
			seen.Insert(cidr)
		}
	}
	return errs
}

// dualStack tells whether two CIDRs are one of each IP family.
func dualStack(cidrs []string) bool {
	if len(cidrs) != 2 {
		return false
	}
	v4 := 0
	for _, c := range cidrs {
		ip, _, err := net.ParseCIDR(c)
		if err != nil {
			return false
		}
		if ip.To4() != nil {
			v4++
		}
	}
	return v4 == 1
}

func validateUpdate(node, old *corev1.Node) field.ErrorList {
	errs := apivalidation.ValidateObjectMetaUpdate(&node.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, validate(node)...)
	seen := map[corev1.NodeAddress]bool{}
	for i, a := range node.Status.Addresses {
		if seen[a] {
			errs = append(errs, field.Duplicate(field.NewPath("status", "addresses").Index(i), a))
		}
		seen[a] = true
	}
	// The node IPAM controller may assign CIDRs to a node without; after
	// that they stay.
	if len(old.Spec.PodCIDRs) > 0 {
		const msg = "node updates may not change podCIDR except from \"\" to valid"
		if len(old.Spec.PodCIDRs) != len(node.Spec.PodCIDRs) {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "podCIDRs"), msg))
		} else {
			for i := range old.Spec.PodCIDRs {
				if old.Spec.PodCIDRs[i] != node.Spec.PodCIDRs[i] {
					errs = append(errs, field.Forbidden(field.NewPath("spec", "podCIDRs"), msg))
				}
			}
		}
	}
	if old.Spec.ProviderID != "" && old.Spec.ProviderID != node.Spec.ProviderID {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	if node.Spec.DoNotUseExternalID != old.Spec.DoNotUseExternalID {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "externalID"), "may not be updated"))
	}
	return errs
}

func validateTaints(taints []corev1.Taint, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[corev1.TaintEffect]sets.Set[string]{}
	for i, t := range taints {
		idxPath := fldPath.Index(i)
		errs = append(errs, metav1validation.ValidateLabelName(t.Key, idxPath.Child("key"))...)
		if msgs := validation.IsValidLabelValue(t.Value); len(msgs) != 0 {
			errs = append(errs, field.Invalid(idxPath.Child("value"), t.Value, strings.Join(msgs, ";")))
		}
		switch t.Effect {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		case "":
			errs = append(errs, field.Required(idxPath.Child("effect"), ""))
		default:
			errs = append(errs, field.NotSupported(idxPath.Child("effect"), t.Effect,
				[]corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute}))
		}
		// A key may carry one taint per effect.
		if seen[t.Effect].Has(t.Key) {
			dup := field.Duplicate(idxPath, t)
			dup.Detail = "taints must be unique by key and effect pair"
			errs = append(errs, dup)
			continue
		}
		if seen[t.Effect] == nil {
			seen[t.Effect] = sets.New[string]()
		}
		seen[t.Effect].Insert(t.Key)
	}
	return errs
}

// integerResources are counted in whole units on a node.
var integerResources = sets.New(corev1.ResourcePods)

func validateResources(node *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	for _, list := range []struct {
		name string
		list corev1.ResourceList
	}{{"capacity", node.Status.Capacity}, {"allocatable", node.Status.Allocatable}} {
		names := make([]string, 0, len(list.list))
		for name := range list.list {
			names = append(names, string(name))
		}
		sort.Strings(names)
		for _, name := range names {
			q := list.list[corev1.ResourceName(name)]
			// Upstream spells the path status.capacity.<name>, not [<name>].
			resPath := field.NewPath("status", list.name, name)
			if q.Sign() < 0 {
				errs = append(errs, field.Invalid(resPath, q.String(), "must be greater than or equal to 0"))
			}
			extended := strings.Contains(name, "/") && !strings.Contains(name, corev1.ResourceDefaultNamespacePrefix)
			if (integerResources.Has(corev1.ResourceName(name)) || extended) && q.MilliValue()%1000 != 0 {
				errs = append(errs, field.Invalid(resPath, q.String(), "must be an integer"))
			}
		}
	}
	return errs
}

// Labels that give a node its roles in kubectl get nodes.
const (
	labelNodeRolePrefix = "node-role.kubernetes.io/"
	labelNodeRole       = "kubernetes.io/role"
)

// table is kubectl get nodes: NAME STATUS ROLES AGE VERSION, and with -o
// wide INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION CONTAINER-RUNTIME.
var table = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "Status", Type: "string", Description: "The status of the node"},
		{Name: "Roles", Type: "string", Description: "The roles of the node"},
		registry.AgeColumn,
		{Name: "Version", Type: "string", Description: corev1.NodeSystemInfo{}.SwaggerDoc()["kubeletVersion"]},
		{Name: "Internal-IP", Type: "string", Priority: 1, Description: corev1.NodeStatus{}.SwaggerDoc()["addresses"]},
		{Name: "External-IP", Type: "string", Priority: 1, Description: corev1.NodeStatus{}.SwaggerDoc()["addresses"]},
		{Name: "OS-Image", Type: "string", Priority: 1, Description: corev1.NodeSystemInfo{}.SwaggerDoc()["osImage"]},
		{Name: "Kernel-Version", Type: "string", Priority: 1, Description: corev1.NodeSystemInfo{}.SwaggerDoc()["kernelVersion"]},
		{Name: "Container-Runtime", Type: "string", Priority: 1, Description: corev1.NodeSystemInfo{}.SwaggerDoc()["containerRuntimeVersion"]},
	},
	Row: func(obj runtime.Object) []interface{} {
		node := obj.(*corev1.Node)
		info := node.Status.NodeInfo
		return []interface{}{
			node.Name, nodeStatus(node), roles(node), registry.Age(node.CreationTimestamp), info.KubeletVersion,
			address(node, corev1.NodeInternalIP), address(node, corev1.NodeExternalIP),
			orUnknown(info.OSImage), orUnknown(info.KernelVersion), orUnknown(info.ContainerRuntimeVersion),
		}
	},
}

// nodeStatus renders Ready, NotReady or Unknown, and SchedulingDisabled
// for a cordoned node.
func nodeStatus(node *corev1.Node) string {
	status := "Unknown"
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			status = "NotReady"
			if c.Status == corev1.ConditionTrue {
				status = "Ready"
			}
		}
	}
	if node.Spec.Unschedulable {
		status += ",SchedulingDisabled"
	}
	return status
}

func roles(node *corev1.Node) string {
	found := sets.New[string]()
	for k, v := range node.Labels {
		switch {
		case strings.HasPrefix(k, labelNodeRolePrefix):
			if role := strings.TrimPrefix(k, labelNodeRolePrefix); role != "" {
				found.Insert(role)
			}
		case k == labelNodeRole && v != "":
			found.Insert(v)
		}
	}
	if found.Len() == 0 {
		return "<none>"
	}
	return strings.Join(sets.List(found), ",")
}

func address(node *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range node.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return "<none>"
}

func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}
