// Package controllerrevision is the registry entry of apps/v1
// ControllerRevision, the immutable snapshots StatefulSet and DaemonSet
// controllers keep of their templates: validation (data required and
// immutable, revision not negative) and the kubectl get columns.
package controllerrevision
