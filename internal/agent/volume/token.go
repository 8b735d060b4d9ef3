package volume

import (
	"context"
	"fmt"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// defaultTokenExpirationSeconds is the lifetime of a projected token that
// names none (the API's default).
const defaultTokenExpirationSeconds = 3600

// tokenRefreshFraction is how much of its lifetime a token may use before
// it is requested again, the kubelet's 80%.
const tokenRefreshFraction = 0.8

// tokenKey names one projected token of a pod.
type tokenKey struct {
	pod            types.UID
	serviceAccount string
	audience       string
	expiration     int64
}

// cachedToken is a token and when it is due for a refresh.
type cachedToken struct {
	token     string
	refreshAt time.Time
}

// tokenCache keeps the pods' projected tokens between resyncs.
type tokenCache struct {
	mu     sync.Mutex
	tokens map[tokenKey]cachedToken
}

// forget drops the tokens of a pod.
func (c *tokenCache) forget(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.tokens {
		if k.pod == uid {
			delete(c.tokens, k)
		}
	}
}

// serviceAccountToken returns the token a serviceAccountToken projection
// of pod holds: the cached one while it is younger than 80% of its
// lifetime, else a new one from the TokenRequest API, bound to the pod.
func (m *Manager) serviceAccountToken(ctx context.Context, pod *corev1.Pod, src *corev1.ServiceAccountTokenProjection) ([]byte, error) {
	if pod.Spec.ServiceAccountName == "" {
		return nil, fmt.Errorf("pod has no service account for token projection %q", src.Path)
	}
	expiration := int64(defaultTokenExpirationSeconds)
	if src.ExpirationSeconds != nil {
		expiration = *src.ExpirationSeconds
	}
	key := tokenKey{pod: pod.UID, serviceAccount: pod.Spec.ServiceAccountName, audience: src.Audience, expiration: expiration}
	now := time.Now()
	m.tokens.mu.Lock()
	cached, ok := m.tokens.tokens[key]
	m.tokens.mu.Unlock()
	if ok && now.Before(cached.refreshAt) {
		return []byte(cached.token), nil
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &expiration,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID},
	}}
	if src.Audience != "" {
		req.Spec.Audiences = []string{src.Audience}
	}
	out, err := m.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, pod.Spec.ServiceAccountName, req, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("failed to fetch token: %w", err)
	}
	lifetime := out.Status.ExpirationTimestamp.Sub(now)
	m.tokens.mu.Lock()
	if m.tokens.tokens == nil {
		m.tokens.tokens = map[tokenKey]cachedToken{}
	}
	m.tokens.tokens[key] = cachedToken{token: out.Status.Token, refreshAt: now.Add(time.Duration(float64(lifetime) * tokenRefreshFraction))}
	m.tokens.mu.Unlock()
	return []byte(out.Status.Token), nil
}
