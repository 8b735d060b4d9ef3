package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/internal/controllermanager/builtin"
	"github.com/navarch/navarch/test/framework"
)

// tokenClient is a client that authenticates with a bearer token only.
func tokenClient(t *testing.T, c *framework.Cluster, token string) kubernetes.Interface {
	t.Helper()
	cfg := rest.AnonymousClientConfig(c.RESTConfig(t))
	cfg.BearerToken = token
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

func TestServiceAccountTokens(t *testing.T) {
	c := framework.StartInProcess(t, framework.Options{Controllers: builtin.Controllers(builtin.Config{StorageDir: t.TempDir()})})
	client := c.Client(t)
	ctx := context.Background()

	// A pod created right after its namespace waits for the default
	// account the controller creates.
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "sa"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox"}},
			Containers: []corev1.Container{
				{Name: "app", Image: "busybox"},
				{Name: "own", Image: "busybox", VolumeMounts: []corev1.VolumeMount{{Name: "mine", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}}},
			},
			Volumes: []corev1.Volume{{Name: "mine", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
	pod, err := client.CoreV1().Pods("sa").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating a pod in a new namespace: %v", err)
	}
	if pod.Spec.ServiceAccountName != "default" {
		t.Errorf("serviceAccountName = %q, want default", pod.Spec.ServiceAccountName)
	}
	if len(pod.Spec.Volumes) != 2 || !strings.HasPrefix(pod.Spec.Volumes[1].Name, "kube-api-access-") || len(pod.Spec.Volumes[1].Name) != len("kube-api-access-")+5 {
		t.Fatalf("volumes = %+v, want mine and kube-api-access-xxxxx", pod.Spec.Volumes)
	}
	vol := pod.Spec.Volumes[1]
	p := vol.Projected
	if p == nil || len(p.Sources) != 3 || p.DefaultMode == nil || *p.DefaultMode != 0o644 {
		t.Fatalf("volume %s = %+v, want a projected volume of three sources, mode 0644", vol.Name, vol.VolumeSource)
	}
	if s := p.Sources[0].ServiceAccountToken; s == nil || s.Path != "token" || s.ExpirationSeconds == nil || *s.ExpirationSeconds != 3607 || s.Audience != "" {
		t.Errorf("source 0 = %+v, want serviceAccountToken token 3607s", p.Sources[0])
	}
	if s := p.Sources[1].ConfigMap; s == nil || s.Name != "kube-root-ca.crt" || len(s.Items) != 1 || s.Items[0] != (corev1.KeyToPath{Key: "ca.crt", Path: "ca.crt"}) {
		t.Errorf("source 1 = %+v, want configMap kube-root-ca.crt ca.crt", p.Sources[1])
	}
	if s := p.Sources[2].DownwardAPI; s == nil || len(s.Items) != 1 || s.Items[0].Path != "namespace" || s.Items[0].FieldRef == nil || s.Items[0].FieldRef.FieldPath != "metadata.namespace" {
		t.Errorf("source 2 = %+v, want downwardAPI namespace", p.Sources[2])
	}
	want := corev1.VolumeMount{Name: vol.Name, ReadOnly: true, MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}
	for _, ctr := range []corev1.Container{pod.Spec.InitContainers[0], pod.Spec.Containers[0]} {
		if len(ctr.VolumeMounts) != 1 || !equality.Semantic.DeepEqual(ctr.VolumeMounts[0], want) {
			t.Errorf("container %s mounts %+v, want %+v", ctr.Name, ctr.VolumeMounts, want)
		}
	}
	if m := pod.Spec.Containers[1].VolumeMounts; len(m) != 1 || m[0].Name != "mine" {
		t.Errorf("container own mounts %+v, want only its own mount", m)
	}

	// Every namespace gets the cluster CA the volume projects.
	system, err := client.CoreV1().ConfigMaps("kube-system").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
	if err != nil || system.Data["ca.crt"] == "" {
		t.Fatalf("kube-system/kube-root-ca.crt: %v", err)
	}
	framework.WaitFor(t, 10*time.Second, "kube-root-ca.crt in namespace sa", func() (bool, error) {
		cm, err := client.CoreV1().ConfigMaps("sa").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil && cm.Data["ca.crt"] == system.Data["ca.crt"], err
	})
	if err := client.CoreV1().ConfigMaps("sa").Delete(ctx, "kube-root-ca.crt", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.WaitFor(t, 10*time.Second, "kube-root-ca.crt back in namespace sa", func() (bool, error) {
		cm, err := client.CoreV1().ConfigMaps("sa").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil && cm.Data["ca.crt"] == system.Data["ca.crt"], err
	})

	// Opting out mounts nothing; a missing account is refused.
	optOut := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "optout"}, Spec: corev1.PodSpec{
		AutomountServiceAccountToken: ptr.To(false), Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}
	if got, err := client.CoreV1().Pods("sa").Create(ctx, optOut, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	} else if len(got.Spec.Volumes) != 0 || len(got.Spec.Containers[0].VolumeMounts) != 0 {
		t.Errorf("opted-out pod got volumes %+v", got.Spec.Volumes)
	}
	ghost := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "ghost"}, Spec: corev1.PodSpec{
		ServiceAccountName: "nobody", Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}
	_, err = client.CoreV1().Pods("sa").Create(ctx, ghost, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `error looking up service account sa/nobody: serviceaccount "nobody" not found`) {
		t.Errorf("pod of a missing account: %v, want 403 error looking up service account", err)
	}

	// TokenRequest.
	sas := client.CoreV1().ServiceAccounts("sa")
	if _, err := sas.CreateToken(ctx, "nobody", &authenticationv1.TokenRequest{}, metav1.CreateOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("token of a missing account: %v, want 404", err)
	}
	if _, err := sas.CreateToken(ctx, "default", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(60))}}, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("a 60s token: %v, want 422", err)
	}
	if _, err := sas.CreateToken(ctx, "default", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		BoundObjectRef: &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: "web", UID: "not-the-uid"}}}, metav1.CreateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("a token bound to a wrong pod uid: %v, want 409", err)
	}
	before := time.Now()
	unbound, err := sas.CreateToken(ctx, "default", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := unbound.Spec.Audiences; len(got) != 1 || got[0] != "https://kubernetes.default.svc.cluster.local" {
		t.Errorf("audiences = %v, want the issuer", got)
	}
	if exp := unbound.Status.ExpirationTimestamp.Sub(before); exp < 59*time.Minute || exp > 61*time.Minute {
		t.Errorf("token expires in %v, want an hour", exp)
	}
	bound, err := sas.CreateToken(ctx, "default", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To(int64(3607)),
		BoundObjectRef:    &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: "web", UID: pod.UID}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	otherAudience, err := sas.CreateToken(ctx, "default", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	canList := func(token string) error {
		_, err := tokenClient(t, c, token).CoreV1().Pods("sa").List(ctx, metav1.ListOptions{})
		return err
	}
	for name, tok := range map[string]string{"unbound": unbound.Status.Token, "bound": bound.Status.Token} {
		if err := canList(tok); err != nil {
			t.Errorf("listing pods with the %s token: %v", name, err)
		}
	}
	for name, tok := range map[string]string{"other-audience": otherAudience.Status.Token, "garbage": "a.b.c", "tampered": unbound.Status.Token + "x"} {
		if err := canList(tok); !apierrors.IsUnauthorized(err) {
			t.Errorf("listing pods with the %s token: %v, want 401", name, err)
		}
	}

	// Deleting the pod invalidates the token bound to it; deleting the
	// account (the controller recreates "default" with a new uid)
	// invalidates the others.
	if err := client.CoreV1().Pods("sa").Delete(ctx, "web", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}); err != nil {
		t.Fatal(err)
	}
	framework.WaitFor(t, 10*time.Second, "the pod to be gone", func() (bool, error) {
		_, err := client.CoreV1().Pods("sa").Get(ctx, "web", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err := canList(bound.Status.Token); !apierrors.IsUnauthorized(err) {
		t.Errorf("the token bound to a deleted pod: %v, want 401", err)
	}
	if err := canList(unbound.Status.Token); err != nil {
		t.Errorf("the unbound token after the pod's deletion: %v", err)
	}
	if err := sas.Delete(ctx, "default", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := canList(unbound.Status.Token); !apierrors.IsUnauthorized(err) {
		t.Errorf("the token of a deleted account: %v, want 401", err)
	}
}
