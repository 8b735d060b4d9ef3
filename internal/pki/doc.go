// Package pki creates and keeps the certificates and kubeconfig that
// `navarch server` needs: a cluster CA, the API server's serving
// certificate, client certificates (the admin, later node agents), the
// admin kubeconfig, the join token and the key that signs service account
// tokens.
//
// Every Ensure function is idempotent: at first start it creates what is
// missing, and on later starts it keeps what is still good byte for byte,
// so clients that already trust or hold those files keep working. A leaf
// certificate is issued again only when it no longer fits the request
// (a wanted SAN is missing, the subject changed, it was not signed by this
// CA, its key does not match) or it expires within RenewBefore. The CA is
// never replaced behind the caller's back, because every issued
// certificate and every copied kubeconfig depends on it.
//
// Keys are ECDSA P-256. Private keys and kubeconfigs are written with mode
// 0600, certificates with 0644, always through a temporary file and a
// rename, so a crash never leaves a half-written file behind.
//
// # Organization
//
//   - ca.go: CA, EnsureCA.
//   - leaf.go: EnsureServingCert, EnsureClientCert and the reuse-or-reissue
//     decision.
//   - kubeconfig.go: WriteKubeconfig.
//   - host.go: HostIPs, RandomToken.
//   - sakey.go: EnsureServiceAccountKey.
//   - files.go: PEM encoding and atomic file writes.
package pki
