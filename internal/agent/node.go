package agent

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/version"
)

// nodeReadyReason and nodeReadyMessage are the kubelet's words for a
// ready node.
const (
	nodeReadyReason  = "KubeletReady"
	nodeReadyMessage = "kubelet is posting ready status"
)

// nodeSpec is what the agent decides about its Node beyond host facts.
type nodeSpec struct {
	name           string
	podCIDR        string
	maxPods        int
	runtimeVersion string
	// annotations are the Node annotations the agent owns (the
	// local-path directory).
	annotations map[string]string
	// kubeletPort is where the node API listens (0: not published).
	kubeletPort int32
}

// buildNode returns the Node the agent wants, starting from existing
// (nil: a new node). It keeps what others own (taints, other labels and
// annotations, a pod CIDR already assigned) and sets what the agent owns:
// its labels, capacity, addresses, node info and conditions. Condition
// times move only when a condition's status changes, except the
// heartbeat.
func buildNode(existing *corev1.Node, spec nodeSpec, facts hostFacts, now time.Time) *corev1.Node {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: spec.name}}
	if existing != nil {
		node = existing.DeepCopy()
	}
	if node.Labels == nil {
		node.Labels = map[string]string{}
	}
	for k, v := range map[string]string{
		corev1.LabelHostname:      spec.name,
		corev1.LabelOSStable:      "linux",
		corev1.LabelArchStable:    facts.architecture,
		"beta.kubernetes.io/os":   "linux",
		"beta.kubernetes.io/arch": facts.architecture,
	} {
		node.Labels[k] = v
	}
	if len(spec.annotations) > 0 && node.Annotations == nil {
		node.Annotations = map[string]string{}
	}
	for k, v := range spec.annotations {
		node.Annotations[k] = v
	}
	if node.Spec.PodCIDR == "" {
		node.Spec.PodCIDR = spec.podCIDR
		node.Spec.PodCIDRs = []string{spec.podCIDR}
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(facts.cpus), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(facts.memoryBytes, resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(int64(spec.maxPods), resource.DecimalSI),
	}
	if facts.ephemeralStorageBytes > 0 {
		capacity[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(facts.ephemeralStorageBytes, resource.BinarySI)
	}
	node.Status.Capacity = capacity
	node.Status.Allocatable = capacity.DeepCopy()
	addresses := []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: facts.ip.String()}}
	if facts.hostname != "" {
		addresses = append(addresses, corev1.NodeAddress{Type: corev1.NodeHostName, Address: facts.hostname})
	}
	node.Status.Addresses = addresses
	// The API server reaches the node API (logs, exec, port-forward) at
	// the InternalIP and this port.
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = spec.kubeletPort
	node.Status.NodeInfo = corev1.NodeSystemInfo{
		MachineID:               facts.machineID,
		SystemUUID:              facts.systemUUID,
		BootID:                  facts.bootID,
		KernelVersion:           facts.kernelVersion,
		OSImage:                 facts.osImage,
		ContainerRuntimeVersion: spec.runtimeVersion,
		KubeletVersion:          version.Kubernetes,
		OperatingSystem:         "linux",
		Architecture:            facts.architecture,
	}
	heartbeat := metav1.NewTime(now).Rfc3339Copy()
	want := []corev1.NodeCondition{
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", Message: "kubelet has no disk pressure"},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", Message: "kubelet has sufficient PID available"},
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: nodeReadyReason, Message: nodeReadyMessage},
	}
	for i := range want {
		want[i].LastHeartbeatTime = heartbeat
		want[i].LastTransitionTime = heartbeat
		for _, old := range node.Status.Conditions {
			if old.Type == want[i].Type && old.Status == want[i].Status {
				want[i].LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	node.Status.Conditions = want
	return node
}

// nodeReporter registers the Node and keeps its status and Lease fresh.
type nodeReporter struct {
	client kubernetes.Interface
	clock  clock.WithTicker
	spec   nodeSpec
	facts  hostFacts
	// leaseDuration is how long the Lease is valid without renewal.
	leaseDuration time.Duration
}

// register creates the Node or brings an existing one up to date, and
// returns it (with the pod CIDR in force).
func (r *nodeReporter) register(ctx context.Context) (*corev1.Node, error) {
	nodes := r.client.CoreV1().Nodes()
	var result *corev1.Node
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		existing, err := nodes.Get(ctx, r.spec.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			node := buildNode(nil, r.spec, r.facts, r.clock.Now())
			created, err := nodes.Create(ctx, node, metav1.CreateOptions{})
			if err != nil {
				return err
			}
			// Create drops status; write it through the status subresource.
			node.ResourceVersion = created.ResourceVersion
			node.UID = created.UID
			result, err = nodes.UpdateStatus(ctx, mergeNodeMeta(created, node), metav1.UpdateOptions{})
			return err
		}
		if err != nil {
			return err
		}
		want := buildNode(existing, r.spec, r.facts, r.clock.Now())
		current := existing
		if !apiequality.Semantic.DeepEqual(existing.Labels, want.Labels) || !apiequality.Semantic.DeepEqual(existing.Annotations, want.Annotations) ||
			!apiequality.Semantic.DeepEqual(existing.Spec, want.Spec) {
			current, err = nodes.Update(ctx, want, metav1.UpdateOptions{})
			if err != nil {
				return err
			}
		}
		result, err = nodes.UpdateStatus(ctx, mergeNodeMeta(current, want), metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("agent: registering node %s: %w", r.spec.name, err)
	}
	return result, nil
}

// mergeNodeMeta returns want's status on current's object.
func mergeNodeMeta(current, want *corev1.Node) *corev1.Node {
	out := current.DeepCopy()
	out.Status = want.Status
	return out
}

// updateStatus refreshes the node's conditions (heartbeat) and facts.
func (r *nodeReporter) updateStatus(ctx context.Context) error {
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		existing, err := r.client.CoreV1().Nodes().Get(ctx, r.spec.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = r.register(ctx)
			return err
		}
		if err != nil {
			return err
		}
		want := buildNode(existing, r.spec, r.facts, r.clock.Now())
		_, err = r.client.CoreV1().Nodes().UpdateStatus(ctx, mergeNodeMeta(existing, want), metav1.UpdateOptions{})
		return err
	})
}

