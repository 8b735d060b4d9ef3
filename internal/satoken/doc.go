// Package satoken issues and checks service account tokens: the JSON Web
// Tokens the TokenRequest API (serviceaccounts/NAME/token) hands out and
// the API server accepts as bearer tokens, in the shape upstream
// Kubernetes gives them.
//
// A token is an ES256 JWT signed with the server's service account key
// (pki.EnsureServiceAccountKey). Its claims are upstream's: iss, sub
// ("system:serviceaccount:NS:NAME"), aud, exp, iat, nbf, jti and the
// private "kubernetes.io" claim naming the namespace, the service account
// and, for a bound token, the pod or secret it is bound to (and the pod's
// node).
//
// Signer signs and verifies the token itself (signature, issuer, audience,
// lifetime). Validator adds upstream's bound-token checks against the
// stored objects through a small Getter: the service account still exists
// with the same uid, and so does the bound object; a bound object being
// deleted invalidates the token once its deletion time has passed.
//
// JWS encoding is done here by hand (compact serialization, ES256 with
// r||s signatures, RFC 7515/7518): it is a few dozen lines and spares a
// module.
//
// # Organization
//
//   - jwt.go: Claims, Signer (Sign, Verify).
//   - validate.go: Getter, Validator, the user a token stands for.
package satoken
