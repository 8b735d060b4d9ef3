package garbagecollector

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/test/framework"
)

// gcCluster is an in-process server with a garbage collector running.
type gcCluster struct {
	client  kubernetes.Interface
	cluster *framework.Cluster
}

func startCollector(t *testing.T) *gcCluster {
	t.Helper()
	g := startServer(t)
	g.startCollector(t)
	return g
}

// startServer starts a server without a collector.
func startServer(t *testing.T) *gcCluster {
	t.Helper()
	cluster := framework.StartInProcess(t, framework.Options{})
	return &gcCluster{client: cluster.Client(t), cluster: cluster}
}

// startCollector runs a collector against the server until the test
// ends.
func (g *gcCluster) startCollector(t *testing.T) {
	t.Helper()
	cfg := g.cluster.RESTConfig(t)
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := New(g.client, meta, Config{DiscoveryPeriod: 5 * time.Second})
	done := make(chan error, 1)
	go func() { done <- c.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Start returned %v", err)
		}
	})
}

// configMap creates a ConfigMap owned by owners (each blocking its
// deletion), with extra finalizers.
func (g *gcCluster) configMap(t *testing.T, name string, finalizers []string, owners ...*corev1.ConfigMap) *corev1.ConfigMap {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Finalizers: finalizers}}
	for _, o := range owners {
		cm.OwnerReferences = append(cm.OwnerReferences, metav1.OwnerReference{
			APIVersion: "v1", Kind: "ConfigMap", Name: o.Name, UID: o.UID, BlockOwnerDeletion: ptr.To(true),
		})
	}
	created, err := g.client.CoreV1().ConfigMaps("default").Create(context.Background(), cm, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating %s: %v", name, err)
	}
	return created
}

// chain creates grandparent <- parent <- child, the shape of a
// Deployment, its ReplicaSet and a pod.
func (g *gcCluster) chain(t *testing.T, prefix string, childFinalizers ...string) (grandparent, parent, child *corev1.ConfigMap) {
	t.Helper()
	grandparent = g.configMap(t, prefix+"-grandparent", nil)
	parent = g.configMap(t, prefix+"-parent", nil, grandparent)
	child = g.configMap(t, prefix+"-child", childFinalizers, parent)
	return grandparent, parent, child
}

func (g *gcCluster) get(t *testing.T, name string) (*corev1.ConfigMap, bool) {
	t.Helper()
	cm, err := g.client.CoreV1().ConfigMaps("default").Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		t.Fatalf("reading %s: %v", name, err)
	}
	return cm, true
}

func (g *gcCluster) waitGone(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		framework.WaitFor(t, 20*time.Second, name+" deleted", func() (bool, error) {
			_, exists := g.get(t, name)
			return !exists, nil
		})
	}
}

func (g *gcCluster) delete(t *testing.T, name string, policy metav1.DeletionPropagation) {
	t.Helper()
	err := g.client.CoreV1().ConfigMaps("default").Delete(context.Background(), name, metav1.DeleteOptions{PropagationPolicy: &policy})
	if err != nil {
		t.Fatalf("deleting %s: %v", name, err)
	}
}

func TestGarbageCollectionThroughTheAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	g := startCollector(t)

	t.Run("background deletes the dependents of a deleted owner", func(t *testing.T) {
		grandparent, parent, child := g.chain(t, "bg")
		g.delete(t, grandparent.Name, metav1.DeletePropagationBackground)
		g.waitGone(t, grandparent.Name, parent.Name, child.Name)
	})

	t.Run("foreground waits for blocking dependents", func(t *testing.T) {
		const hold = "example.com/hold"
		grandparent, parent, child := g.chain(t, "fg", hold)
		g.delete(t, grandparent.Name, metav1.DeletePropagationForeground)
		framework.WaitFor(t, 20*time.Second, "the child marked deleted", func() (bool, error) {
			cm, exists := g.get(t, child.Name)
			return exists && cm.DeletionTimestamp != nil, nil
		})
		// The child is held by its finalizer: its owners, which it blocks,
		// must still be there, waiting with the foregroundDeletion finalizer.
		for _, name := range []string{grandparent.Name, parent.Name} {
			cm, exists := g.get(t, name)
			if !exists {
				t.Fatalf("%s was deleted while its blocking dependent %s exists", name, child.Name)
			}
			if cm.DeletionTimestamp == nil || !slices.Contains(cm.Finalizers, metav1.FinalizerDeleteDependents) {
				t.Errorf("%s: deletionTimestamp %v, finalizers %v; want marked deleted with %s", name, cm.DeletionTimestamp, cm.Finalizers, metav1.FinalizerDeleteDependents)
			}
		}
		// Release the child: everything goes, bottom up.
		cm, _ := g.get(t, child.Name)
		cm.Finalizers = nil
		if _, err := g.client.CoreV1().ConfigMaps("default").Update(context.Background(), cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		g.waitGone(t, child.Name, parent.Name, grandparent.Name)
	})

	t.Run("foreground does not wait for non-blocking dependents", func(t *testing.T) {
		owner := g.configMap(t, "fg2-owner", nil)
		dep := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "fg2-dependent", Namespace: "default",
			Finalizers:      []string{"example.com/hold"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID}}}}
		if _, err := g.client.CoreV1().ConfigMaps("default").Create(context.Background(), dep, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		g.delete(t, owner.Name, metav1.DeletePropagationForeground)
		g.waitGone(t, owner.Name)
		cm, exists := g.get(t, dep.Name)
		if !exists || cm.DeletionTimestamp == nil {
			t.Fatalf("dependent exists=%v, want it marked deleted", exists)
		}
		cm.Finalizers = nil
		if _, err := g.client.CoreV1().ConfigMaps("default").Update(context.Background(), cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		g.waitGone(t, dep.Name)
	})

	t.Run("orphan keeps the dependents without the owner reference", func(t *testing.T) {
		grandparent, parent, child := g.chain(t, "orphan")
		g.delete(t, grandparent.Name, metav1.DeletePropagationOrphan)
		g.waitGone(t, grandparent.Name)
		cm, exists := g.get(t, parent.Name)
		if !exists {
			t.Fatal("the orphaned parent was deleted")
		}
		if len(cm.OwnerReferences) != 0 {
			t.Errorf("parent owner references = %+v, want none", cm.OwnerReferences)
		}
		cm, exists = g.get(t, child.Name)
		if !exists || len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].UID != parent.UID {
			t.Errorf("child exists=%v, owners %+v; want it still owned by the parent", exists, cm)
		}
	})

	t.Run("an object whose owner never existed is deleted", func(t *testing.T) {
		ghost := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ghost", UID: types.UID("no-such-uid")}}
		g.configMap(t, "haunted", nil, ghost)
		g.waitGone(t, "haunted")
	})

	t.Run("a remaining owner keeps the dependent; the reference to the deleted one goes", func(t *testing.T) {
		first := g.configMap(t, "two-owners-a", nil)
		second := g.configMap(t, "two-owners-b", nil)
		dep := g.configMap(t, "two-owners-dep", nil, first, second)
		g.delete(t, first.Name, metav1.DeletePropagationBackground)
		framework.WaitFor(t, 20*time.Second, "the reference to the deleted owner removed", func() (bool, error) {
			cm, exists := g.get(t, dep.Name)
			if !exists {
				return false, fmt.Errorf("the dependent was deleted though %s still owns it", second.Name)
			}
			return len(cm.OwnerReferences) == 1 && cm.OwnerReferences[0].UID == second.UID, nil
		})
	})

	t.Run("pods of a deleted ReplicaSet-like owner go too", func(t *testing.T) {
		owner := g.configMap(t, "pods-owner", nil)
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "owned-pod", Namespace: "default",
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID, Controller: ptr.To(true)}}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "app:1"}}},
		}
		if _, err := g.client.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		g.delete(t, owner.Name, metav1.DeletePropagationBackground)
		framework.WaitFor(t, 20*time.Second, "the owned pod deleted", func() (bool, error) {
			_, err := g.client.CoreV1().Pods("default").Get(context.Background(), pod.Name, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
	})
}

// TestCollectorCatchesUpThroughTheAPI deletes owners while no collector
// runs: a collector started later finds the garbage and the pending
// orphan and foreground deletions.
func TestCollectorCatchesUpThroughTheAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	g := startServer(t)
	grandparent, parent, child := g.chain(t, "late-bg")
	g.delete(t, grandparent.Name, metav1.DeletePropagationBackground)
	fgOwner, fgParent, fgChild := g.chain(t, "late-fg")
	g.delete(t, fgOwner.Name, metav1.DeletePropagationForeground)
	orphanOwner, orphanParent, _ := g.chain(t, "late-orphan")
	g.delete(t, orphanOwner.Name, metav1.DeletePropagationOrphan)

	g.startCollector(t)
	g.waitGone(t, parent.Name, child.Name, fgChild.Name, fgParent.Name, fgOwner.Name, orphanOwner.Name)
	if cm, exists := g.get(t, orphanParent.Name); !exists || len(cm.OwnerReferences) != 0 {
		t.Errorf("orphaned parent exists=%v; want it kept without owner references", exists)
	}
}