// renewLease creates or renews the node's Lease in kube-node-lease, as
// the kubelet does: holder = node name, owned by the Node.
func (r *nodeReporter) renewLease(ctx context.Context, node *corev1.Node) error {
	leases := r.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(r.clock.Now())
	lease, err := leases.Get(ctx, r.spec.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		lease = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: r.spec.name, Namespace: corev1.NamespaceNodeLease},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(r.spec.name),
				LeaseDurationSeconds: ptr.To(int32(r.leaseDuration / time.Second)),
				RenewTime:            &now,
			},
		}
		if node != nil && node.UID != "" {
			lease.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}}
		}
		_, err = leases.Create(ctx, lease, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("agent: creating node lease: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("agent: node lease: %w", err)
	}
	lease.Spec.HolderIdentity = ptr.To(r.spec.name)
	lease.Spec.LeaseDurationSeconds = ptr.To(int32(r.leaseDuration / time.Second))
	lease.Spec.RenewTime = &now
	if _, err := leases.Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("agent: renewing node lease: %w", err)
	}
	return nil
}

// run renews the Lease every leaseInterval and the node status every
// statusInterval until ctx ends. Failures are logged and retried at the
// next tick.
func (r *nodeReporter) run(ctx context.Context, node *corev1.Node, leaseInterval, statusInterval time.Duration) {
	logger := klog.FromContext(ctx)
	leaseTick := r.clock.NewTicker(leaseInterval)
	defer leaseTick.Stop()
	statusTick := r.clock.NewTicker(statusInterval)
	defer statusTick.Stop()
	if err := r.renewLease(ctx, node); err != nil {
		logger.Error(err, "node lease")
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-leaseTick.C():
			if err := r.renewLease(ctx, node); err != nil && ctx.Err() == nil {
				logger.Error(err, "node lease")
			}
		case <-statusTick.C():
			if err := r.updateStatus(ctx); err != nil && ctx.Err() == nil {
				logger.Error(err, "node status")
			}
		}
	}
}

// podCIDROf returns the node's pod CIDR (spec.podCIDR), parsed.
func podCIDROf(node *corev1.Node) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(node.Spec.PodCIDR)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("agent: node %s pod CIDR %q: %w", node.Name, node.Spec.PodCIDR, err)
	}
	return p.Masked(), nil
}
