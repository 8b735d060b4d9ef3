package satoken

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
)

// DefaultIssuer is the issuer (and the API server's audience) of the
// tokens, upstream's in-cluster API address as a conventional
// --service-account-issuer.
const DefaultIssuer = "https://kubernetes.default.svc.cluster.local"

// Claims are the claims of a service account token.
type Claims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  Audience `json:"aud"`
	Expiry    int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	ID        string   `json:"jti,omitempty"`
	// Kubernetes is the private "kubernetes.io" claim.
	Kubernetes Kubernetes `json:"kubernetes.io"`
}

// Kubernetes is what a token says about the cluster objects it stands for.
type Kubernetes struct {
	Namespace      string `json:"namespace"`
	ServiceAccount Ref    `json:"serviceaccount"`
	// Pod or Secret is the object a bound token is bound to; Node is the
	// node of a bound pod.
	Pod    *Ref `json:"pod,omitempty"`
	Secret *Ref `json:"secret,omitempty"`
	Node   *Ref `json:"node,omitempty"`
}

// Ref names one object.
type Ref struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// Audience is the aud claim: a JSON array, or a single string on input.
type Audience []string

// UnmarshalJSON accepts a string or an array of strings.
func (a *Audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = Audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

// Errors of Verify.
var (
	ErrMalformed = errors.New("satoken: malformed token")
	ErrSignature = errors.New("satoken: invalid signature")
	ErrIssuer    = errors.New("satoken: token issued by another issuer")
	ErrAudience  = errors.New("satoken: token audiences are not accepted")
	ErrExpired   = errors.New("satoken: token has expired")
	ErrNotYet    = errors.New("satoken: token is not valid yet")
)

// leeway is the clock skew Verify tolerates on exp and nbf, as upstream's
// one minute.
const leeway = time.Minute

// Signer signs tokens with one ECDSA P-256 key and verifies them.
type Signer struct {
	key    *ecdsa.PrivateKey
	keyID  string
	issuer string
}

// NewSigner returns a signer for issuer ("" for DefaultIssuer) with key.
// The key id in the tokens' header is upstream's: the unpadded base64url
// SHA-256 of the public key's DER.
func NewSigner(key *ecdsa.PrivateKey, issuer string) (*Signer, error) {
	if key == nil || key.Curve.Params().BitSize != 256 {
		return nil, errors.New("satoken: the key must be ECDSA P-256")
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("satoken: %w", err)
	}
	sum := sha256.Sum256(der)
	if issuer == "" {
		issuer = DefaultIssuer
	}
	return &Signer{key: key, keyID: base64.RawURLEncoding.EncodeToString(sum[:]), issuer: issuer}, nil
}

// Issuer is the iss of the tokens this signer makes.
func (s *Signer) Issuer() string { return s.issuer }

type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid,omitempty"`
	Typ string `json:"typ,omitempty"`
}

// Sign returns the compact JWS of c; it sets c's issuer.
func (s *Signer) Sign(c Claims) (string, error) {
	c.Issuer = s.issuer
	h, err := json.Marshal(header{Alg: "ES256", Kid: s.keyID})
	if err != nil {
		return "", fmt.Errorf("satoken: %w", err)
	}
	p, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("satoken: %w", err)
	}
	signingInput := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	digest := sha256.Sum256([]byte(signingInput))
	r, sig, err := ecdsa.Sign(rand.Reader, s.key, digest[:])
	if err != nil {
		return "", fmt.Errorf("satoken: signing: %w", err)
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	sig.FillBytes(out[32:])
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(out), nil
}

// LooksLikeJWT reports whether token has the three-part compact form, so
// that other bearer tokens need not be parsed.
func LooksLikeJWT(token string) bool { return strings.Count(token, ".") == 2 }

// Verify checks token's signature, issuer, lifetime at now (with a minute
// of leeway) and that one of its audiences is in audiences, and returns
// its claims.
func (s *Signer) Verify(token string, now time.Time, audiences []string) (*Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, ErrMalformed
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, ErrMalformed
	}
	var h header
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, ErrMalformed
	}
	if h.Alg != "ES256" {
		return nil, ErrSignature
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return nil, ErrSignature
	}
	digest := crypto.SHA256.New()
	digest.Write([]byte(parts[0] + "." + parts[1]))
	r, sv := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(&s.key.PublicKey, digest.Sum(nil), r, sv) {
		return nil, ErrSignature
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, ErrMalformed
	}
	var c Claims
	if err := json.Unmarshal(pb, &c); err != nil {
		return nil, ErrMalformed
	}
	if c.Issuer != s.issuer {
		return nil, ErrIssuer
	}
	if !slices.ContainsFunc(c.Audience, func(a string) bool { return slices.Contains(audiences, a) }) {
		return nil, ErrAudience
	}
	if c.Expiry == 0 || now.Add(-leeway).After(time.Unix(c.Expiry, 0)) {
		return nil, ErrExpired
	}
	if c.NotBefore != 0 && now.Add(leeway).Before(time.Unix(c.NotBefore, 0)) {
		return nil, ErrNotYet
	}
	return &c, nil
}
