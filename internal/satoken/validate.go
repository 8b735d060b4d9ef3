package satoken

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/uuid"
)

// UserName is the user a token of service account ns/name authenticates
// as: "system:serviceaccount:NS:NAME".
func UserName(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// Groups are the groups of a service account of namespace.
func Groups(namespace string) []string {
	return []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"}
}

// Request is what a token is issued for. ServiceAccount is required; at
// most one of Pod and Secret binds the token; Node is the bound pod's node
// when it has one.
type Request struct {
	ServiceAccount *corev1.ServiceAccount
	Audiences      []string
	Lifetime       time.Duration
	Pod            *corev1.Pod
	Secret         *corev1.Secret
	Node           *corev1.Node
}

// Issue signs a token for req valid from now for req.Lifetime and
// returns it with its expiry.
func (s *Signer) Issue(req Request, now time.Time) (string, time.Time, error) {
	sa := req.ServiceAccount
	if sa == nil {
		return "", time.Time{}, errors.New("satoken: no service account to issue a token for")
	}
	exp := now.Add(req.Lifetime)
	c := Claims{
		Subject:   UserName(sa.Namespace, sa.Name),
		Audience:  Audience(req.Audiences),
		Expiry:    exp.Unix(),
		IssuedAt:  now.Unix(),
		NotBefore: now.Unix(),
		ID:        string(uuid.NewUUID()),
		Kubernetes: Kubernetes{
			Namespace:      sa.Namespace,
			ServiceAccount: Ref{Name: sa.Name, UID: string(sa.UID)},
		},
	}
	if req.Pod != nil {
		c.Kubernetes.Pod = &Ref{Name: req.Pod.Name, UID: string(req.Pod.UID)}
		if req.Node != nil {
			c.Kubernetes.Node = &Ref{Name: req.Node.Name, UID: string(req.Node.UID)}
		}
	}
	if req.Secret != nil {
		c.Kubernetes.Secret = &Ref{Name: req.Secret.Name, UID: string(req.Secret.UID)}
	}
	token, err := s.Sign(c)
	if err != nil {
		return "", time.Time{}, err
	}
	return token, time.Unix(c.Expiry, 0), nil
}

// Getter reads the objects a token names. It returns an error satisfying
// apierrors.IsNotFound for an object that does not exist.
type Getter interface {
	GetServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error)
	GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
}

// ErrInvalidated is returned for a token whose service account or bound
// object is gone, was replaced (another uid) or is deleted.
var ErrInvalidated = errors.New("satoken: token has been invalidated")

// Validator checks tokens as the API server's authenticator: Verify, then
// upstream's bound-token checks through Getter.
type Validator struct {
	Signer *Signer
	// Audiences are the API server's audiences; a token must carry one.
	Audiences []string
	Getter    Getter
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Validate returns the claims of a token that is valid now.
func (v *Validator) Validate(ctx context.Context, token string) (*Claims, error) {
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	c, err := v.Signer.Verify(token, now, v.Audiences)
	if err != nil {
		return nil, err
	}
	k := c.Kubernetes
	if k.Namespace == "" || k.ServiceAccount.Name == "" || c.Subject != UserName(k.Namespace, k.ServiceAccount.Name) {
		return nil, ErrMalformed
	}
	sa, err := v.Getter.GetServiceAccount(ctx, k.Namespace, k.ServiceAccount.Name)
	if err := gone(err, "service account", k.Namespace, k.ServiceAccount.Name); err != nil {
		return nil, err
	}
	if string(sa.UID) != k.ServiceAccount.UID {
		return nil, fmt.Errorf("%w: service account uid (%s) does not match claim (%s)", ErrInvalidated, sa.UID, k.ServiceAccount.UID)
	}
	if sa.DeletionTimestamp != nil && sa.DeletionTimestamp.Time.Before(now) {
		return nil, fmt.Errorf("%w: service account %s/%s is deleted", ErrInvalidated, k.Namespace, sa.Name)
	}
	if k.Pod != nil {
		pod, err := v.Getter.GetPod(ctx, k.Namespace, k.Pod.Name)
		if err := gone(err, "pod", k.Namespace, k.Pod.Name); err != nil {
			return nil, err
		}
		if string(pod.UID) != k.Pod.UID {
			return nil, fmt.Errorf("%w: pod uid (%s) does not match claim (%s)", ErrInvalidated, pod.UID, k.Pod.UID)
		}
		if pod.DeletionTimestamp != nil && pod.DeletionTimestamp.Time.Before(now) {
			return nil, fmt.Errorf("%w: pod %s/%s is deleted", ErrInvalidated, k.Namespace, pod.Name)
		}
	}
	if k.Secret != nil {
		secret, err := v.Getter.GetSecret(ctx, k.Namespace, k.Secret.Name)
		if err := gone(err, "secret", k.Namespace, k.Secret.Name); err != nil {
			return nil, err
		}
		if string(secret.UID) != k.Secret.UID {
			return nil, fmt.Errorf("%w: secret uid (%s) does not match claim (%s)", ErrInvalidated, secret.UID, k.Secret.UID)
		}
		if secret.DeletionTimestamp != nil && secret.DeletionTimestamp.Time.Before(now) {
			return nil, fmt.Errorf("%w: secret %s/%s is deleted", ErrInvalidated, k.Namespace, secret.Name)
		}
	}
	return c, nil
}

// gone turns a lookup error into the validation error.
func gone(err error, what, namespace, name string) error {
	switch {
	case err == nil:
		return nil
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%w: %s %s/%s not found", ErrInvalidated, what, namespace, name)
	default:
		return fmt.Errorf("satoken: looking up %s %s/%s: %w", what, namespace, name, err)
	}
}
