// Package serviceaccount is the service account controller: it keeps a
// ServiceAccount named "default" in every active namespace, creating it
// when a namespace appears and again whenever it is deleted, as upstream's
// serviceaccounts-controller does. Pods name that account when they name
// none, so a namespace without it cannot run them.
//
// It reads namespaces and service accounts from shared informers and
// writes through the API only. Terminating namespaces are left alone: the
// API server refuses creates in them, and the namespace controller is
// emptying them.
package serviceaccount
