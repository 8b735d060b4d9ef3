package volume

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

// harness is a controller on a fake clientset whose informer caches hold
// the objects given, without running informers.
type harness struct {
	c             *Controller
	volumeIndexer cache.Indexer
	client        *fake.Clientset
	recorder      *record.FakeRecorder
}

func newHarness(t *testing.T, objs ...runtime.Object) *harness {
	t.Helper()
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	pvs := factory.Core().V1().PersistentVolumes()
	pvcs := factory.Core().V1().PersistentVolumeClaims()
	classes := factory.Storage().V1().StorageClasses()
	nodes := factory.Core().V1().Nodes()
	c := New(client, pvs, pvcs, classes, nodes, Config{StorageDir: "/data/storage"})
	for _, obj := range objs {
		var err error
		switch o := obj.(type) {
		case *corev1.PersistentVolume:
			err = pvs.Informer().GetIndexer().Add(o)
		case *corev1.PersistentVolumeClaim:
			err = pvcs.Informer().GetIndexer().Add(o)
		case *storagev1.StorageClass:
			err = classes.Informer().GetIndexer().Add(o)
		case *corev1.Node:
			err = nodes.Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatalf("indexer add: %v", err)
		}
	}
	recorder := record.NewFakeRecorder(100)
	c.recorder = recorder
	client.ClearActions()
	return &harness{c: c, client: client, recorder: recorder, volumeIndexer: pvs.Informer().GetIndexer()}
}

func (h *harness) claim(t *testing.T, namespace, name string) *corev1.PersistentVolumeClaim {
	t.Helper()
	claim, err := h.client.CoreV1().PersistentVolumeClaims(namespace).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get claim: %v", err)
	}
	return claim
}

func (h *harness) volume(t *testing.T, name string) *corev1.PersistentVolume {
	t.Helper()
	pv, err := h.client.CoreV1().PersistentVolumes().Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get volume %s: %v", name, err)
	}
	return pv
}

// events drains the recorded events ("Type Reason Message").
func (h *harness) events() []string {
	var out []string
	for {
		select {
		case e := <-h.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func hasEvent(events []string, prefix string) bool {
	for _, e := range events {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}

type claimOpt func(*corev1.PersistentVolumeClaim)

func newClaim(name, size string, opts ...claimOpt) *corev1.PersistentVolumeClaim {
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), ResourceVersion: "1"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
			VolumeMode:  ptr.To(corev1.PersistentVolumeFilesystem),
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
	}
	for _, o := range opts {
		o(claim)
	}
	return claim
}

func withClass(class string) claimOpt {
	return func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = &class }
}

func withSelectedNode(node string) claimOpt {
	return func(c *corev1.PersistentVolumeClaim) {
		metav1.SetMetaDataAnnotation(&c.ObjectMeta, annSelectedNode, node)
	}
}

type volumeOpt func(*corev1.PersistentVolume)

func newVolume(name, size string, opts ...volumeOpt) *corev1.PersistentVolume {
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), ResourceVersion: "1"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			VolumeMode:                    ptr.To(corev1.PersistentVolumeFilesystem),
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + name}},
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeAvailable},
	}
	for _, o := range opts {
		o(pv)
	}
	return pv
}

func boundTo(claim *corev1.PersistentVolumeClaim) volumeOpt {
	return func(pv *corev1.PersistentVolume) {
		pv.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: claim.Namespace, Name: claim.Name, UID: claim.UID}
		pv.Status.Phase = corev1.VolumeBound
	}
}

func volumeClass(class string) volumeOpt {
	return func(pv *corev1.PersistentVolume) { pv.Spec.StorageClassName = class }
}

func accessModes(modes ...corev1.PersistentVolumeAccessMode) volumeOpt {
	return func(pv *corev1.PersistentVolume) { pv.Spec.AccessModes = modes }
}

func labelled(labels map[string]string) volumeOpt {
	return func(pv *corev1.PersistentVolume) { pv.Labels = labels }
}

