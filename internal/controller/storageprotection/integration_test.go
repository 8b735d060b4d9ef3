package storageprotection

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/navarch/navarch/test/framework"
)

const waitTimeout = 30 * time.Second

func startController(t *testing.T) (context.Context, kubernetes.Interface) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts a cluster")
	}
	client := framework.StartInProcess(t, framework.Options{}).Client(t)
	ctx := t.Context()
	factory := informers.NewSharedInformerFactory(client, 0)
	core := factory.Core().V1()
	c, err := New(client, core.Pods(), core.PersistentVolumeClaims(), core.PersistentVolumes())
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	done := make(chan error, 1)
	go func() { done <- c.Start(ctx) }()
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("controller: %v", err)
		}
		factory.Shutdown()
	})
	return ctx, client
}

func waitGone(t *testing.T, what string, get func() error) {
	t.Helper()
	framework.WaitFor(t, waitTimeout, what+" gone", func() (bool, error) {
		err := get()
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

// TestClaimInUseOutlivesItsDeletion: a claim a pod uses stays Terminating
// until the pod finishes; the API server adds the finalizer on create.
func TestClaimInUseOutlivesItsDeletion(t *testing.T) {
	ctx, client := startController(t)
	claims := client.CoreV1().PersistentVolumeClaims("default")
	pvc, err := claims.Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pvc.Finalizers, PVCProtectionFinalizer) {
		t.Fatalf("new claim's finalizers %v lack %s", pvc.Finalizers, PVCProtectionFinalizer)
	}
	pods := client.CoreV1().Pods("default")
	pod, err := pods.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "user"},
		Spec: corev1.PodSpec{
			NodeName:   "node-1",
			Containers: []corev1.Container{{Name: "c", Image: "localhost/web:1"}},
			Volumes: []corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := claims.Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The claim must stay while the pod runs: give the controller time to
	// act wrongly, then check it did not.
	framework.WaitFor(t, waitTimeout, "the claim Terminating", func() (bool, error) {
		got, err := claims.Get(ctx, "data", metav1.GetOptions{})
		return err == nil && got.DeletionTimestamp != nil, err
	})
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := claims.Get(ctx, "data", metav1.GetOptions{}); err != nil {
			t.Fatalf("claim of a running pod: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The pod finishes: the claim goes.
	pod.Status.Phase = corev1.PodSucceeded
	if _, err := pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, "the claim", func() error { _, err := claims.Get(ctx, "data", metav1.GetOptions{}); return err })
}

// TestBoundVolumeOutlivesItsDeletion: a Bound volume stays Terminating
// until it is released.
func TestBoundVolumeOutlivesItsDeletion(t *testing.T) {
	ctx, client := startController(t)
	volumes := client.CoreV1().PersistentVolumes()
	pv, err := volumes.Create(ctx, &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "vol"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv/vol"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pv.Finalizers, PVProtectionFinalizer) {
		t.Fatalf("new volume's finalizers %v lack %s", pv.Finalizers, PVProtectionFinalizer)
	}
	pv.Status.Phase = corev1.VolumeBound
	if pv, err = volumes.UpdateStatus(ctx, pv, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := volumes.Delete(ctx, "vol", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := volumes.Get(ctx, "vol", metav1.GetOptions{}); err != nil {
			t.Fatalf("bound volume: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	got, err := volumes.Get(ctx, "vol", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got.Status.Phase = corev1.VolumeReleased
	if _, err := volumes.UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, "the volume", func() error { _, err := volumes.Get(ctx, "vol", metav1.GetOptions{}); return err })
}
