package scheduler

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
)

// State is the read-only view of the cluster that one decision reads.
// Implementations must not change while a decision runs.
type State interface {
	// Nodes returns every node with the pods bound to it, in a stable
	// order (by name).
	Nodes() []*NodeInfo
	// PersistentVolumeClaim returns a claim, or nil when it does not
	// exist.
	PersistentVolumeClaim(namespace, name string) *corev1.PersistentVolumeClaim
	// PersistentVolume returns a volume, or nil.
	PersistentVolume(name string) *corev1.PersistentVolume
	// PersistentVolumes lists every volume.
	PersistentVolumes() []*corev1.PersistentVolume
	// StorageClass returns a class, or nil.
	StorageClass(name string) *storagev1.StorageClass
	// StorageClasses lists every class.
	StorageClasses() []*storagev1.StorageClass
	// NamespaceLabels returns the labels of a namespace (nil when unknown).
	NamespaceLabels(name string) labels.Set
}

// Snapshot is an immutable list of NodeInfos: the node half of State.
type Snapshot struct {
	nodes []*NodeInfo
	// affinityPods and antiAffinityPods count the bound pods with any pod
	// (anti-)affinity term and with a required anti-affinity term.
	affinityPods, antiAffinityPods int
}

// affinityCounter is an optional capability of a State: how many bound
// pods have pod (anti-)affinity terms, so that plugins can skip scanning
// every node when there are none.
type affinityCounter interface {
	podsWithAffinity() (withTerms, requiredAnti int)
}

var _ affinityCounter = &Snapshot{}

func (s *Snapshot) podsWithAffinity() (withTerms, requiredAnti int) {
	return s.affinityPods, s.antiAffinityPods
}

// NewSnapshot returns a snapshot of the given nodes, sorted by name.
// NodeInfos without a Node object are left out.
func NewSnapshot(nodes ...*NodeInfo) *Snapshot {
	out := make([]*NodeInfo, 0, len(nodes))
	for _, n := range nodes {
		if n.Node() != nil {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node().Name < out[j].Node().Name })
	s := &Snapshot{nodes: out}
	for _, n := range out {
		s.affinityPods += len(n.podsWithAffinity)
		s.antiAffinityPods += len(n.podsWithRequiredAntiAffinity)
	}
	return s
}

// Nodes returns the snapshot's nodes.
func (s *Snapshot) Nodes() []*NodeInfo { return s.nodes }

// listerState is the State of a running scheduler: a snapshot of its
// cache for nodes and pods, informer listers for the rest.
type listerState struct {
	*Snapshot
	claims     corelisters.PersistentVolumeClaimLister
	volumes    corelisters.PersistentVolumeLister
	classes    storagelisters.StorageClassLister
	namespaces corelisters.NamespaceLister
}

func (s *listerState) PersistentVolumeClaim(namespace, name string) *corev1.PersistentVolumeClaim {
	c, err := s.claims.PersistentVolumeClaims(namespace).Get(name)
	if err != nil {
		return nil
	}
	return c
}

func (s *listerState) PersistentVolume(name string) *corev1.PersistentVolume {
	v, err := s.volumes.Get(name)
	if err != nil {
		return nil
	}
	return v
}

func (s *listerState) PersistentVolumes() []*corev1.PersistentVolume {
	list, _ := s.volumes.List(labels.Everything())
	return list
}

func (s *listerState) StorageClass(name string) *storagev1.StorageClass {
	c, err := s.classes.Get(name)
	if err != nil {
		return nil
	}
	return c
}

func (s *listerState) StorageClasses() []*storagev1.StorageClass {
	list, _ := s.classes.List(labels.Everything())
	return list
}

func (s *listerState) NamespaceLabels(name string) labels.Set {
	ns, err := s.namespaces.Get(name)
	if err != nil {
		return nil
	}
	return ns.Labels
}