func TestSyncUnboundClaimBinding(t *testing.T) {
	tests := []struct {
		name       string
		claim      *corev1.PersistentVolumeClaim
		volumes    []*corev1.PersistentVolume
		wantVolume string // "" = stays unbound
		wantEvent  string
	}{
		{
			name:       "smallest fitting volume",
			claim:      newClaim("data", "2Gi"),
			volumes:    []*corev1.PersistentVolume{newVolume("big", "10Gi"), newVolume("small", "1Gi"), newVolume("fits", "3Gi")},
			wantVolume: "fits",
		},
		{
			name:       "class must match",
			claim:      newClaim("data", "1Gi", withClass("fast")),
			volumes:    []*corev1.PersistentVolume{newVolume("plain", "1Gi"), newVolume("fast", "5Gi", volumeClass("fast"))},
			wantVolume: "fast",
		},
		{
			name:       "access modes must be covered, fewest extra modes first",
			claim:      newClaim("data", "1Gi"),
			volumes:    []*corev1.PersistentVolume{newVolume("many", "1Gi", accessModes(corev1.ReadWriteOnce, corev1.ReadWriteMany)), newVolume("rox", "1Gi", accessModes(corev1.ReadOnlyMany)), newVolume("exact", "9Gi")},
			wantVolume: "exact",
		},
		{
			name: "selector",
			claim: newClaim("data", "1Gi", func(c *corev1.PersistentVolumeClaim) {
				c.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "gold"}}
			}),
			volumes:    []*corev1.PersistentVolume{newVolume("plain", "1Gi"), newVolume("gold", "2Gi", labelled(map[string]string{"tier": "gold"}))},
			wantVolume: "gold",
		},
		{
			name: "volume mode must match",
			claim: newClaim("data", "1Gi", func(c *corev1.PersistentVolumeClaim) {
				c.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeBlock)
			}),
			volumes:   []*corev1.PersistentVolume{newVolume("fs", "1Gi")},
			wantEvent: "Normal FailedBinding no persistent volumes available for this claim and no storage class is set",
		},
		{
			name:  "volume pre-bound to the claim wins",
			claim: newClaim("data", "1Gi"),
			volumes: []*corev1.PersistentVolume{newVolume("other", "1Gi"), newVolume("mine", "5Gi", func(pv *corev1.PersistentVolume) {
				pv.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "default", Name: "data"}
			})},
			wantVolume: "mine",
		},
		{
			name:  "volume bound elsewhere is skipped",
			claim: newClaim("data", "1Gi"),
			volumes: []*corev1.PersistentVolume{newVolume("taken", "1Gi", func(pv *corev1.PersistentVolume) {
				pv.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "default", Name: "someone", UID: "x"}
			})},
			wantEvent: "Normal FailedBinding",
		},
		{
			name:      "nothing fits and no class",
			claim:     newClaim("data", "100Gi"),
			volumes:   []*corev1.PersistentVolume{newVolume("small", "1Gi")},
			wantEvent: "Normal FailedBinding no persistent volumes available for this claim and no storage class is set",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs := []runtime.Object{tc.claim}
			for _, pv := range tc.volumes {
				objs = append(objs, pv)
			}
			h := newHarness(t, objs...)
			if err := h.c.syncClaim(t.Context(), "default/"+tc.claim.Name); err != nil {
				t.Fatalf("syncClaim: %v", err)
			}
			claim := h.claim(t, "default", tc.claim.Name)
			if got := claim.Spec.VolumeName; got != tc.wantVolume {
				t.Fatalf("claim volumeName = %q, want %q", got, tc.wantVolume)
			}
			if tc.wantVolume == "" {
				if claim.Status.Phase != corev1.ClaimPending {
					t.Errorf("claim phase = %s, want Pending", claim.Status.Phase)
				}
			} else {
				pv := h.volume(t, tc.wantVolume)
				if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != tc.claim.UID {
					t.Errorf("volume claimRef = %+v, want uid %s", pv.Spec.ClaimRef, tc.claim.UID)
				}
				if pv.Status.Phase != corev1.VolumeBound {
					t.Errorf("volume phase = %s, want Bound", pv.Status.Phase)
				}
				if claim.Status.Phase != corev1.ClaimBound {
					t.Errorf("claim phase = %s, want Bound", claim.Status.Phase)
				}
				if got, want := claim.Status.Capacity[corev1.ResourceStorage], pv.Spec.Capacity[corev1.ResourceStorage]; got.Cmp(want) != 0 {
					t.Errorf("claim capacity = %s, want %s", got.String(), want.String())
				}
				if claim.Annotations[annBindCompleted] != "yes" {
					t.Errorf("claim annotations = %v, want %s", claim.Annotations, annBindCompleted)
				}
			}
			if tc.wantEvent != "" {
				if events := h.events(); !hasEvent(events, tc.wantEvent) {
					t.Errorf("events = %q, want one starting %q", events, tc.wantEvent)
				}
			}
		})
	}
}

