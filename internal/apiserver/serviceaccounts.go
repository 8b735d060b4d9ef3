package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"

	"github.com/navarch/navarch/internal/satoken"
)

// TokenRequest limits and defaults, as upstream's.
const (
	defaultTokenExpirationSeconds = 3600
	minTokenExpirationSeconds     = 600
	maxTokenExpirationSeconds     = 1 << 32
)

var (
	serviceAccountsGR  = schema.GroupResource{Resource: "serviceaccounts"}
	serviceAccountsGVR = corev1.SchemeGroupVersion.WithResource("serviceaccounts")
	podsGVR            = corev1.SchemeGroupVersion.WithResource("pods")
	secretsGVR         = corev1.SchemeGroupVersion.WithResource("secrets")
	nodesGVR           = corev1.SchemeGroupVersion.WithResource("nodes")
	tokenRequestGVK    = authenticationv1.SchemeGroupVersion.WithKind("TokenRequest")
)

// objectGetter reads stored objects for the service account token code
// (satoken.Getter); a kind that is not served is NotFound.
type objectGetter struct{ s *Server }

func (g objectGetter) get(ctx context.Context, gvr schema.GroupVersionResource, namespace, name string) (any, error) {
	res := g.s.resources[gvr]
	if res == nil {
		return nil, apierrors.NewNotFound(gvr.GroupResource(), name)
	}
	return g.s.getServed(ctx, res, namespace, name, "")
}

func getAs[T any](g objectGetter, ctx context.Context, gvr schema.GroupVersionResource, namespace, name string) (*T, error) {
	obj, err := g.get(ctx, gvr, namespace, name)
	if err != nil {
		return nil, err
	}
	out, ok := obj.(*T)
	if !ok {
		return nil, fmt.Errorf("apiserver: %s %s/%s is %T", gvr.Resource, namespace, name, obj)
	}
	return out, nil
}

func (g objectGetter) GetServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	return getAs[corev1.ServiceAccount](g, ctx, serviceAccountsGVR, namespace, name)
}

func (g objectGetter) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	return getAs[corev1.Pod](g, ctx, podsGVR, namespace, name)
}

func (g objectGetter) GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return getAs[corev1.Secret](g, ctx, secretsGVR, namespace, name)
}

// serviceAccountAuthenticator accepts the service account tokens the
// server issued (satoken.Validator); a token it rejects is not
// recognized, so the request gets 401.
type serviceAccountAuthenticator struct {
	validator *satoken.Validator
}

// Authenticate implements Authenticator.
func (a serviceAccountAuthenticator) Authenticate(r *http.Request) (*User, bool) {
	token, ok := bearerToken(r)
	if !ok || !satoken.LooksLikeJWT(token) {
		return nil, false
	}
	c, err := a.validator.Validate(r.Context(), token)
	if err != nil {
		klog.FromContext(r.Context()).V(4).Info("Rejected service account token", "err", err)
		return nil, false
	}
	k := c.Kubernetes
	return &User{
		Name:   satoken.UserName(k.Namespace, k.ServiceAccount.Name),
		UID:    k.ServiceAccount.UID,
		Groups: satoken.Groups(k.Namespace),
	}, true
}

// apiAudiences are the audiences the API server accepts, upstream's
// --api-audiences default: the issuer.
func (s *Server) apiAudiences() []string {
	return []string{s.cfg.ServiceAccountSigner.Issuer()}
}

