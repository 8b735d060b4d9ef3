// Package persistentvolume is the registry entry of core/v1
// PersistentVolume: defaults (reclaim policy Retain, volume mode
// Filesystem, phase Pending), validation of capacity, access modes and the
// one volume source, the rule that a volume's source never changes, the
// status subresource, and the kubectl get columns.
package persistentvolume
