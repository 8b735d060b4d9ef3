package integration

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/test/framework"
)

// TestDefaultStorageClassAtCreate: a claim that names no class gets the
// default StorageClass in the create's answer (the newest of several
// defaults), as upstream's DefaultStorageClass admission gives it; a claim
// asking for no class ("") or naming one keeps what it asked for.
func TestDefaultStorageClassAtCreate(t *testing.T) {
	c := framework.StartInProcess(t, framework.Options{})
	client := c.Client(t)
	ctx := context.Background()

	if got := createClaim(ctx, t, client, "before-any-default", nil); got.Spec.StorageClassName != nil {
		t.Errorf("without a default class: storageClassName = %q, want unset", *got.Spec.StorageClassName)
	}
	createClass(ctx, t, client, "plain", false)
	older := createClass(ctx, t, client, "a-older-default", true)
	// Creation timestamps count whole seconds: the newer default is
	// created in a later second than the older one, which also comes
	// first by name (the tie-break of equal timestamps).
	time.Sleep(time.Until(older.CreationTimestamp.Add(time.Second)))
	createClass(ctx, t, client, "b-newer-default", true)

	for _, tc := range []struct {
		name      string
		requested *string
		want      string
	}{
		{"no-class", nil, "b-newer-default"},
		{"explicitly-none", ptr.To(""), ""},
		{"named", ptr.To("plain"), "plain"},
	} {
		got := createClaim(ctx, t, client, tc.name, tc.requested)
		if got.Spec.StorageClassName == nil || *got.Spec.StorageClassName != tc.want {
			t.Errorf("claim %s: storageClassName = %v, want %q", tc.name, ptr.Deref(got.Spec.StorageClassName, "<unset>"), tc.want)
		}
	}
}

func createClass(ctx context.Context, t *testing.T, client kubernetes.Interface, name string, isDefault bool) *storagev1.StorageClass {
	t.Helper()
	class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: "example.com/none"}
	if isDefault {
		class.Annotations = map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}
	}
	created, err := client.StorageV1().StorageClasses().Create(ctx, class, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating storage class %s: %v", name, err)
	}
	return created
}

func createClaim(ctx context.Context, t *testing.T, client kubernetes.Interface, name string, class *string) *corev1.PersistentVolumeClaim {
	t.Helper()
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: class,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	got, err := client.CoreV1().PersistentVolumeClaims("default").Create(ctx, claim, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating claim %s: %v", name, err)
	}
	return got
}
