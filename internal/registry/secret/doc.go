// Package secret is the registry entry of core/v1 Secret: the Opaque
// default type, stringData folded into data, key and size validation,
// the keys each well-known type requires, the immutable type and flag,
// the kubectl get columns and the type field selector.
package secret
