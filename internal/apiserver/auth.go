package apiserver

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// User is who a request comes from.
type User struct {
	Name   string
	UID    string
	Groups []string
}

// Authenticator decides who sent a request. It returns ok=false when the
// request carries no credentials it recognizes.
type Authenticator interface {
	Authenticate(r *http.Request) (user *User, ok bool)
}

// CertAuthenticator authenticates requests by their verified TLS client
// certificate: the user is the certificate's common name, the groups its
// organizations. The TLS listener must verify client certificates against
// the cluster CA (tls.VerifyClientCertIfGiven).
type CertAuthenticator struct{}

// Authenticate implements Authenticator.
func (CertAuthenticator) Authenticate(r *http.Request) (*User, bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil, false
	}
	cert := r.TLS.VerifiedChains[0][0]
	if cert.Subject.CommonName == "" {
		return nil, false
	}
	return &User{Name: cert.Subject.CommonName, Groups: append([]string(nil), cert.Subject.Organization...)}, true
}

// TokenAuthenticator authenticates "Authorization: Bearer TOKEN" requests
// against a fixed set of tokens.
type TokenAuthenticator struct {
	// Tokens maps a token to its user.
	Tokens map[string]*User
}

// Authenticate implements Authenticator.
func (a TokenAuthenticator) Authenticate(r *http.Request) (*User, bool) {
	token, ok := bearerToken(r)
	if !ok {
		return nil, false
	}
	for t, u := range a.Tokens {
		if subtle.ConstantTimeCompare([]byte(t), []byte(token)) == 1 {
			return u, true
		}
	}
	return nil, false
}

func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	token := strings.TrimSpace(h[len(prefix):])
	return token, token != ""
}

// UnionAuthenticator tries each authenticator in turn.
type UnionAuthenticator []Authenticator

// Authenticate implements Authenticator.
func (u UnionAuthenticator) Authenticate(r *http.Request) (*User, bool) {
	for _, a := range u {
		if user, ok := a.Authenticate(r); ok {
			return user, true
		}
	}
	return nil, false
}
