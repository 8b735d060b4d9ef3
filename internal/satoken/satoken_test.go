package satoken

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

func newSigner(t *testing.T) *Signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(key, "")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// objects is a Getter over maps keyed "namespace/name".
type objects struct {
	accounts map[string]*corev1.ServiceAccount
	pods     map[string]*corev1.Pod
	secrets  map[string]*corev1.Secret
}

func notFound(resource, name string) error {
	return apierrors.NewNotFound(schema.GroupResource{Resource: resource}, name)
}

func (o *objects) GetServiceAccount(_ context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	if sa, ok := o.accounts[ns+"/"+name]; ok {
		return sa, nil
	}
	return nil, notFound("serviceaccounts", name)
}

func (o *objects) GetPod(_ context.Context, ns, name string) (*corev1.Pod, error) {
	if p, ok := o.pods[ns+"/"+name]; ok {
		return p, nil
	}
	return nil, notFound("pods", name)
}

func (o *objects) GetSecret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	if s, ok := o.secrets[ns+"/"+name]; ok {
		return s, nil
	}
	return nil, notFound("secrets", name)
}

func meta(ns, name, uid string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid)}
}

func TestIssueAndValidate(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	signer := newSigner(t)
	sa := &corev1.ServiceAccount{ObjectMeta: meta("ns", "robot", "sa-1")}
	pod := &corev1.Pod{ObjectMeta: meta("ns", "web", "pod-1")}
	secret := &corev1.Secret{ObjectMeta: meta("ns", "tok", "sec-1")}
	node := &corev1.Node{ObjectMeta: meta("", "n1", "node-1")}
	store := func() *objects {
		return &objects{
			accounts: map[string]*corev1.ServiceAccount{"ns/robot": sa},
			pods:     map[string]*corev1.Pod{"ns/web": pod},
			secrets:  map[string]*corev1.Secret{"ns/tok": secret},
		}
	}
	aud := []string{DefaultIssuer}
	issue := func(s *Signer, req Request) string {
		t.Helper()
		tok, exp, err := s.Issue(req, now)
		if err != nil {
			t.Fatal(err)
		}
		if !exp.Equal(now.Add(req.Lifetime)) {
			t.Fatalf("expiry %v, want %v", exp, now.Add(req.Lifetime))
		}
		return tok
	}
	podToken := issue(signer, Request{ServiceAccount: sa, Audiences: aud, Lifetime: time.Hour, Pod: pod, Node: node})
	secretToken := issue(signer, Request{ServiceAccount: sa, Audiences: aud, Lifetime: time.Hour, Secret: secret})
	plainToken := issue(signer, Request{ServiceAccount: sa, Audiences: aud, Lifetime: time.Hour})
	otherAudToken := issue(signer, Request{ServiceAccount: sa, Audiences: []string{"vault"}, Lifetime: time.Hour})
	otherKeyToken := issue(newSigner(t), Request{ServiceAccount: sa, Audiences: aud, Lifetime: time.Hour})

	// The claims have upstream's shape.
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(podToken, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(payload, &raw); err != nil {
		t.Fatal(err)
	}
	k8s, _ := json.Marshal(raw["kubernetes.io"])
	if want := `{"namespace":"ns","node":{"name":"n1","uid":"node-1"},"pod":{"name":"web","uid":"pod-1"},"serviceaccount":{"name":"robot","uid":"sa-1"}}`; string(k8s) != want {
		t.Errorf("kubernetes.io claim = %s, want %s", k8s, want)
	}
	if raw["sub"] != "system:serviceaccount:ns:robot" || raw["iss"] != DefaultIssuer {
		t.Errorf("sub/iss = %v/%v", raw["sub"], raw["iss"])
	}

	tests := []struct {
		name    string
		token   string
		at      time.Time
		mutate  func(*objects)
		wantErr error
	}{
		{name: "pod-bound", token: podToken, at: now},
		{name: "secret-bound", token: secretToken, at: now},
		{name: "unbound", token: plainToken, at: now},
		{name: "within leeway after expiry", token: plainToken, at: now.Add(time.Hour + 30*time.Second)},
		{name: "expired", token: plainToken, at: now.Add(time.Hour + 2*time.Minute), wantErr: ErrExpired},
		{name: "wrong audience", token: otherAudToken, at: now, wantErr: ErrAudience},
		{name: "wrong key", token: otherKeyToken, at: now, wantErr: ErrSignature},
		{name: "tampered", token: podToken[:len(podToken)-4] + "AAAA", at: now, wantErr: ErrSignature},
		{name: "garbage", token: "a.b.c", at: now, wantErr: ErrMalformed},
		{name: "deleted service account", token: plainToken, at: now,
			mutate: func(o *objects) { delete(o.accounts, "ns/robot") }, wantErr: ErrInvalidated},
		{name: "recreated service account", token: plainToken, at: now,
			mutate: func(o *objects) {
				o.accounts["ns/robot"] = &corev1.ServiceAccount{ObjectMeta: meta("ns", "robot", "sa-2")}
			}, wantErr: ErrInvalidated},
		{name: "deleted pod", token: podToken, at: now,
			mutate: func(o *objects) { delete(o.pods, "ns/web") }, wantErr: ErrInvalidated},
		{name: "recreated pod", token: podToken, at: now,
			mutate: func(o *objects) { o.pods["ns/web"] = &corev1.Pod{ObjectMeta: meta("ns", "web", "pod-2")} }, wantErr: ErrInvalidated},
		{name: "pod past its deletion time", token: podToken, at: now,
			mutate: func(o *objects) {
				p := pod.DeepCopy()
				p.DeletionTimestamp = &metav1.Time{Time: now.Add(-time.Second)}
				o.pods["ns/web"] = p
			}, wantErr: ErrInvalidated},
		{name: "pod terminating gracefully", token: podToken, at: now,
			mutate: func(o *objects) {
				p := pod.DeepCopy()
				p.DeletionTimestamp = &metav1.Time{Time: now.Add(30 * time.Second)}
				o.pods["ns/web"] = p
			}},
		{name: "deleted secret", token: secretToken, at: now,
			mutate: func(o *objects) { delete(o.secrets, "ns/tok") }, wantErr: ErrInvalidated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := store()
			if tt.mutate != nil {
				tt.mutate(o)
			}
			v := &Validator{Signer: signer, Audiences: aud, Getter: o, Now: func() time.Time { return tt.at }}
			c, err := v.Validate(ctx, tt.token)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Validate() error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Validate() error = %v", err)
			}
			if c.Subject != "system:serviceaccount:ns:robot" || c.Kubernetes.ServiceAccount.UID != "sa-1" {
				t.Errorf("claims = %+v", c)
			}
		})
	}
}

func TestAudienceAcceptsString(t *testing.T) {
	var c Claims
	if err := json.Unmarshal([]byte(`{"aud":"x"}`), &c); err != nil || len(c.Audience) != 1 || c.Audience[0] != "x" {
		t.Fatalf("aud = %v, err %v", c.Audience, err)
	}
}
