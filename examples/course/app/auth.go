package app

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"
)

// Issuer is the iss claim of every token.
const Issuer = "auth.service"

// TokenLifetime is how long an issued token is valid.
const TokenLifetime = 72 * time.Hour

// User is an account that may log in.
type User struct {
	Name         string
	Email        string
	PasswordHash []byte // bcrypt
}

// DefaultUser is the course's one account: user / password.
func DefaultUser() User {
	// Hashing at start costs a few ms and keeps the password out of the
	// source as a hash we would have to regenerate by hand.
	hash, err := bcrypt.GenerateFromPassword([]byte("password"), bcrypt.DefaultCost)
	if err != nil {
		panic(err) // only fails for passwords over 72 bytes
	}
	return User{Name: "user", Email: "user@example.com", PasswordHash: hash}
}

// Claims are the claims of a token.
type Claims struct {
	Email string `json:"email"`
	jwt.RegisteredClaims
}

// Auth issues and checks tokens.
type Auth struct {
	Secret []byte
	Users  []User
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (a *Auth) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// errUnauthorized is every authentication failure: the client learns
// nothing more specific.
var errUnauthorized = errors.New("authorization failed")

// Login checks a name and password and returns a signed token.
func (a *Auth) Login(name, password string) (string, error) {
	for _, u := range a.Users {
		if subtle.ConstantTimeCompare([]byte(u.Name), []byte(name)) != 1 {
			continue
		}
		if bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(password)) != nil {
			return "", errUnauthorized
		}
		now := a.now()
		claims := Claims{
			Email: u.Email,
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer:    Issuer,
				Subject:   u.Name,
				IssuedAt:  jwt.NewNumericDate(now),
				ExpiresAt: jwt.NewNumericDate(now.Add(TokenLifetime)),
			},
		}
		return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(a.Secret)
	}
	// Spend the time a hash comparison takes, so timing does not tell
	// which names exist.
	_ = bcrypt.CompareHashAndPassword(a.Users[0].PasswordHash, []byte(password))
	return "", errUnauthorized
}

// Verify checks a token's signature (HS256 only), expiry and issuer.
func (a *Auth) Verify(token string) (*Claims, error) {
	claims := &Claims{}
	_, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (interface{}, error) { return a.Secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(a.now))
	if err != nil {
		return nil, errUnauthorized
	}
	return claims, nil
}

// bearer returns the token of an "Authorization: Bearer T" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	t := strings.TrimSpace(h[7:])
	return t, t != ""
}
