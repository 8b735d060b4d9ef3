// Package event is the registry entry of core/v1 Event: the checks
// upstream applies to events written through core/v1 (namespace matching
// the involved object, and for new-style events with eventTime the
// reporting fields), the kubectl get columns and the field selectors
// kubectl describe and kubectl events use.
//
// events.k8s.io/v1 Event is a view of the same stored objects and has its
// own registry entry.
package event
