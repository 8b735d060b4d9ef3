package volume

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/navarch/navarch/internal/controller/storageprotection"
	"github.com/navarch/navarch/test/framework"
)

const waitTimeout = 30 * time.Second

// startVolumeController runs a cluster and this controller against it.
func startVolumeController(t *testing.T) (context.Context, kubernetes.Interface) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts a cluster")
	}
	cluster := framework.StartInProcess(t, framework.Options{})
	client := cluster.Client(t)
	ctx := t.Context()
	if err := EnsureLocalPathStorageClass(ctx, client); err != nil {
		t.Fatalf("EnsureLocalPathStorageClass: %v", err)
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory.Core().V1().PersistentVolumes(), factory.Core().V1().PersistentVolumeClaims(),
		factory.Storage().V1().StorageClasses(), factory.Core().V1().Nodes(), Config{StorageDir: "/srv/storage"})
	// Claims and volumes carry the protection finalizers from their
	// creation; the controller that lifts them runs beside.
	protection, err := storageprotection.New(client, factory.Core().V1().Pods(), factory.Core().V1().PersistentVolumeClaims(), factory.Core().V1().PersistentVolumes())
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	done := make(chan error, 2)
	go func() { done <- c.Start(ctx) }()
	go func() { done <- protection.Start(ctx) }()
	t.Cleanup(func() {
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("controller: %v", err)
			}
		}
		factory.Shutdown()
	})
	return ctx, client
}

func claim(name, class string, size string) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
	}
	if class != "" {
		c.Spec.StorageClassName = &class
	}
	return c
}

func TestIntegrationLocalPath(t *testing.T) {
	ctx, client := startVolumeController(t)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Labels: map[string]string{corev1.LabelHostname: "node-1"}}}
	if _, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create node: %v", err)
	}
	claims := client.CoreV1().PersistentVolumeClaims("default")
	created, err := claims.Create(ctx, claim("data", "", "1Gi"), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create claim: %v", err)
	}

	framework.WaitFor(t, waitTimeout, "the default class on the claim", func() (bool, error) {
		got, err := claims.Get(ctx, "data", metav1.GetOptions{})
		return err == nil && got.Spec.StorageClassName != nil && *got.Spec.StorageClassName == LocalPathClassName, err
	})
	framework.WaitFor(t, waitTimeout, "a WaitForFirstConsumer event", func() (bool, error) {
		events, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=data"})
		if err != nil {
			return false, err
		}
		for _, e := range events.Items {
			if e.Reason == reasonWaitForFirstConsumer {
				return true, nil
			}
		}
		return false, nil
	})
	if got, _ := claims.Get(ctx, "data", metav1.GetOptions{}); got.Status.Phase != corev1.ClaimPending || got.Spec.VolumeName != "" {
		t.Fatalf("claim %s bound to %q before a node was selected", got.Status.Phase, got.Spec.VolumeName)
	}

	// The scheduler picks a node.
	patch := []byte(`{"metadata":{"annotations":{"` + annSelectedNode + `":"node-1"}}}`)
	if _, err := claims.Patch(ctx, "data", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("annotate claim: %v", err)
	}
	pvName := "pvc-" + string(created.UID)
	framework.WaitFor(t, waitTimeout, "claim Bound", func() (bool, error) {
		got, err := claims.Get(ctx, "data", metav1.GetOptions{})
		return err == nil && got.Status.Phase == corev1.ClaimBound && got.Spec.VolumeName == pvName, err
	})
	pv, err := client.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get volume: %v", err)
	}
	if want := "/srv/storage/pvc-" + string(created.UID) + "_default_data"; pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != want {
		t.Errorf("hostPath = %+v, want %s", pv.Spec.HostPath, want)
	}
	framework.WaitFor(t, waitTimeout, "volume Bound", func() (bool, error) {
		got, err := client.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
		return err == nil && got.Status.Phase == corev1.VolumeBound, err
	})

	// Deleting the claim deletes the volume (reclaim policy Delete); the
	// node agent's finalizer holds it until the directory is gone.
	if err := claims.Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete claim: %v", err)
	}
	framework.WaitFor(t, waitTimeout, "volume deletion", func() (bool, error) {
		got, err := client.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
		return err == nil && got.DeletionTimestamp != nil, err
	})
	// Play the node agent: directory removed, finalizer off.
	if _, err := client.CoreV1().PersistentVolumes().Patch(ctx, pvName, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatalf("remove finalizer: %v", err)
	}
	framework.WaitFor(t, waitTimeout, "volume gone", func() (bool, error) {
		_, err := client.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

func TestIntegrationStaticRetain(t *testing.T) {
	ctx, client := startVolumeController(t)
	for _, pv := range []*corev1.PersistentVolume{newVolume("small", "1Gi", volumeClass("manual")), newVolume("fits", "5Gi", volumeClass("manual")), newVolume("big", "50Gi", volumeClass("manual"))} {
		pv.UID, pv.ResourceVersion, pv.Status = "", "", corev1.PersistentVolumeStatus{}
		if _, err := client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create volume: %v", err)
		}
	}
	framework.WaitFor(t, waitTimeout, "volumes Available", func() (bool, error) {
		list, err := client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, pv := range list.Items {
			if pv.Status.Phase != corev1.VolumeAvailable {
				return false, nil
			}
		}
		return len(list.Items) == 3, nil
	})
	claims := client.CoreV1().PersistentVolumeClaims("default")
	if _, err := claims.Create(ctx, claim("db", "manual", "2Gi"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create claim: %v", err)
	}
	framework.WaitFor(t, waitTimeout, "claim bound to the smallest fitting volume", func() (bool, error) {
		got, err := claims.Get(ctx, "db", metav1.GetOptions{})
		if err != nil || got.Status.Phase != corev1.ClaimBound {
			return false, err
		}
		if got.Spec.VolumeName != "fits" {
			t.Fatalf("bound to %s, want fits", got.Spec.VolumeName)
		}
		size := got.Status.Capacity[corev1.ResourceStorage]
		return size.String() == "5Gi", nil
	})
	if err := claims.Delete(ctx, "db", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete claim: %v", err)
	}
	framework.WaitFor(t, waitTimeout, "volume Released", func() (bool, error) {
		got, err := client.CoreV1().PersistentVolumes().Get(ctx, "fits", metav1.GetOptions{})
		return err == nil && got.Status.Phase == corev1.VolumeReleased, err
	})
	// An administrator frees it: Available again.
	if _, err := client.CoreV1().PersistentVolumes().Patch(ctx, "fits", types.MergePatchType, []byte(`{"spec":{"claimRef":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatalf("clear claimRef: %v", err)
	}
	framework.WaitFor(t, waitTimeout, "volume Available", func() (bool, error) {
		got, err := client.CoreV1().PersistentVolumes().Get(ctx, "fits", metav1.GetOptions{})
		return err == nil && got.Status.Phase == corev1.VolumeAvailable, err
	})
}