// requestToken answers serviceaccounts/NAME/token (TokenRequest): it signs
// a token for the account, bound to a pod or secret when asked.
func (s *Server) requestToken(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	if s.cfg.ServiceAccountSigner == nil {
		writeError(w, r, notFoundPath())
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	obj, err := decodeBody(w, r, res, body, tokenRequestGVK, &authenticationv1.TokenRequest{})
	if err != nil {
		writeError(w, r, err)
		return
	}
	out, err := s.issueToken(r.Context(), info.Namespace, info.Name, obj.(*authenticationv1.TokenRequest))
	if err != nil {
		writeError(w, r, err)
		return
	}
	n, ok := negotiate(r, nil)
	if !ok {
		writeError(w, r, notAcceptable(r))
		return
	}
	writeTyped(w, n.info, http.StatusCreated, authenticationv1.SchemeGroupVersion, out)
}

// issueToken runs upstream's TokenRequest rules for account ns/name.
func (s *Server) issueToken(ctx context.Context, namespace, name string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	if req.Name != "" && req.Name != name {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", req.Name, name))
	}
	if req.Namespace != "" && req.Namespace != namespace {
		return nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	if req.Spec.ExpirationSeconds == nil {
		req.Spec.ExpirationSeconds = new(int64)
		*req.Spec.ExpirationSeconds = defaultTokenExpirationSeconds
	}
	var errs field.ErrorList
	exp := field.NewPath("spec", "expirationSeconds")
	switch secs := *req.Spec.ExpirationSeconds; {
	case secs < minTokenExpirationSeconds:
		errs = append(errs, field.Invalid(exp, secs, "may not specify a duration less than 10 minutes"))
	case secs > maxTokenExpirationSeconds:
		errs = append(errs, field.Invalid(exp, secs, "may not specify a duration larger than 2^32 seconds"))
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(tokenRequestGVK.GroupKind(), name, errs)
	}
	g := objectGetter{s}
	sa, err := g.GetServiceAccount(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	if len(req.Spec.Audiences) == 0 {
		req.Spec.Audiences = s.apiAudiences()
	}
	issue := satoken.Request{ServiceAccount: sa, Audiences: req.Spec.Audiences,
		Lifetime: time.Duration(*req.Spec.ExpirationSeconds) * time.Second}
	if ref := req.Spec.BoundObjectRef; ref != nil {
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		var uid string
		switch {
		case gv.Group == "" && ref.Kind == "Pod":
			pod, err := g.GetPod(ctx, namespace, ref.Name)
			if err != nil {
				return nil, err
			}
			if pod.Spec.ServiceAccountName != name {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to pod running with different serviceaccount name.", name))
			}
			issue.Pod, uid = pod, string(pod.UID)
			if pod.Spec.NodeName != "" {
				node, err := getAs[corev1.Node](g, ctx, nodesGVR, "", pod.Spec.NodeName)
				switch {
				case apierrors.IsNotFound(err):
					node = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: pod.Spec.NodeName}}
				case err != nil:
					return nil, err
				}
				issue.Node = node
			}
		case gv.Group == "" && ref.Kind == "Secret":
			secret, err := g.GetSecret(ctx, namespace, ref.Name)
			if err != nil {
				return nil, err
			}
			issue.Secret, uid = secret, string(secret.UID)
		default:
			return nil, apierrors.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to object of kind %q", name, ref.Kind))
		}
		if ref.UID != "" && string(ref.UID) != uid {
			return nil, apierrors.NewConflict(schema.GroupResource{Group: gv.Group, Resource: ref.Kind}, ref.Name,
				fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
		}
	}
	token, expiry, err := s.cfg.ServiceAccountSigner.Issue(issue, time.Now())
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	out := req.DeepCopy()
	out.TypeMeta = metav1.TypeMeta{APIVersion: authenticationv1.SchemeGroupVersion.String(), Kind: "TokenRequest"}
	out.Name, out.Namespace = name, namespace
	out.Status = authenticationv1.TokenRequestStatus{Token: token, ExpirationTimestamp: metav1.NewTime(expiry)}
	return out, nil
}

// Names of upstream's ServiceAccount admission.
const (
	defaultServiceAccountName = "default"
	// serviceAccountVolumePrefix starts the name of the projected volume
	// the admission adds (kube-api-access-xxxxx).
	serviceAccountVolumePrefix = "kube-api-access-"
	// serviceAccountMountPath is where containers find token, ca.crt
	// and namespace.
	serviceAccountMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
	// projectedTokenExpirationSeconds is the lifetime the admission asks
	// for, upstream's 3607 (an hour and a marker the kubelet's tokens are
	// recognized by).
	projectedTokenExpirationSeconds = 3607
	rootCAConfigMapName             = "kube-root-ca.crt"
	mirrorPodAnnotation             = "kubernetes.io/config.mirror"
)

// defaultServiceAccountAttempts and defaultServiceAccountRetry bound how
// long admission waits for the "default" account of a new namespace,
// which a controller creates shortly after the namespace (upstream tries
// ten times, 100-200ms apart).
const (
	defaultServiceAccountAttempts = 10
	defaultServiceAccountRetry    = 150 * time.Millisecond
)

// admitServiceAccount is upstream's ServiceAccount admission on a new pod:
// the pod runs as "default" unless it names an account, the account must
// exist (403 otherwise), the account's image pull secrets apply when the
// pod has none, and unless the pod or its account opts out of automount,
// every container and init container mounts the projected
// kube-api-access volume (token, ca.crt, namespace) read-only at
// /var/run/secrets/kubernetes.io/serviceaccount, unless it mounts
// something there already. Mirror pods are left alone.
func (s *Server) admitServiceAccount(ctx context.Context, pod *corev1.Pod) error {
	if _, mirror := pod.Annotations[mirrorPodAnnotation]; mirror {
		return nil
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = defaultServiceAccountName
	}
	sa, err := s.lookUpServiceAccount(ctx, pod.Namespace, pod.Spec.ServiceAccountName)
	if err != nil {
		return apierrors.NewForbidden(podsGVR.GroupResource(), pod.Name,
			fmt.Errorf("error looking up service account %s/%s: %w", pod.Namespace, pod.Spec.ServiceAccountName, err))
	}
	if shouldAutomount(sa, pod) {
		mountServiceAccountToken(pod)
	}
	if len(pod.Spec.ImagePullSecrets) == 0 && len(sa.ImagePullSecrets) > 0 {
		pod.Spec.ImagePullSecrets = append([]corev1.LocalObjectReference(nil), sa.ImagePullSecrets...)
	}
	return nil
}

// lookUpServiceAccount reads an account, waiting a little for a missing
// "default" one.
func (s *Server) lookUpServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	// As upstream's admission (which reads an informer's cache first):
	// the watch cache, then the store for an account it does not know.
	if sa := s.cachedServiceAccount(namespace, name); sa != nil {
		return sa, nil
	}
	attempts := 1
	if name == defaultServiceAccountName {
		attempts = defaultServiceAccountAttempts
	}
	g := objectGetter{s}
	for i := 0; ; i++ {
		sa, err := g.GetServiceAccount(ctx, namespace, name)
		if err == nil {
			return sa, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, err
		}
		if i+1 >= attempts {
			return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "serviceaccount"}, name)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(defaultServiceAccountRetry):
		}
	}
}

