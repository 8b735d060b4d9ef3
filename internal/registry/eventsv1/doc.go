// Package eventsv1 is the registry entry of events.k8s.io/v1 Event, which
// upstream serves as a second view of core/v1 Events: both versions read
// and write the same stored objects. The package owns the conversions
// between the two (ToStored, FromStored), the stricter validation
// upstream applies to events written through events.k8s.io, the fields a
// field selector may name (regarding.*, reason, reportingController,
// type) and the kubectl get columns, which are those of core Events.
package eventsv1
