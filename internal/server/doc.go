// Package server is the composition root of `navarch server`: it prepares
// the data directory (certificates, kubeconfig, join token), opens storage
// (an embedded etcd, or an external cluster), builds the API server, and
// runs every long-running part until the context ends.
//
// Components other than the API server reach it over HTTPS with their own
// client certificate, exactly as they would from another process.
package server