func TestSyncClaimLocalPath(t *testing.T) {
	class := LocalPathStorageClass()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: map[string]string{hostnameLabel: "host-a"}}}
	customNode := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-b",
		Annotations: map[string]string{LocalPathDirAnnotation: "/srv/navarch/storage"}}}

	t.Run("waits for first consumer", func(t *testing.T) {
		h := newHarness(t, class, newClaim("data", "1Gi", withClass(LocalPathClassName)))
		if err := h.c.syncClaim(t.Context(), "default/data"); err != nil {
			t.Fatalf("syncClaim: %v", err)
		}
		if events := h.events(); !hasEvent(events, "Normal WaitForFirstConsumer waiting for first consumer to be created before binding") {
			t.Errorf("events = %q, want WaitForFirstConsumer", events)
		}
		if _, err := h.client.CoreV1().PersistentVolumes().Get(t.Context(), "pvc-uid-data", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("volume provisioned before a node was selected (err %v)", err)
		}
	})

	tests := []struct {
		name     string
		node     *corev1.Node
		wantPath string
		wantHost string
	}{
		{name: "default storage dir", node: node, wantPath: "/data/storage/pvc-uid-data_default_data", wantHost: "host-a"},
		{name: "node advertises its dir", node: customNode, wantPath: "/srv/navarch/storage/pvc-uid-data_default_data", wantHost: "node-b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			claim := newClaim("data", "3Gi", withClass(LocalPathClassName), withSelectedNode(tc.node.Name))
			h := newHarness(t, class, tc.node, claim)
			if err := h.c.syncClaim(t.Context(), "default/data"); err != nil {
				t.Fatalf("syncClaim: %v", err)
			}
			pv := h.volume(t, "pvc-uid-data")
			if got := pv.Spec.HostPath.Path; got != tc.wantPath {
				t.Errorf("hostPath = %q, want %q", got, tc.wantPath)
			}
			wantAffinity := &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: hostnameLabel, Operator: corev1.NodeSelectorOpIn, Values: []string{tc.wantHost}}},
			}}}}
			if diff := cmp.Diff(wantAffinity, pv.Spec.NodeAffinity); diff != "" {
				t.Errorf("nodeAffinity (-want +got):\n%s", diff)
			}
			if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != claim.UID || pv.Spec.ClaimRef.Name != "data" {
				t.Errorf("claimRef = %+v, want the claim", pv.Spec.ClaimRef)
			}
			if diff := cmp.Diff([]string{LocalPathCleanupFinalizer}, pv.Finalizers); diff != "" {
				t.Errorf("finalizers (-want +got):\n%s", diff)
			}
			if got := pv.Annotations[annDynamicallyProvisioned]; got != LocalPathProvisioner {
				t.Errorf("provisioned-by = %q, want %q", got, LocalPathProvisioner)
			}
			if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || pv.Spec.StorageClassName != LocalPathClassName {
				t.Errorf("reclaim policy %s class %q, want Delete local-path", pv.Spec.PersistentVolumeReclaimPolicy, pv.Spec.StorageClassName)
			}
			if got := pv.Spec.Capacity[corev1.ResourceStorage]; got.String() != "3Gi" {
				t.Errorf("capacity = %s, want 3Gi", got.String())
			}
			if events := h.events(); !hasEvent(events, "Normal ProvisioningSucceeded Successfully provisioned volume pvc-uid-data") {
				t.Errorf("events = %q, want ProvisioningSucceeded", events)
			}

			// The next sync, with the new volume in the cache, binds.
			if err := h.volumeIndexer.Add(pv); err != nil {
				t.Fatalf("indexer add: %v", err)
			}
			if err := h.c.syncClaim(t.Context(), "default/data"); err != nil {
				t.Fatalf("second syncClaim: %v", err)
			}
			if got := h.claim(t, "default", "data"); got.Spec.VolumeName != pv.Name || got.Status.Phase != corev1.ClaimBound {
				t.Errorf("claim volumeName %q phase %s, want %s Bound", got.Spec.VolumeName, got.Status.Phase, pv.Name)
			}
			if got := h.volume(t, pv.Name).Status.Phase; got != corev1.VolumeBound {
				t.Errorf("volume phase = %s, want Bound", got)
			}
		})
	}
}

