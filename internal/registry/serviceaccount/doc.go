// Package serviceaccount is the registry entry of core/v1 ServiceAccount:
// name validation and the kubectl get columns.
package serviceaccount
