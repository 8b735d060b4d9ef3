package serviceaccount

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"

	"github.com/navarch/navarch/test/framework"
)

// TestDefaultServiceAccountThroughTheAPI runs the controller against an
// in-process server: existing and new namespaces get "default", and a
// deleted "default" comes back with a new UID.
func TestDefaultServiceAccountThroughTheAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	cluster := framework.StartInProcess(t, framework.Options{})
	client := cluster.Client(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory.Core().V1().Namespaces(), factory.Core().V1().ServiceAccounts())
	factory.Start(ctx.Done())
	done := make(chan error, 1)
	go func() { done <- c.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Start returned %v", err)
		}
		factory.Shutdown()
	}()

	accountUID := func(namespace string) func() (bool, error) {
		return func() (bool, error) {
			_, err := client.CoreV1().ServiceAccounts(namespace).Get(ctx, DefaultServiceAccountName, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return false, nil
			}
			return err == nil, err
		}
	}
	framework.WaitFor(t, 10*time.Second, "default/default service account", accountUID(metav1.NamespaceDefault))
	framework.WaitFor(t, 10*time.Second, "kube-system/default service account", accountUID(metav1.NamespaceSystem))

	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.WaitFor(t, 10*time.Second, "team/default service account", accountUID("team"))

	first, err := client.CoreV1().ServiceAccounts("team").Get(ctx, DefaultServiceAccountName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.CoreV1().ServiceAccounts("team").Delete(ctx, DefaultServiceAccountName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.WaitFor(t, 10*time.Second, "team/default recreated", func() (bool, error) {
		sa, err := client.CoreV1().ServiceAccounts("team").Get(ctx, DefaultServiceAccountName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil && sa.UID != first.UID, err
	})
}