func TestSyncClaimAssignsDefaultClass(t *testing.T) {
	old := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "old", CreationTimestamp: metav1.Unix(100, 0),
		Annotations: map[string]string{annIsDefaultClass: "true"}}, Provisioner: "x.io/y"}
	newer := LocalPathStorageClass()
	newer.CreationTimestamp = metav1.Unix(200, 0)
	notDefault := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "zzz", CreationTimestamp: metav1.Unix(300, 0)}, Provisioner: "x.io/y"}
	tests := []struct {
		name      string
		classes   []runtime.Object
		wantClass *string
	}{
		{name: "newest default class", classes: []runtime.Object{old, newer, notDefault}, wantClass: ptr.To(LocalPathClassName)},
		{name: "no default class", classes: []runtime.Object{notDefault}, wantClass: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, append(tc.classes, newClaim("data", "1Gi"))...)
			if err := h.c.syncClaim(t.Context(), "default/data"); err != nil {
				t.Fatalf("syncClaim: %v", err)
			}
			if diff := cmp.Diff(tc.wantClass, h.claim(t, "default", "data").Spec.StorageClassName); diff != "" {
				t.Errorf("storageClassName (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSyncBoundClaim(t *testing.T) {
	bound := newClaim("data", "1Gi", func(c *corev1.PersistentVolumeClaim) {
		c.Spec.VolumeName = "gone"
		c.Status.Phase = corev1.ClaimBound
	})
	preBound := newClaim("data", "1Gi", func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "wanted" })
	tooSmall := newClaim("data", "10Gi", func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "wanted" })
	tests := []struct {
		name      string
		objs      []runtime.Object
		wantPhase corev1.PersistentVolumeClaimPhase
		wantEvent string
	}{
		{name: "volume deleted: Lost", objs: []runtime.Object{bound}, wantPhase: corev1.ClaimLost,
			wantEvent: "Warning ClaimLost Bound claim has lost reference to PersistentVolume. Data on the volume is lost!"},
		{name: "pre-bound claim takes its volume", objs: []runtime.Object{preBound, newVolume("wanted", "1Gi")}, wantPhase: corev1.ClaimBound},
		{name: "pre-bound claim, volume too small", objs: []runtime.Object{tooSmall, newVolume("wanted", "1Gi")}, wantPhase: corev1.ClaimPending,
			wantEvent: `Warning FailedBinding Cannot bind to requested volume "wanted": requested PV is too small`},
		{name: "pre-bound claim, volume missing", objs: []runtime.Object{preBound}, wantPhase: corev1.ClaimPending},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.objs...)
			if err := h.c.syncClaim(t.Context(), "default/data"); err != nil {
				t.Fatalf("syncClaim: %v", err)
			}
			if got := h.claim(t, "default", "data").Status.Phase; got != tc.wantPhase {
				t.Errorf("phase = %s, want %s", got, tc.wantPhase)
			}
			if tc.wantEvent != "" {
				if events := h.events(); !hasEvent(events, tc.wantEvent) {
					t.Errorf("events = %q, want %q", events, tc.wantEvent)
				}
			}
		})
	}
}

