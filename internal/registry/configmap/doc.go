// Package configmap is the registry entry of core/v1 ConfigMap: key and
// size validation, the immutable flag, and the kubectl get columns.
package configmap