// cachedServiceAccount returns the account as the serviceaccounts watch
// cache holds it, nil when there is no cache or it does not know the
// account. The object is the cache's: read it, never modify it.
func (s *Server) cachedServiceAccount(namespace, name string) *corev1.ServiceAccount {
	res := s.resources[serviceAccountsGVR]
	if res == nil {
		return nil
	}
	c := s.cachers[res.prefix]
	if c == nil {
		return nil
	}
	obj, ok := c.Cached(res.key(namespace, name))
	if !ok {
		return nil
	}
	sa, _ := obj.(*corev1.ServiceAccount)
	return sa
}

// shouldAutomount: the pod's automountServiceAccountToken wins, then the
// account's; both unset mount.
func shouldAutomount(sa *corev1.ServiceAccount, pod *corev1.Pod) bool {
	if pod.Spec.AutomountServiceAccountToken != nil {
		return *pod.Spec.AutomountServiceAccountToken
	}
	if sa.AutomountServiceAccountToken != nil {
		return *sa.AutomountServiceAccountToken
	}
	return true
}

// mountServiceAccountToken adds the kube-api-access volume (reusing one the
// pod has) and its mount to the containers that lack a mount at the path.
func mountServiceAccountToken(pod *corev1.Pod) {
	volumeName := ""
	for _, v := range pod.Spec.Volumes {
		if len(v.Name) > len(serviceAccountVolumePrefix) && v.Name[:len(serviceAccountVolumePrefix)] == serviceAccountVolumePrefix {
			volumeName = v.Name
			break
		}
	}
	hasVolume := volumeName != ""
	if !hasVolume {
		volumeName = generateName(serviceAccountVolumePrefix)
	}
	mount := corev1.VolumeMount{Name: volumeName, ReadOnly: true, MountPath: serviceAccountMountPath}
	needed := false
	add := func(containers []corev1.Container) {
		for i := range containers {
			mounted := false
			for _, m := range containers[i].VolumeMounts {
				if m.MountPath == serviceAccountMountPath {
					mounted = true
					break
				}
			}
			if !mounted {
				containers[i].VolumeMounts = append(containers[i].VolumeMounts, mount)
				needed = true
			}
		}
	}
	add(pod.Spec.InitContainers)
	add(pod.Spec.Containers)
	if needed && !hasVolume {
		pod.Spec.Volumes = append(pod.Spec.Volumes, serviceAccountVolume(volumeName))
	}
}

// serviceAccountVolume is upstream's projected kube-api-access volume.
func serviceAccountVolume(name string) corev1.Volume {
	expiration := int64(projectedTokenExpirationSeconds)
	mode := int32(0o644)
	return corev1.Volume{
		Name: name,
		VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: &expiration, Path: "token"}},
				{ConfigMap: &corev1.ConfigMapProjection{
					LocalObjectReference: corev1.LocalObjectReference{Name: rootCAConfigMapName},
					Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
				}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{
					Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"},
				}}}},
			},
			DefaultMode: &mode,
		}},
	}
}