func TestSyncVolume(t *testing.T) {
	claim := newClaim("data", "1Gi", func(c *corev1.PersistentVolumeClaim) {
		c.Spec.VolumeName = "pv"
		c.Status.Phase = corev1.ClaimBound
	})
	recreated := claim.DeepCopy()
	recreated.UID = "another-uid"
	deleteLocal := func(pv *corev1.PersistentVolume) {
		pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimDelete
		pv.Annotations = map[string]string{annDynamicallyProvisioned: LocalPathProvisioner}
	}
	deleteStatic := func(pv *corev1.PersistentVolume) {
		pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimDelete
	}
	tests := []struct {
		name        string
		volume      *corev1.PersistentVolume
		objs        []runtime.Object
		wantPhase   corev1.PersistentVolumePhase
		wantDeleted bool
		wantEvent   string
	}{
		{name: "new volume turns Available", volume: newVolume("pv", "1Gi", func(pv *corev1.PersistentVolume) { pv.Status.Phase = corev1.VolumePending }),
			wantPhase: corev1.VolumeAvailable},
		{name: "bound volume stays Bound", volume: newVolume("pv", "1Gi", boundTo(claim)), objs: []runtime.Object{claim},
			wantPhase: corev1.VolumeBound},
		{name: "claim deleted, Retain: Released", volume: newVolume("pv", "1Gi", boundTo(claim)),
			wantPhase: corev1.VolumeReleased},
		{name: "claim recreated with another uid: Released", volume: newVolume("pv", "1Gi", boundTo(claim)), objs: []runtime.Object{recreated},
			wantPhase: corev1.VolumeReleased},
		{name: "claim deleted, Delete, local-path: volume deleted", volume: newVolume("pv", "1Gi", boundTo(claim), deleteLocal),
			wantDeleted: true},
		{name: "claim deleted, Delete, no deleter: Failed", volume: newVolume("pv", "1Gi", boundTo(claim), deleteStatic),
			wantPhase: corev1.VolumeFailed, wantEvent: "Warning VolumeFailedDelete"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, append(tc.objs, tc.volume)...)
			if err := h.c.syncVolume(t.Context(), "pv"); err != nil {
				t.Fatalf("syncVolume: %v", err)
			}
			pv, err := h.client.CoreV1().PersistentVolumes().Get(t.Context(), "pv", metav1.GetOptions{})
			if tc.wantDeleted {
				if !apierrors.IsNotFound(err) {
					t.Fatalf("volume still exists (err %v), want deleted", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("get volume: %v", err)
			}
			if pv.Status.Phase != tc.wantPhase {
				t.Errorf("phase = %s, want %s", pv.Status.Phase, tc.wantPhase)
			}
			if tc.wantEvent != "" {
				if events := h.events(); !hasEvent(events, tc.wantEvent) {
					t.Errorf("events = %q, want %q", events, tc.wantEvent)
				}
			}
		})
	}
}

func TestEnsureLocalPathStorageClass(t *testing.T) {
	edited := LocalPathStorageClass()
	edited.Annotations = nil
	tests := []struct {
		name            string
		existing        []runtime.Object
		wantDefaultAnno bool
	}{
		{name: "creates it", wantDefaultAnno: true},
		{name: "keeps an administrator's edit", existing: []runtime.Object{edited}, wantDefaultAnno: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(tc.existing...)
			for i := 0; i < 2; i++ {
				if err := EnsureLocalPathStorageClass(t.Context(), client); err != nil {
					t.Fatalf("EnsureLocalPathStorageClass (call %d): %v", i+1, err)
				}
			}
			class, err := client.StorageV1().StorageClasses().Get(t.Context(), LocalPathClassName, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("get class: %v", err)
			}
			if got := isDefaultClass(class); got != tc.wantDefaultAnno {
				t.Errorf("default = %v, want %v", got, tc.wantDefaultAnno)
			}
			if class.Provisioner != LocalPathProvisioner || *class.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer {
				t.Errorf("class = %s %s, want %s WaitForFirstConsumer", class.Provisioner, *class.VolumeBindingMode, LocalPathProvisioner)
			}
		})
	}
}
